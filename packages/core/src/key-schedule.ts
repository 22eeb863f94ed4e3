// The envelope key schedule (docs/FORMAT.md section "Key schedule"): content key and key commitment from the data key.

import { abytes } from "./assert.js";
import { concatBytes } from "./bytes.js";
import { MESSAGE_ID_LENGTH } from "./header.js";
import type { Suite } from "./suites.js";

/** The info prefix of the content key's HKDF-Expand, followed by the suite id (u16 big-endian). */
export const CONTENT_KEY_INFO = "SEALKIT-V1-CONTENT-KEY";
/** The info prefix of the commitment's HKDF-Expand, followed by the suite id (u16 big-endian). */
export const COMMITMENT_INFO = "SEALKIT-V1-COMMITMENT";

/** The two values derived from a data key for one message. Wipe `contentKey` when done. */
export interface MessageKeys {
  /** The AEAD key of the header tag and every frame (32 bytes). */
  readonly contentKey: Uint8Array;
  /** The key commitment stored in the header (32 bytes). */
  readonly commitment: Uint8Array;
}

/** ASCII label followed by the suite id as a big-endian u16. */
export function keyScheduleInfo(label: string, suite: Suite): Uint8Array {
  const ascii = new Uint8Array(label.length);
  for (let i = 0; i < label.length; i++) ascii[i] = label.charCodeAt(i);
  return concatBytes(ascii, new Uint8Array([suite.id >> 8, suite.id & 0xff]));
}

/**
 * Derives the content key and the key commitment of one message:
 * PRK = HKDF-Extract(SHA-256, salt = message id, IKM = data key);
 * content key = HKDF-Expand(PRK, "SEALKIT-V1-CONTENT-KEY" || suite id, 32);
 * commitment = HKDF-Expand(PRK, "SEALKIT-V1-COMMITMENT" || suite id, 32).
 *
 * This is the reference implementation on Web Crypto; any faster one must give the same bytes
 * (test-vectors/envelopes-v1.json checks it).
 * @throws {TypeError} when the data key is not 32 bytes or the message id not 32 bytes (RangeError for lengths)
 */
export async function deriveMessageKeys(
  dataKey: Uint8Array,
  messageId: Uint8Array,
  suite: Suite,
): Promise<MessageKeys> {
  abytes(dataKey, "dataKey", suite.keyLength);
  abytes(messageId, "messageId", MESSAGE_ID_LENGTH);
  const ikm = await crypto.subtle.importKey("raw", dataKey as BufferSource, "HKDF", false, ["deriveBits"]);
  const expand = async (label: string): Promise<Uint8Array> =>
    new Uint8Array(
      await crypto.subtle.deriveBits(
        {
          name: "HKDF",
          hash: "SHA-256",
          salt: messageId as BufferSource,
          info: keyScheduleInfo(label, suite) as BufferSource,
        },
        ikm,
        256,
      ),
    );
  const [contentKey, commitment] = await Promise.all([expand(CONTENT_KEY_INFO), expand(COMMITMENT_INFO)]);
  return { contentKey, commitment };
}
