// One-shot encryption of a Uint8Array into an envelope.

import {
  abytes,
  encryptedBodyLength,
  FRAME_FINAL,
  FRAME_REGULAR,
  MAX_FRAME_INDEX,
  SealkitError,
} from "@sealkit/core";
import { InOrder } from "./lib/content-cipher.js";
import { checkEncryptOptions, type EncryptOptions, startMessage } from "./lib/message.js";

export type { EncryptOptions } from "./lib/message.js";

/**
 * Encrypts `plaintext` into a Sealkit envelope: a fresh data key from the providers, a content key and key
 * commitment derived from it, and the plaintext in frames of `frameSize` bytes.
 *
 * @example
 * const sealed = await encrypt(bytes, { providers: [rawKeyProvider({ keyId: "k1", key })], context: { tenant: "acme" } });
 * @throws {TypeError} when `plaintext` is not a Uint8Array, is a view of a SharedArrayBuffer or of a detached
 * buffer, or an option has the wrong type
 * @throws {RangeError} when `providers` is empty
 * @throws {SealkitError} ERR_UNSUPPORTED_SUITE, ERR_FRAME_SIZE, ERR_LIMIT_EXCEEDED (context or header too large,
 * too many frames), or a provider's error (ERR_ACCESS_DENIED, ERR_KEY_NOT_FOUND, ERR_PROVIDER_UNAVAILABLE, ...)
 */
export async function encrypt(plaintext: Uint8Array, options: EncryptOptions): Promise<Uint8Array> {
  abytes(plaintext, "plaintext");
  const checked = checkEncryptOptions(options);
  const { frameSize } = checked;
  const frameCount = plaintext.length === 0 ? 1 : Math.ceil(plaintext.length / frameSize);
  if (frameCount > MAX_FRAME_INDEX) {
    throw new SealkitError("ERR_LIMIT_EXCEEDED", "plaintext needs more than 2^32 - 1 frames");
  }
  const { header, cipher } = await startMessage(checked, plaintext.length);
  try {
    const out = new Uint8Array(header.length + encryptedBodyLength(plaintext.length, frameSize));
    out.set(header, 0);
    const view = new DataView(out.buffer);
    const inFlight = new InOrder<void>(cipher.window);
    let offset = header.length;
    for (let i = 0; i < frameCount; i++) {
      const final = i === frameCount - 1;
      const chunk = plaintext.subarray(i * frameSize, final ? plaintext.length : (i + 1) * frameSize);
      out[offset] = final ? FRAME_FINAL : FRAME_REGULAR;
      offset += 1;
      if (final) {
        view.setUint32(offset, chunk.length);
        offset += 4;
      }
      const pending = cipher.seal(i + 1, final, chunk, out, offset);
      if (pending) await inFlight.push(pending, () => {});
      offset += chunk.length + 16;
    }
    await inFlight.drain(() => {});
    return out;
  } finally {
    cipher.dispose();
  }
}
