// Stream chunks at the boundary: core's abytes (a Uint8Array over memory that is neither shared nor detached), with
// the message streams have always given for a chunk of another type.

import { abytes } from "@sealkit/core";

/**
 * Checks one chunk written to a stream, with the message streams have always given for a chunk of another type.
 * @throws {TypeError} when `chunk` is not a Uint8Array, or is a view of a SharedArrayBuffer or of a detached buffer
 */
export function checkChunk(chunk: unknown, stream: string): Uint8Array {
  if (!(chunk instanceof Uint8Array)) {
    throw new TypeError(`${stream} expected Uint8Array chunks, got ${typeof chunk}`);
  }
  return abytes(chunk, `${stream} chunk`);
}
