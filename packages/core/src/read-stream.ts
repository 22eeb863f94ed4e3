// Reading a byte stream from someone else (an HTTP body, a server's answer) into memory, within a bound.

import { joinBytes, wipe } from "./bytes.js";

/** Options of {@link readAtMost}. */
export interface ReadAtMostOptions {
  /** An abort cancels the stream (a read that would never settle ends) and rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Wipe the chunks read once they are copied (or dropped): they may hold key material. */
  readonly wipeChunks?: boolean;
}

/**
 * Reads `stream` to its end into one array, holding at most `limit` bytes: a stream that runs past it is cancelled
 * and the result is `undefined`, so a hostile or broken sender cannot make the reader hold more. The chunks are
 * copied with a loop, never spread into arguments, so a body sent a byte at a time is read like any other.
 *
 * @throws the stream's own error when a read fails, or the signal's reason once it aborts
 * @example
 * const bytes = await readAtMost(response.body, 1 << 20);
 * if (bytes === undefined) throw new Error("the answer is larger than 1 MiB");
 */
export async function readAtMost(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  options: ReadAtMostOptions = {},
): Promise<Uint8Array | undefined> {
  const { signal, wipeChunks = false } = options;
  if (signal?.aborted) {
    await stream.cancel(signal.reason).catch(() => {});
    throw signal.reason;
  }
  const reader = stream.getReader();
  const cancel = () => void reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      signal?.throwIfAborted();
      if (done) break;
      size += value.length;
      chunks.push(value);
      if (size > limit) {
        cancel();
        return undefined;
      }
    }
    // One chunk is the answer as it is, unless it is to be wiped.
    if (chunks.length === 1 && !wipeChunks) return chunks[0];
    return joinBytes(chunks);
  } finally {
    signal?.removeEventListener("abort", cancel);
    if (wipeChunks) for (const chunk of chunks) wipe(chunk);
  }
}
