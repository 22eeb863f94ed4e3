// Uploaded envelopes on disk: chunked uploads (browsers cannot stream a request body over HTTP/1.1), listing
// with each envelope's header in words, and ranged reads for downloads and the edge worker.

import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { appendFile, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { bodyLayout, type EnvelopeHeader, tryParseHeader } from "@sealkit/core";

/** What the page shows of a stored envelope: read from its header, without decrypting. */
export interface StoredFile {
  readonly id: string;
  readonly name: string;
  readonly contentType: string;
  readonly owner: string;
  readonly tenant: string;
  readonly uploadedAt: string;
  readonly envelopeBytes: number;
  readonly header: {
    readonly suite: string;
    readonly frameSize: number;
    readonly frames: number;
    readonly plaintextBytes: number;
    readonly context: Record<string, string>;
    readonly encryptedDataKeys: { providerId: string; keyId: string }[];
  };
}

interface Upload {
  readonly name: string;
  readonly contentType: string;
  readonly owner: string;
  readonly tenant: string;
  size: number;
  /** A chunk is being appended. */
  writing?: boolean;
}

const ID = /^[0-9a-f-]{36}$/;
/** Largest chunk of one upload request. */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;
/** Uploads one user may have open; starting another drops the oldest idle one (a page closed mid-upload). */
export const MAX_OPEN_UPLOADS = 8;

export class StoreError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 413,
    message: string,
  ) {
    super(message);
  }
}

export class FileStore {
  readonly #dir: string;
  readonly #uploads = new Map<string, Upload>();

  private constructor(dir: string) {
    this.#dir = dir;
  }

  static async open(dir: string): Promise<FileStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new FileStore(dir);
  }

  #path(id: string, ext: string): string {
    if (!ID.test(id)) throw new StoreError(404, "no such file");
    return join(this.#dir, `${id}.${ext}`);
  }

  /** Starts an upload; the envelope arrives in chunks at increasing offsets. */
  async begin(meta: Omit<Upload, "size">): Promise<string> {
    // Bounded per user: every start used to add a .part file and an entry for good.
    const open = [...this.#uploads].filter(([, u]) => u.owner === meta.owner && !u.writing);
    for (const [oldId] of open.slice(0, Math.max(0, open.length - MAX_OPEN_UPLOADS + 1))) {
      this.#uploads.delete(oldId);
      await rm(this.#path(oldId, "part"), { force: true });
    }
    const id = randomUUID();
    await writeFile(this.#path(id, "part"), new Uint8Array(0), { mode: 0o600 });
    this.#uploads.set(id, { ...meta, size: 0 });
    return id;
  }

  /**
   * Checks that a chunk for `offset` could be appended now (the upload exists, is the caller's, expects this offset
   * and is not receiving another chunk), so that a request doomed to fail is refused before its body is read.
   * @throws {StoreError} 404 for an unknown upload, 409 for a wrong offset or a chunk already being written
   */
  checkAppend(id: string, owner: string, offset: number): Upload {
    const upload = this.#uploads.get(id);
    if (!upload || upload.owner !== owner) throw new StoreError(404, "no such upload");
    if (upload.writing) throw new StoreError(409, "another chunk of this upload is being written");
    if (offset !== upload.size) throw new StoreError(409, `expected offset ${upload.size}, got ${offset}`);
    return upload;
  }

  /**
   * Appends a chunk; `offset` must be where the previous chunk ended (a retry of an old chunk is refused), and one
   * chunk is written at a time: two requests for the same offset both passed the check before either had
   * appended, and both were appended.
   * @throws {StoreError} as checkAppend, and 413 for a chunk over MAX_CHUNK_BYTES
   */
  async append(id: string, owner: string, offset: number, chunk: Uint8Array): Promise<number> {
    const upload = this.checkAppend(id, owner, offset);
    if (chunk.length > MAX_CHUNK_BYTES) throw new StoreError(413, "chunk too large");
    upload.writing = true;
    try {
      await appendFile(this.#path(id, "part"), chunk);
      upload.size += chunk.length;
    } finally {
      upload.writing = false;
    }
    return upload.size;
  }

  /**
   * Finishes an upload: the bytes must be a complete Sealkit envelope whose context names the uploader's tenant.
   * The server cannot decrypt it (it never gets the data key), but it can check the header's shape.
   */
  async complete(id: string, owner: string): Promise<StoredFile> {
    const upload = this.#uploads.get(id);
    if (!upload || upload.owner !== owner) throw new StoreError(404, "no such upload");
    if (upload.writing) throw new StoreError(409, "a chunk of this upload is still being written");
    const part = this.#path(id, "part");
    try {
      const header = await this.#readHeader(part);
      if (header.context.tenant !== upload.tenant) {
        throw new StoreError(403, `the envelope's context must name tenant ${upload.tenant}`);
      }
      bodyLayout(upload.size - header.length, header.frameSize);
      const stored: Omit<StoredFile, "header" | "envelopeBytes"> = {
        id,
        name: upload.name,
        contentType: upload.contentType,
        owner: upload.owner,
        tenant: upload.tenant,
        uploadedAt: new Date().toISOString(),
      };
      await writeFile(this.#path(id, "json"), JSON.stringify(stored), { mode: 0o600 });
      await rename(part, this.#path(id, "slk"));
      return this.describe(id);
    } catch (error) {
      await rm(part, { force: true });
      if (error instanceof StoreError) throw error;
      throw new StoreError(400, `not a complete Sealkit envelope: ${(error as Error).message}`);
    } finally {
      this.#uploads.delete(id);
    }
  }

  /** Stores an envelope that arrives as one stream (from the edge worker). */
  async putStream(meta: Omit<Upload, "size">, body: ReadableStream<Uint8Array>): Promise<StoredFile> {
    const id = await this.begin(meta);
    const upload = this.#uploads.get(id)!;
    // Not idle while it streams: begin() must not drop it for a newer upload.
    upload.writing = true;
    const out = createWriteStream(this.#path(id, "part"), { mode: 0o600 });
    let size = 0;
    try {
      for await (const chunk of Readable.fromWeb(body as never)) {
        size += (chunk as Uint8Array).length;
        if (!out.write(chunk)) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
      }
      await new Promise<void>((resolve, reject) =>
        out.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
    } catch (error) {
      out.destroy();
      this.#uploads.delete(id);
      await rm(this.#path(id, "part"), { force: true });
      throw error;
    } finally {
      upload.writing = false;
    }
    upload.size = size;
    return this.complete(id, meta.owner);
  }

  async #readHeader(path: string): Promise<EnvelopeHeader> {
    const handle = await open(path, "r");
    try {
      let length = 4096;
      for (;;) {
        const buffer = new Uint8Array(length);
        const { bytesRead } = await handle.read(buffer, 0, length, 0);
        const result = tryParseHeader(buffer.subarray(0, bytesRead), { maxEncryptedDataKeys: 64 });
        if (result.complete) return result.header;
        if (bytesRead < length || result.needed <= length)
          throw new Error("the envelope ends inside its header");
        length = result.needed;
      }
    } finally {
      await handle.close();
    }
  }

  /** A stored file's metadata and header. */
  async describe(id: string): Promise<StoredFile> {
    let meta: Omit<StoredFile, "header" | "envelopeBytes">;
    try {
      meta = JSON.parse(await readFile(this.#path(id, "json"), "utf8"));
    } catch {
      throw new StoreError(404, "no such file");
    }
    const path = this.#path(id, "slk");
    const [header, info] = await Promise.all([this.#readHeader(path), stat(path)]);
    const layout = bodyLayout(info.size - header.length, header.frameSize);
    return {
      ...meta,
      envelopeBytes: info.size,
      header: {
        suite: header.suite.name,
        frameSize: header.frameSize,
        frames: layout.frameCount,
        plaintextBytes: layout.plaintextLength,
        context: { ...header.context },
        encryptedDataKeys: header.encryptedDataKeys.map((k) => ({
          providerId: k.providerId,
          keyId: k.keyId,
        })),
      },
    };
  }

  /** Every stored file, newest first. */
  async list(): Promise<StoredFile[]> {
    const names = await readdir(this.#dir);
    const files = await Promise.all(
      names
        .filter((n) => n.endsWith(".json"))
        .map((n) => this.describe(n.slice(0, -5)).catch(() => undefined)),
    );
    return files
      .filter((f): f is StoredFile => f !== undefined)
      .sort((a, b) => b.uploadedAt.localeCompare(a.uploadedAt));
  }

  /** The envelope's bytes [start, end] inclusive (or all of it), as a stream, with the total size. */
  async read(
    id: string,
    range?: { start: number; end: number },
  ): Promise<{ size: number; body: ReadableStream }> {
    const path = this.#path(id, "slk");
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      throw new StoreError(404, "no such file");
    }
    const stream = createReadStream(path, range ? { start: range.start, end: range.end } : {});
    return { size, body: Readable.toWeb(stream) as unknown as ReadableStream };
  }
}
