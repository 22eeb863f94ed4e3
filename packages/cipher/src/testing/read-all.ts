// Test helper: everything a readable stream gives, joined into one array.

import { readAtMost } from "@sealkit/core";

/** Reads `readable` to its end (core's readAtMost, without a limit) and returns its bytes joined. */
export function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return readAtMost(readable, Number.POSITIVE_INFINITY) as Promise<Uint8Array>;
}
