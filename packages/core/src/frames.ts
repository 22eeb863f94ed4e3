// The framed body (docs/FORMAT.md section "Body"): frame flags, nonces, associated data, and the layout
// arithmetic that lets a reader find any frame from the envelope's length alone.

import { malformed, SealkitError } from "./errors.js";
import type { Suite } from "./suites.js";

/** A frame that is followed by another: flag, exactly frameSize bytes of ciphertext, tag. */
export const FRAME_REGULAR = 0x00;
/** The last frame: flag, u32 plaintext length, that many bytes of ciphertext, tag. */
export const FRAME_FINAL = 0x01;
/** Frame indexes start at 1; nonce index 0 belongs to the header tag. */
export const FIRST_FRAME_INDEX = 1;
/** The largest frame index, so at most 2^32 - 1 frames. */
export const MAX_FRAME_INDEX = 0xffffffff;
/** Bytes a final frame adds to its plaintext: flag, u32 length, 16-byte tag. */
export const FINAL_FRAME_OVERHEAD = 1 + 4 + 16;
/** Bytes a regular frame adds to its plaintext: flag, 16-byte tag. */
export const REGULAR_FRAME_OVERHEAD = 1 + 16;

const AAD_REGULAR: Uint8Array = new Uint8Array([FRAME_REGULAR]);
const AAD_FINAL: Uint8Array = new Uint8Array([FRAME_FINAL]);

/**
 * The nonce for frame `index` (0 for the header tag): zero bytes, then the index as a big-endian u64 in the
 * last eight bytes. Unique because every message has its own content key.
 */
export function frameNonce(suite: Suite, index: number): Uint8Array {
  const nonce = new Uint8Array(suite.nonceLength);
  const view = new DataView(nonce.buffer);
  view.setUint32(suite.nonceLength - 8, Math.floor(index / 0x100000000));
  view.setUint32(suite.nonceLength - 4, index >>> 0);
  return nonce;
}

/** A frame's associated data: its one-byte flag. Do not mutate the returned array. */
export function frameAad(final: boolean): Uint8Array {
  return final ? AAD_FINAL : AAD_REGULAR;
}

/** Where the frames of a body are, computed from lengths alone. */
export interface BodyLayout {
  /** Number of frames, the final one included (at least 1). */
  readonly frameCount: number;
  /** Plaintext bytes in the final frame (0 only when the whole plaintext is empty). */
  readonly finalPlaintextLength: number;
  /** Plaintext bytes in the whole message. */
  readonly plaintextLength: number;
  /** Bytes of one regular frame on the wire. */
  readonly regularFrameLength: number;
}

/**
 * The layout of a body of `bodyLength` bytes: n regular frames of frameSize + 17 bytes, then a final frame
 * of 21 + L bytes with 0 <= L <= frameSize. The decomposition is unique, so the length alone locates every frame.
 * @throws {SealkitError} ERR_TRUNCATED when the body is shorter than a final frame,
 * ERR_ENVELOPE_MALFORMED when no frame layout gives this length, ERR_LIMIT_EXCEEDED past 2^32 - 1 frames
 */
export function bodyLayout(bodyLength: number, frameSize: number): BodyLayout {
  if (bodyLength < FINAL_FRAME_OVERHEAD) {
    throw new SealkitError("ERR_TRUNCATED", "envelope body is shorter than one frame: it was truncated");
  }
  const regularFrameLength = frameSize + REGULAR_FRAME_OVERHEAD;
  const regular = Math.floor((bodyLength - FINAL_FRAME_OVERHEAD) / regularFrameLength);
  const finalPlaintextLength = bodyLength - FINAL_FRAME_OVERHEAD - regular * regularFrameLength;
  if (finalPlaintextLength > frameSize || (finalPlaintextLength === 0 && regular > 0)) {
    throw malformed(`body length ${bodyLength} fits no frame layout for frame size ${frameSize}`);
  }
  if (regular + 1 > MAX_FRAME_INDEX) {
    throw new SealkitError("ERR_LIMIT_EXCEEDED", "envelope has more than 2^32 - 1 frames");
  }
  return {
    frameCount: regular + 1,
    finalPlaintextLength,
    plaintextLength: regular * frameSize + finalPlaintextLength,
    regularFrameLength,
  };
}

/** The body length of a message of `plaintextLength` bytes: what an encryptor will write after the header. */
export function encryptedBodyLength(plaintextLength: number, frameSize: number): number {
  const regular = plaintextLength === 0 ? 0 : Math.ceil(plaintextLength / frameSize) - 1;
  const final = plaintextLength - regular * frameSize;
  return regular * (frameSize + REGULAR_FRAME_OVERHEAD) + FINAL_FRAME_OVERHEAD + final;
}
