// Byte inputs at the boundary: a Uint8Array over memory this package may read as it pleases, the same check for
// every API and suite, so that one bad input gets one error wherever it is given.

import { abytes } from "@sealkit/core";

/**
 * Asserts a Uint8Array (as core's `abytes`) that is neither a view of a SharedArrayBuffer nor of a detached buffer,
 * and returns it.
 *
 * Shared memory is refused because Web Crypto refuses it (so AES-256-GCM failed where XChaCha20-Poly1305 worked, and a
 * shared envelope passed to a provider failed as ERR_NO_DECRYPTABLE_KEY or ERR_AUTHENTICATION_FAILED) and because
 * another thread may change it between a check and its use. A detached buffer (transferred to a worker, or
 * `ArrayBuffer.prototype.transfer`) reads as zero bytes, so a stream would have taken it as an empty chunk.
 * @throws {TypeError} when `value` is not such a Uint8Array
 * @throws {RangeError} when `length` is given and `value` has another length
 */
export function abuffer(value: unknown, name: string, length?: number): Uint8Array {
  const bytes = abytes(value, name, length);
  // Realm-independent: a SharedArrayBuffer from another realm (a worker, an iframe) fails instanceof.
  if (Object.prototype.toString.call(bytes.buffer) === "[object SharedArrayBuffer]") {
    throw new TypeError(
      `"${name}" expected a Uint8Array over an ArrayBuffer, got one over a SharedArrayBuffer (copy it first)`,
    );
  }
  // A view of a detached buffer has length 0; constructing a view on that buffer throws. (ArrayBuffer's `detached`
  // getter is missing from Node 20.)
  if (bytes.byteLength === 0) {
    try {
      new Uint8Array(bytes.buffer, 0, 0);
    } catch {
      throw new TypeError(`"${name}" is a view of a detached ArrayBuffer`);
    }
  }
  return bytes;
}

/**
 * Checks one chunk written to a stream, with the message streams have always given for a chunk of another type.
 * @throws {TypeError} when `chunk` is not a Uint8Array, or is a view of a SharedArrayBuffer or of a detached buffer
 */
export function checkChunk(chunk: unknown, stream: string): Uint8Array {
  if (!(chunk instanceof Uint8Array)) {
    throw new TypeError(`${stream} expected Uint8Array chunks, got ${typeof chunk}`);
  }
  return abuffer(chunk, `${stream} chunk`);
}
