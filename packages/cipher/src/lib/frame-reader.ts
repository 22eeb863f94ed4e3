// Reading frames one after another from the body (docs/FORMAT.md "Body"), as both one-shot and streaming
// decryption do, so that a damaged body gives the same error code whichever API reads it.

import {
  FINAL_FRAME_OVERHEAD,
  FRAME_FINAL,
  FRAME_REGULAR,
  MAX_FRAME_INDEX,
  malformed,
  REGULAR_FRAME_OVERHEAD,
  SealkitError,
} from "@sealkit/core";

/** One frame found in the body. */
export interface FrameSlice {
  readonly final: boolean;
  /** Ciphertext followed by the tag: a view into the input. */
  readonly sealed: Uint8Array;
  /** Plaintext bytes of the frame. */
  readonly plaintextLength: number;
  /** Bytes the frame takes on the wire. */
  readonly wireLength: number;
}

/**
 * The wire length of the frame at the start of `bytes`, from its first five bytes at most, or undefined when
 * `bytes` is too short to tell (empty, or a final frame's length not there yet). Lets a streaming reader wait
 * for a whole frame without assembling its first bytes again at every chunk.
 * @throws {SealkitError} ERR_ENVELOPE_MALFORMED for an unknown flag, a final length above the frame size, or an
 * empty final frame after other frames; ERR_LIMIT_EXCEEDED past the last frame index
 */
export function frameWireLength(bytes: Uint8Array, frameSize: number, index: number): number | undefined {
  if (bytes.length === 0) return undefined;
  if (index > MAX_FRAME_INDEX) {
    throw new SealkitError("ERR_LIMIT_EXCEEDED", "envelope has more than 2^32 - 1 frames");
  }
  const flag = bytes[0];
  if (flag === FRAME_REGULAR) return REGULAR_FRAME_OVERHEAD + frameSize;
  if (flag === FRAME_FINAL) {
    if (bytes.length < 5) return undefined;
    const length = new DataView(bytes.buffer, bytes.byteOffset + 1, 4).getUint32(0);
    if (length > frameSize)
      throw malformed(`final frame length ${length} exceeds the frame size ${frameSize}`);
    // Only an empty message has an empty final frame: a full last frame is written as a full final frame.
    if (length === 0 && index > 1) throw malformed("empty final frame after other frames");
    return FINAL_FRAME_OVERHEAD + length;
  }
  throw malformed(`unknown frame flag 0x${flag!.toString(16).padStart(2, "0")}`);
}

/**
 * The frame at the start of `bytes`, or undefined when `bytes` does not hold all of it yet.
 * @throws {SealkitError} as frameWireLength
 */
export function nextFrame(bytes: Uint8Array, frameSize: number, index: number): FrameSlice | undefined {
  const wireLength = frameWireLength(bytes, frameSize, index);
  if (wireLength === undefined || bytes.length < wireLength) return undefined;
  const final = bytes[0] === FRAME_FINAL;
  const prefix = final ? 5 : 1;
  return {
    final,
    sealed: bytes.subarray(prefix, wireLength),
    plaintextLength: wireLength - prefix - 16,
    wireLength,
  };
}

/** The wire bytes that precede a frame's ciphertext: the flag, and for a final frame its u32 length. */
export function framePrefix(final: boolean, plaintextLength: number): Uint8Array {
  if (!final) return new Uint8Array([FRAME_REGULAR]);
  const prefix = new Uint8Array(5);
  prefix[0] = FRAME_FINAL;
  new DataView(prefix.buffer).setUint32(1, plaintextLength);
  return prefix;
}

/** The error for a body that ended before its final frame. */
export function truncated(): SealkitError {
  return new SealkitError("ERR_TRUNCATED", "envelope ended before its final frame: it was truncated");
}
