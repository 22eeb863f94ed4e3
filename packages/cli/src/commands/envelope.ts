// `sealkit inspect` (the header in words) and `sealkit rewrap` (header-only, in place, crash-safe).

import {
  chmodSync,
  chownSync,
  closeSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import type { KMSClient } from "@aws-sdk/client-kms";
import {
  bodyLayout,
  type EncryptedDataKey,
  type EnvelopeHeader,
  rewrapEnvelopeHeader,
  SealkitError,
  toHex,
  tryParseHeader,
} from "@sealkit/core";
import { type ProviderFlags, resolveSettings } from "../config.js";
import { UsageError } from "../exit-codes.js";
import { fsyncDir, tempPathFor, trackTempFile } from "../io.js";
import { escapeControls, formatBytes, printJson, printPairs, printTable } from "../output.js";
import type { Session } from "../providers.js";

/**
 * Reads a file's first bytes until its header is complete: the header bytes, the parsed header, the file size.
 * @throws {UsageError} when `path` is not a regular file (a FIFO, a device, a directory)
 * @throws {SealkitError} as tryParseHeader, or ERR_TRUNCATED when the file ends inside the header
 */
/** Which file was read, and its version: what rewrap checks again before it replaces the file. */
export interface FileVersion {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
}

const sameVersion = (a: FileVersion, b: FileVersion) =>
  a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;

export function readHeaderBytes(path: string): {
  bytes: Uint8Array;
  header: EnvelopeHeader;
  size: number;
  version: FileVersion;
} {
  const fd = openSync(path, "r");
  try {
    // bigint: see io.ts (a plain fstat of a FIFO misleads Node 20's module loader).
    const st = fstatSync(fd, { bigint: true });
    // The frame count and the in-place rewrite need a regular file: a FIFO or device has size 0 here, and its
    // envelope was reported truncated ("restore it from a good copy").
    if (!st.isFile()) {
      throw new UsageError(
        `${path} is not a regular file: inspect and rewrap read envelope files (save it to a file first)`,
      );
    }
    const size = Number(st.size);
    let bytes = new Uint8Array(0);
    let want = 4096;
    for (;;) {
      const buf = new Uint8Array(Math.min(want, size));
      const n = readSync(fd, buf, 0, buf.length, 0);
      bytes = buf.subarray(0, n);
      const r = tryParseHeader(bytes);
      if (r.complete) return { bytes, header: r.header, size, version: st };
      if (n >= size)
        throw new SealkitError("ERR_TRUNCATED", "envelope ends inside its header: it was truncated");
      want = Math.max(r.needed, want * 2);
    }
  } finally {
    closeSync(fd);
  }
}

const SUITE_LABEL: Record<string, string> = {
  XCHACHA20_POLY1305: "xchacha20-poly1305",
  AES_256_GCM: "aes-256-gcm",
};

/** `sealkit inspect <file> [--json]`. */
export function inspectCommand(file: string, options: { json?: boolean }): void {
  const { header, size } = readHeaderBytes(file);
  const bodyLength = size - header.length;
  let layout: ReturnType<typeof bodyLayout> | undefined;
  let bodyError: SealkitError | undefined;
  try {
    layout = bodyLayout(bodyLength, header.frameSize);
  } catch (error) {
    if (!SealkitError.isInstance(error)) throw error;
    bodyError = error;
  }
  const keys = header.encryptedDataKeys.map((k) => ({
    providerId: k.providerId,
    keyId: k.keyId,
    bytes: k.ciphertext.length,
  }));
  const info = {
    file,
    formatVersion: header.version,
    suite: SUITE_LABEL[header.suite.name] ?? header.suite.name,
    frameSize: header.frameSize,
    frameCount: layout?.frameCount ?? null,
    plaintextLength: layout?.plaintextLength ?? null,
    envelopeLength: size,
    headerLength: header.length,
    messageId: toHex(header.messageId),
    context: header.context,
    encryptedDataKeys: keys,
    ...(bodyError ? { bodyError: { code: bodyError.code, message: bodyError.message } } : {}),
  };
  if (options.json) printJson(info);
  else {
    printPairs([
      ["file", file],
      ["format", `Sealkit envelope v${header.version}`],
      ["suite", info.suite],
      ["frame size", `${header.frameSize} bytes`],
      ["frames", layout ? layout.frameCount : "?"],
      [
        "plaintext",
        layout ? `${layout.plaintextLength} bytes (${formatBytes(layout.plaintextLength)})` : "?",
      ],
      ["envelope", `${size} bytes (header ${header.length})`],
      ["message id", info.messageId],
      [
        "context",
        Object.keys(header.context).length === 0
          ? "(empty)"
          : Object.entries(header.context)
              .map(([k, v]) => `${k}=${v}`)
              .join(", "),
      ],
    ]);
    process.stdout.write(`encrypted data keys (${keys.length}):\n`);
    printTable(
      ["PROVIDER", "KEY", "BYTES"],
      keys.map((k) => [k.providerId, k.keyId, k.bytes]),
    );
  }
  if (bodyError) throw bodyError;
}

export interface RewrapFlags extends ProviderFlags {
  toKey?: string[];
  toProvider?: string;
  removeKey?: string[];
  json?: boolean;
  quiet?: boolean;
}

interface RewrapSummary {
  file: string;
  added: { providerId: string; keyId: string }[];
  removed: { providerId: string; keyId: string }[];
  /** The file already had every key to add and none to remove, and was left as it was. */
  unchanged: boolean;
  headerBytesBefore: number;
  headerBytesAfter: number;
  bodyBytes: number;
  bodyUntouched: true;
}

const sameKey = (a: EncryptedDataKey, b: EncryptedDataKey) =>
  a.providerId === b.providerId && a.keyId === b.keyId;

/** `sealkit rewrap <files...> --to-key <key> [--to-provider p] [--remove-key <key>]`. */
export async function rewrapCommand(files: string[], flags: RewrapFlags, session: Session): Promise<void> {
  const toKeys = flags.toKey ?? [];
  const removeKeys = flags.removeKey ?? [];
  if (toKeys.length === 0 && removeKeys.length === 0) {
    throw new UsageError("rewrap needs --to-key (a key to add) and/or --remove-key (a key to drop)");
  }
  // --endpoint without --provider makes the provider aws, except when --to-provider is aws: then the endpoint is the
  // destination's and the envelopes come from the local KMS (the migration path).
  const from = resolveSettings(flags, process.env, flags.toProvider === "aws" ? "local" : undefined);
  const to = resolveSettings({ ...flags, provider: flags.toProvider ?? from.provider, key: toKeys });
  const add = toKeys.length > 0 ? await session.encryptProviders(to) : [];
  // Key ids to remove, with local aliases and ids resolved to key ARNs where a local KMS is in use.
  const removeIds = new Set(removeKeys);
  const resolved = new Set<string>();
  if (removeKeys.length > 0 && (from.provider === "local" || to.provider === "local")) {
    const kms = await session.localKms(from.provider === "local" ? from : to);
    for (const id of removeKeys) {
      const arn = kms.resolveKeyArn(id);
      if (arn) {
        removeIds.add(arn);
        resolved.add(id);
      }
    }
  }
  // AWS aliases too (an alias name or ARN): encrypted data keys record key ARNs, so `--remove-key alias/old` with the
  // aws provider matched nothing and the run stopped with "no encrypted data key for alias/old". A local alias of
  // the same name, when a local KMS is in use, is the one meant.
  if (removeKeys.length > 0 && (from.provider === "aws" || to.provider === "aws")) {
    const aliases = removeKeys.filter((id) => !resolved.has(id) && isAwsAlias(id));
    if (aliases.length > 0) {
      const clients = await session.awsClients(from.provider === "aws" ? from : to);
      const { parseKmsArn } = await import("@sealkit/kms-aws");
      for (const id of aliases) {
        // An alias ARN is asked in its own region.
        const client =
          "client" in clients ? clients.client : clients.clientForRegion(parseKmsArn(id)?.region);
        const arn = await describeAwsAlias(client, id);
        if (arn) removeIds.add(arn);
      }
    }
  }
  const removes = (k: EncryptedDataKey) =>
    removeIds.has(k.keyId) ||
    [...removeIds].some((id) => k.keyId.endsWith(`:key/${id}`) || k.keyId.endsWith(`:${id}`));
  /**
   * Opens a file's data key with the --provider keys and rewraps it. A file they cannot open that has none of the
   * keys to remove is tried with the --to-key keys: a previous run may have rewrapped it already (the same command
   * again after it stopped at a later file), and it is then reported unchanged instead of stopping the run.
   */
  const openAndRewrap = async (bytes: Uint8Array, header: EnvelopeHeader) => {
    const attempt = async (settings: typeof from) => {
      const providers = await session.decryptProviders(settings, header.encryptedDataKeys);
      return { providers, result: await rewrapEnvelopeHeader(bytes, { providers, add, remove: removes }) };
    };
    try {
      return await attempt(from);
    } catch (error) {
      const cannotOpen = SealkitError.isInstance(error) && error.code === "ERR_NO_DECRYPTABLE_KEY";
      if (!cannotOpen || toKeys.length === 0 || header.encryptedDataKeys.some(removes)) throw error;
      try {
        return await attempt(to);
      } catch {
        throw error;
      }
    }
  };
  const summaries: RewrapSummary[] = [];
  // The JSON summary is printed also when a file fails: the files before it were rewritten, and a script reading
  // it must know which.
  try {
    for (const file of files) {
      const { bytes, header, size, version } = readHeaderBytes(file);
      const opened = await openAndRewrap(bytes, header);
      const { providers } = opened;
      let { result } = opened;
      // Keys added that the envelope already has (the same run again after it stopped at a file, or a file named
      // twice): each was appended once more per run, growing the header towards the 16-key limit.
      const kept = header.encryptedDataKeys.filter((k) => !removes(k));
      const again = result.added.filter((a) => kept.some((k) => sameKey(k, a)));
      if (toKeys.length > 0 && again.length === result.added.length && result.removed.length === 0) {
        // It has every key to add and none to remove: already rewrapped, left as it is.
        const summary: RewrapSummary = {
          file,
          added: [],
          removed: [],
          unchanged: true,
          headerBytesBefore: header.length,
          headerBytesAfter: header.length,
          bodyBytes: size - header.length,
          bodyUntouched: true,
        };
        summaries.push(summary);
        if (!flags.json) {
          process.stdout.write(
            `${escapeControls(`${file}: unchanged, it already has ${again.map((k) => k.keyId).join(" ")}${removeKeys.length > 0 ? ` and none of ${removeKeys.join(", ")}` : ""}`)}\n`,
          );
        }
        continue;
      }
      const toRemove = removeKeys.filter(
        (id) => !result.removed.some((k) => k.keyId === id || removeIds.has(k.keyId)),
      );
      if (removeKeys.length > 0 && result.removed.length === 0) {
        throw new SealkitError(
          "ERR_KEY_NOT_FOUND",
          `${file} has no encrypted data key for ${toRemove.join(", ")}`,
        );
      }
      if (again.length > 0) {
        // Some keys are new, some it has: the fresh wraps replace the old entries of the keys it has.
        result = await rewrapEnvelopeHeader(bytes, {
          providers,
          add,
          remove: (k) => removes(k) || again.some((a) => sameKey(a, k)),
        });
      }
      writeRewrapped(file, result.header, result.bodyOffset, size, version);
      const isAgain = (k: EncryptedDataKey) => again.some((a) => sameKey(a, k));
      const summary: RewrapSummary = {
        file,
        added: result.added
          .filter((k) => !isAgain(k))
          .map(({ providerId, keyId }) => ({ providerId, keyId })),
        removed: result.removed
          .filter((k) => !isAgain(k))
          .map(({ providerId, keyId }) => ({ providerId, keyId })),
        unchanged: false,
        headerBytesBefore: result.bodyOffset,
        headerBytesAfter: result.header.length,
        bodyBytes: size - result.bodyOffset,
        bodyUntouched: true,
      };
      summaries.push(summary);
      if (!flags.json) {
        // Key ids come from the envelope: escaped, as in inspect.
        const keys = summary.added
          .map((k) => `+${k.keyId}`)
          .concat(summary.removed.map((k) => `-${k.keyId}`))
          .join(" ");
        process.stdout.write(
          `${escapeControls(`${file}: ${keys}`)}; header ${summary.headerBytesBefore} -> ${summary.headerBytesAfter} bytes; body ${summary.bodyBytes} bytes untouched\n`,
        );
      }
    }
  } finally {
    if (flags.json) printJson(summaries);
  }
}

/** An AWS KMS alias name (`alias/x`) or alias ARN (`arn:aws:kms:<region>:<account>:alias/x`). */
function isAwsAlias(id: string): boolean {
  return id.startsWith("alias/") || /^arn:[a-z0-9-]+:kms:[a-z0-9-]+:\d{12}:alias\//.test(id);
}

/**
 * The key ARN an AWS alias names (DescribeKey), or undefined when KMS has no such alias.
 * @throws {SealkitError} as kms-aws's fromKmsError for any other failure (access denied, unreachable), or
 *   ERR_PROVIDER_UNAVAILABLE when the answer names no key ARN
 */
async function describeAwsAlias(client: KMSClient, alias: string): Promise<string | undefined> {
  const { DescribeKeyCommand } = await import("@aws-sdk/client-kms");
  const { fromKmsError, isKeyArn } = await import("@sealkit/kms-aws");
  let arn: string | undefined;
  try {
    arn = (await client.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata?.Arn;
  } catch (error) {
    if ((error as { name?: unknown })?.name === "NotFoundException") return undefined;
    throw fromKmsError(error, "DescribeKey", alias);
  }
  if (typeof arn !== "string" || !isKeyArn(arn)) {
    throw new SealkitError(
      "ERR_PROVIDER_UNAVAILABLE",
      `AWS KMS DescribeKey with key ${alias} returned no key ARN`,
    );
  }
  return arn;
}

/** The error for a file another process wrote while rewrap held its header: exit 1, the file left as it is. */
function changedWhileRewrapping(path: string): Error {
  return Object.assign(
    new Error(
      `${path} changed while it was being rewrapped (another process wrote it): left as it is; run rewrap again`,
    ),
    { code: "ERR_FILE_CHANGED" },
  );
}

/**
 * Writes the new header and the old body to a temp file in the same directory, fsyncs it, renames it over the
 * original and fsyncs the directory: a crash leaves either the old file or the new one, never a mix. The file must
 * still be the version whose header was rewrapped (`version`), when the copy starts and again just before the
 * rename: a file another process replaced or rewrote meanwhile (say, the application saving a new version during a
 * migration) got the old header over its new body, an envelope nobody could decrypt, and its new contents were lost.
 * @throws {Error} code ERR_FILE_CHANGED when it changed; the file is then left as the other process wrote it
 */
function writeRewrapped(
  path: string,
  header: Uint8Array,
  bodyOffset: number,
  size: number,
  version: FileVersion,
): void {
  // A link stays a link: the file it points at is rewritten (renaming over the link replaced it with a copy).
  const file = realpathSync(path);
  const temp = tempPathFor(file);
  const inFd = openSync(file, "r");
  // A signal during the (synchronous) copy is handled after it, when the file was renamed or removed.
  const release = trackTempFile(temp);
  let outFd: number | undefined;
  try {
    if (!sameVersion(fstatSync(inFd, { bigint: true }), version)) throw changedWhileRewrapping(path);
    const { mode, uid, gid } = fstatSync(inFd);
    try {
      outFd = openSync(temp, "wx", 0o600);
    } catch (error) {
      // Name the file the user gave, not a temporary file they never heard of.
      const code = (error as NodeJS.ErrnoException).code;
      throw Object.assign(
        new Error(`cannot rewrite ${path} (in its directory): ${code ?? (error as Error).message}`),
        {
          code,
          cause: error,
        },
      );
    }
    writeAll(outFd, header);
    const buf = new Uint8Array(1024 * 1024);
    let position = bodyOffset;
    while (position < size) {
      const n = readSync(inFd, buf, 0, Math.min(buf.length, size - position), position);
      if (n === 0) throw new Error(`${file} changed size while being rewrapped`);
      writeAll(outFd, buf.subarray(0, n));
      position += n;
    }
    fsyncSync(outFd);
    closeSync(outFd);
    outFd = undefined;
    chmodSync(temp, mode & 0o777);
    // The owner too, where allowed: `sudo sealkit rewrap` over an application's envelopes left them root's, and with
    // their 0600 mode the application could no longer read them.
    try {
      chownSync(temp, uid, gid);
    } catch {}
    // Still the same file, unchanged, at the same path (left: a window of one rename).
    const now = statSync(file, { bigint: true, throwIfNoEntry: false });
    if (!now || !sameVersion(now, version) || !sameVersion(fstatSync(inFd, { bigint: true }), version)) {
      throw changedWhileRewrapping(path);
    }
    renameSync(temp, file);
    fsyncDir(dirname(file));
  } catch (error) {
    if (outFd !== undefined) closeSync(outFd);
    rmSync(temp, { force: true });
    throw error;
  } finally {
    closeSync(inFd);
    release();
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}
