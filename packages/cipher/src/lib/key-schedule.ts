// The envelope key schedule (docs/FORMAT.md "Key schedule") on libsodium's HKDF-SHA-256, in the WASM heap:
// one synchronous call instead of Web Crypto's importKey and two deriveBits round trips per message.

import { abytes, MESSAGE_ID_LENGTH, type Suite } from "@sealkit/core";
import { getSodium } from "./sodium.js";

const CONTENT_KEY_INFO = "SEALKIT-V1-CONTENT-KEY";
const COMMITMENT_INFO = "SEALKIT-V1-COMMITMENT";

/** The content key (wipe it when done) and the commitment of one message. */
export interface MessageKeys {
  readonly contentKey: Uint8Array;
  readonly commitment: Uint8Array;
}

function info(label: string, suite: Suite): Uint8Array {
  const out = new Uint8Array(label.length + 2);
  for (let i = 0; i < label.length; i++) out[i] = label.charCodeAt(i);
  out[label.length] = suite.id >> 8;
  out[label.length + 1] = suite.id & 0xff;
  return out;
}

/**
 * PRK = HKDF-Extract(SHA-256, salt = message id, IKM = data key); content key and commitment are
 * HKDF-Expand(PRK, label || suite id, 32). Gives the same bytes as core's reference `deriveMessageKeys`.
 * @throws {RangeError} when the data key or message id is not 32 bytes
 */
export async function deriveMessageKeys(
  dataKey: Uint8Array,
  messageId: Uint8Array,
  suite: Suite,
): Promise<MessageKeys> {
  abytes(dataKey, "dataKey", suite.keyLength);
  abytes(messageId, "messageId", MESSAGE_ID_LENGTH);
  const ctx = await getSodium();
  const { sodium } = ctx;
  const contentInfo = info(CONTENT_KEY_INFO, suite);
  const commitmentInfo = info(COMMITMENT_INFO, suite);
  // key: IKM, nonce region (24 bytes) is too small for the salt, so the salt goes in "aad".
  const ikm = ctx.region("key", 32);
  const salt = ctx.region("aad", Math.max(MESSAGE_ID_LENGTH, contentInfo.length, commitmentInfo.length));
  const prk = ctx.region("prk", 32);
  const out = ctx.region("output", 64);
  let heap = ctx.heap();
  heap.set(dataKey, ikm);
  heap.set(messageId, salt);
  sodium._crypto_kdf_hkdf_sha256_extract(prk, salt, MESSAGE_ID_LENGTH, ikm, 32);
  heap = ctx.heap();
  heap.fill(0, ikm, ikm + 32);
  heap.set(contentInfo, salt);
  sodium._crypto_kdf_hkdf_sha256_expand(out, 32, salt, contentInfo.length, prk);
  heap.set(commitmentInfo, salt);
  sodium._crypto_kdf_hkdf_sha256_expand(out + 32, 32, salt, commitmentInfo.length, prk);
  const contentKey = heap.slice(out, out + 32);
  const commitment = heap.slice(out + 32, out + 64);
  heap.fill(0, prk, prk + 32);
  heap.fill(0, out, out + 64);
  return { contentKey, commitment };
}
