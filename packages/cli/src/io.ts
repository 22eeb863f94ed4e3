// Streams in and out of files and stdio, crash-safe output files (temp file, fsync, rename), and header peeking.

import { randomBytes } from "node:crypto";
import {
  closeSync,
  createReadStream,
  fstatSync,
  fsyncSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable } from "node:stream";
import { concatBytes, type EnvelopeHeader, SealkitError, tryParseHeader } from "@sealkit/core";
import { UsageError } from "./exit-codes.js";

/** An input: a file or stdin, as a web stream, with its size when known (for the progress bar). */
export interface Input {
  readonly stream: ReadableStream<Uint8Array>;
  readonly size: number | undefined;
  readonly name: string;
}

const CHUNK = 256 * 1024;

// Every stat here asks for bigint results. Node 20's plain (f)statSync of a FIFO leaves the shared stat array in a
// state that the ESM loader's next resolution misreads: it skipped realpath, loaded better-sqlite3 by its pnpm
// symlink and failed with "Cannot find module 'bindings'". So `cat x.slkt | sealkit decrypt` (stdin a pipe) or
// `sealkit encrypt <(tar c dir)` failed with the local KMS, which is imported after the input is opened. The bigint
// results live in another array.
const bigint = { bigint: true } as const;

/** Opens a file, or stdin for `-` or no path. */
export function openInput(path: string | undefined): Input {
  if (path === undefined || path === "-") {
    let size: number | undefined;
    try {
      const st = fstatSync(0, bigint);
      if (st.isFile()) size = Number(st.size);
    } catch {}
    return { stream: toWeb(process.stdin), size, name: "stdin" };
  }
  // Opened now, not when the stream first reads: a file the user may not read failed only after encrypt had written
  // the envelope's header to stdout, leaving a partial envelope there (and after the KMS calls).
  const fd = openSync(path, "r");
  const st = fstatSync(fd, bigint);
  if (st.isDirectory()) {
    closeSync(fd);
    throw Object.assign(new Error(`${path} is a directory`), { code: "EISDIR" });
  }
  // A FIFO or a process substitution (`sealkit encrypt <(tar c dir)`) has size 0: its size is unknown, not 0 (the
  // bar showed "3.8 MiB/0 B").
  const size = st.isFile() ? Number(st.size) : undefined;
  return { stream: toWeb(createReadStream(path, { fd, highWaterMark: CHUNK })), size, name: path };
}

function toWeb(stream: Readable): ReadableStream<Uint8Array> {
  // A small high-water mark keeps memory bounded whatever the input size: the stream pulls as frames are written.
  return Readable.toWeb(stream, { strategy: { highWaterMark: 1 } }) as unknown as ReadableStream<Uint8Array>;
}

/**
 * Reads chunks from `stream` until the envelope header is complete, and returns the header with a stream that
 * yields every byte again from the start (the buffered chunks, then the rest).
 * @throws {SealkitError} as tryParseHeader, or ERR_TRUNCATED when the stream ends inside the header
 */
export async function peekHeader(
  stream: ReadableStream<Uint8Array>,
): Promise<{ header: EnvelopeHeader; stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let buffered: Uint8Array = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      reader.releaseLock();
      // Parse what we have: a malformed prefix is reported as such before "truncated".
      const r = tryParseHeader(buffered);
      if (r.complete) return { header: r.header, stream: replay(chunks, undefined) };
      throw new SealkitError("ERR_TRUNCATED", "envelope ends inside its header: it was truncated");
    }
    chunks.push(value);
    buffered = concatBytes(buffered, value);
    const r = tryParseHeader(buffered);
    if (r.complete) {
      reader.releaseLock();
      return { header: r.header, stream: replay(chunks, stream) };
    }
  }
}

function replay(
  chunks: Uint8Array[],
  rest: ReadableStream<Uint8Array> | undefined,
): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = chunks.shift();
        if (next) return controller.enqueue(next);
        if (!rest) return controller.close();
        reader ??= rest.getReader();
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel(reason) {
        return reader ? reader.cancel(reason) : rest?.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Where `-o <path>` is written: a regular file (new, or replaced on success through a temporary file next to it,
 * links followed so that a link keeps pointing at the new file), or a device or FIFO such as /dev/null, written in
 * place as stdout is (renaming a temporary file over /dev/null replaced the device with a file of plaintext).
 */
export type OutputTarget =
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "device"; readonly path: string };

/**
 * Resolves `-o <path>` before any work: not a directory, in a directory that exists (else the run failed only at
 * the end, naming a temporary file).
 * @throws {Error} with code EISDIR, ENOENT or ENOTDIR, and a message naming `path` or its directory
 * @throws {UsageError} for an empty path
 */
export function resolveOutput(path: string): OutputTarget {
  // `-o ""` (an unset shell variable) ran the whole command and then failed renaming the temporary file to "".
  if (path === "") throw new UsageError(`-o expected a file name, "-" for stdout, got an empty path`);
  const fail = (code: string, message: string) => Object.assign(new Error(message), { code });
  const st = statSync(path, { throwIfNoEntry: false, bigint: true }); // follows links
  if (st?.isDirectory()) throw fail("EISDIR", `${path} is a directory`);
  if (st && !st.isFile()) return { kind: "device", path };
  const real = st ? realpathSync(path) : path;
  const dir = dirname(real);
  const dirStat = statSync(dir, { throwIfNoEntry: false, bigint: true });
  if (!dirStat) throw fail("ENOENT", `the directory of ${path} does not exist (${dir})`);
  if (!dirStat.isDirectory()) throw fail("ENOTDIR", `${dir} is not a directory (output ${path})`);
  return { kind: "file", path: real };
}

/**
 * Opens a device or FIFO output for writing in place; `commit` and `abort` only close it.
 * @throws {Error} the system error of opening it
 */
export async function openDeviceOutput(path: string): Promise<Omit<AtomicFile, "tempPath">> {
  const handle = await open(path, "w");
  const close = () => handle.close().catch(() => {});
  return { writable: handleWritable(handle), commit: close, abort: close };
}

/** A web sink over a FileHandle that awaits each write, so memory stays bounded by the pipeline's few frames. */
function handleWritable(handle: FileHandle): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
        offset += bytesWritten;
      }
    },
  });
}

/** A file written under a temporary name in the same directory, renamed over the final path only on commit. */
export interface AtomicFile {
  readonly writable: WritableStream<Uint8Array>;
  readonly tempPath: string;
  /** fsync the file, rename it over the final path, fsync the directory. */
  commit(): Promise<void>;
  /** Remove the temporary file; the final path is untouched. */
  abort(): Promise<void>;
}

/** Temporary files being written, removed if a signal stops the process before they are renamed or removed. */
const pendingTemps = new Set<string>();
const CLEANUP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
let cleanupInstalled = false;

function removePendingAndReraise(signal: NodeJS.Signals): void {
  for (const path of pendingTemps) rmSync(path, { force: true });
  pendingTemps.clear();
  for (const s of CLEANUP_SIGNALS) process.removeListener(s, removePendingAndReraise);
  // Without our listener the signal's default action applies: the process ends as killed by it (exit status 130
  // for Ctrl-C in a shell), as it would have without the cleanup.
  process.kill(process.pid, signal);
}

/**
 * Registers a temporary file to be removed if SIGINT, SIGTERM or SIGHUP arrives before `release` is called (after
 * the rename or the removal); the process then ends by that signal as usual. Without this, Ctrl-C during
 * `decrypt -o` left partial plaintext on disk. The listeners stay once installed (removing them could drop a
 * signal that arrived during synchronous work and is not yet dispatched); with nothing pending they only re-raise.
 */
export function trackTempFile(path: string): () => void {
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    for (const s of CLEANUP_SIGNALS) process.on(s, removePendingAndReraise);
  }
  pendingTemps.add(path);
  return () => {
    pendingTemps.delete(path);
  };
}

/**
 * The temporary path next to `finalPath` (same directory, so that rename is atomic). Its name holds at most the
 * first 200 bytes of the final name: with all of it, a name the filesystem accepts (up to 255 bytes) went over that
 * limit once the 26 bytes around it were added, and writing it failed with ENAMETOOLONG.
 */
export function tempPathFor(finalPath: string): string {
  let name = basename(finalPath);
  while (Buffer.byteLength(name) > 200) name = name.slice(0, -1);
  return join(dirname(finalPath), `.${name}.sealkit-${randomBytes(6).toString("hex")}.tmp`);
}

/** fsync a directory, so that a rename in it survives a crash. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Creates the temporary file (mode 0600, never an existing file) for `finalPath`. Writes are awaited one by one
 * (a web sink over a FileHandle), so memory stays bounded by the pipeline's few frames whatever the size:
 * Node 20's Writable.toWeb over an fs stream let 200 MB pile up for a 256 MB input here.
 */
export async function createAtomicFile(finalPath: string): Promise<AtomicFile> {
  const tempPath = tempPathFor(finalPath);
  const release = trackTempFile(tempPath);
  let handle: FileHandle;
  try {
    handle = await open(tempPath, "wx", 0o600);
  } catch (error) {
    release();
    // Name the output the user gave, not the temporary file they never heard of; keep the system code.
    const code = (error as NodeJS.ErrnoException).code;
    throw Object.assign(new Error(`cannot write ${finalPath}: ${code ?? (error as Error).message}`), {
      code,
      cause: error,
    });
  }
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await handle.close();
    }
  };
  return {
    writable: handleWritable(handle),
    tempPath,
    async commit() {
      // Replacing a file keeps its permissions, and its owner where the system allows: `decrypt -o` over a 0640
      // config file that a service reads left a 0600 file it could no longer read. A new file stays 0600.
      const existing = statSync(finalPath, { throwIfNoEntry: false, bigint: true });
      if (existing?.isFile()) {
        await handle.chmod(Number(existing.mode & 0o777n));
        await handle.chown(Number(existing.uid), Number(existing.gid)).catch(() => {});
      }
      await handle.sync();
      await close();
      renameSync(tempPath, finalPath);
      release();
      fsyncDir(dirname(finalPath));
    },
    async abort() {
      await close().catch(() => {});
      rmSync(tempPath, { force: true });
      release();
    },
  };
}

/**
 * Lets a reader close stdout early without crashing the process. `sealkit keys list | head -1` closes the pipe after
 * one line, and stdout's 'error' (EPIPE) had no listener: an uncaught exception with a stack trace, exit 1. Listings
 * now end quietly with their own exit status, since the reader has what it wanted (later writes to the closed
 * stream are dropped by Node); streamed output fails on its next write instead (see {@link stdoutWritable}). Any
 * other stdout error is one line on stderr and exit 1.
 */
export function handleClosedStdout(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") return;
    process.stderr.write(
      `sealkit: ${error.code ?? "ERR_UNEXPECTED"}: cannot write to stdout: ${error.message}\n`,
    );
    process.exit(1);
  });
}

/**
 * stdout as a web stream that waits for 'drain' (backpressure) and fails once stdout is closed (EPIPE: the reader
 * stopped early). stdout is not ended on close: the process exits after the command.
 */
export function stdoutWritable(): WritableStream<Uint8Array> {
  const out = process.stdout;
  const closed = () => out.errored ?? Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      if (out.destroyed) throw closed();
      if (out.write(chunk)) return;
      // A write that failed at once destroys stdout, which then never drains.
      if (out.destroyed) throw closed();
      await new Promise<void>((resolve, reject) => {
        const settle = (error?: unknown) => {
          out.off("drain", onDrain).off("close", onClose);
          if (error === undefined) resolve();
          else reject(error);
        };
        const onDrain = () => settle();
        const onClose = () => settle(closed());
        out.on("drain", onDrain).on("close", onClose);
      });
    },
  });
}

/** Reads the first bytes of a file until its envelope header is complete. */
export async function readHeaderOfFile(path: string): Promise<EnvelopeHeader> {
  return (await peekHeaderOfStream(createReadStream(path, { highWaterMark: 64 * 1024 }))).header;
}

async function peekHeaderOfStream(stream: Readable) {
  try {
    return await peekHeader(toWeb(stream));
  } finally {
    stream.destroy();
  }
}
