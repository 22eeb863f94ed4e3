// Random bytes for data keys and IVs, drawn from node:crypto's CSPRNG a block at a time.

import { randomFillSync } from "node:crypto";

/** Each CSPRNG call fills this many bytes; a call costs about as much as filling a few kilobytes. */
const BLOCK = 4096;
/** Larger requests go straight to the CSPRNG. */
const MAX_POOLED = 256;

const pool = new Uint8Array(BLOCK);
let offset = BLOCK;

/**
 * Fills `target[start, start + length)` with random bytes. Small requests are served from a block filled by one
 * `randomFillSync` call: every byte is handed out once and zeroed in the block as it leaves, so what remains in
 * memory is only bytes nobody has been given yet.
 * @throws {RangeError} when the range is outside `target`
 */
export function randomFill(target: Uint8Array, start = 0, length = target.length - start): Uint8Array {
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(length) && start >= 0 && length >= 0)) {
    throw new RangeError("randomFill: start and length must be non-negative integers");
  }
  if (start + length > target.length) throw new RangeError("randomFill: range outside the target");
  if (length > MAX_POOLED) {
    randomFillSync(target, start, length);
    return target;
  }
  if (offset + length > BLOCK) {
    randomFillSync(pool);
    offset = 0;
  }
  target.set(pool.subarray(offset, offset + length), start);
  pool.fill(0, offset, offset + length);
  offset += length;
  return target;
}

/** `length` fresh random bytes (see {@link randomFill}). */
export function randomBytesFast(length: number): Uint8Array {
  return randomFill(new Uint8Array(length));
}
