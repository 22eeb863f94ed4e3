// An independent implementation of the envelope's cryptography on node:crypto and libsodium: HKDF (RFC 5869 on
// HMAC), AES-256-GCM, XChaCha20-Poly1305, the raw provider's key wrap. It shares no code with @sealkit/core or
// @sealkit/cipher beyond the header codec, so vectors it writes check those packages rather than echo them.

import { createCipheriv, createDecipheriv, createHash, createHmac } from "node:crypto";
import sodium from "libsodium-wrappers";

/** Suite ids and nonce lengths, from docs/FORMAT.md "Suites". */
export const SUITES = {
  XCHACHA20_POLY1305: { id: 0x0001, nonceLength: 24 },
  AES_256_GCM: { id: 0x0002, nonceLength: 12 },
};

export async function ready() {
  await sodium.ready;
}

/** HKDF-Extract then HKDF-Expand with SHA-256, RFC 5869, written out. */
export function hkdf(salt, ikm, info, length) {
  const prk = createHmac("sha256", salt).update(ikm).digest();
  const blocks = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; blocks.length * 32 < length; i++) {
    previous = createHmac("sha256", prk)
      .update(Buffer.concat([previous, Buffer.from(info), Buffer.from([i])]))
      .digest();
    blocks.push(previous);
  }
  return new Uint8Array(Buffer.concat(blocks).subarray(0, length));
}

function suiteInfo(label, suiteName) {
  const id = SUITES[suiteName].id;
  return Buffer.concat([Buffer.from(label, "ascii"), Buffer.from([id >> 8, id & 0xff])]);
}

/** Content key and commitment, docs/FORMAT.md "Key schedule". */
export function messageKeys(dataKey, messageId, suiteName) {
  return {
    contentKey: hkdf(messageId, dataKey, suiteInfo("SEALKIT-V1-CONTENT-KEY", suiteName), 32),
    commitment: hkdf(messageId, dataKey, suiteInfo("SEALKIT-V1-COMMITMENT", suiteName), 32),
  };
}

/** Zero bytes with the index as a big-endian u64 in the last eight. */
export function nonce(suiteName, index) {
  const out = Buffer.alloc(SUITES[suiteName].nonceLength);
  out.writeBigUInt64BE(BigInt(index), out.length - 8);
  return out;
}

/** AEAD seal: ciphertext || 16-byte tag. */
export function seal(suiteName, key, index, aad, plaintext) {
  const iv = nonce(suiteName, index);
  if (suiteName === "AES_256_GCM") {
    const c = createCipheriv("aes-256-gcm", key, iv);
    c.setAAD(aad);
    return new Uint8Array(Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]));
  }
  return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, iv, key);
}

/** AEAD open; returns undefined when the tag does not verify. */
export function open(suiteName, key, index, aad, sealed) {
  const iv = nonce(suiteName, index);
  if (sealed.length < 16) return undefined;
  try {
    if (suiteName === "AES_256_GCM") {
      const d = createDecipheriv("aes-256-gcm", key, iv);
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      return new Uint8Array(Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]));
    }
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed, aad, iv, key);
  } catch {
    return undefined;
  }
}

/** Canonical context encoding, written independently of core (docs/FORMAT.md "Encryption context"). */
export function encodeContextIndependently(context) {
  const pairs = Object.entries(context)
    .map(([k, v]) => [Buffer.from(k, "utf8"), Buffer.from(v, "utf8")])
    .sort((a, b) => Buffer.compare(a[0], b[0]));
  const parts = [u16(pairs.length)];
  for (const [k, v] of pairs) parts.push(u16(k.length), k, u16(v.length), v);
  return new Uint8Array(Buffer.concat(parts));
}

/** The raw provider's wrap aad: "SEALKIT-RAW-V1" || u16 keyId length || keyId || canonical context. */
export function rawAad(keyId, context) {
  const id = Buffer.from(keyId, "utf8");
  return Buffer.concat([
    Buffer.from("SEALKIT-RAW-V1", "ascii"),
    u16(id.length),
    id,
    encodeContextIndependently(context),
  ]);
}

/** Raw wrap with a given nonce: nonce || AES-256-GCM(key, nonce, dataKey, aad). */
export function rawWrap(key, keyId, context, dataKey, wrapNonce) {
  const c = createCipheriv("aes-256-gcm", key, wrapNonce);
  c.setAAD(rawAad(keyId, context));
  return new Uint8Array(Buffer.concat([wrapNonce, c.update(dataKey), c.final(), c.getAuthTag()]));
}

/** Raw unwrap; undefined on any failure. */
export function rawUnwrap(key, keyId, context, ciphertext) {
  if (ciphertext.length !== 60) return undefined;
  try {
    const d = createDecipheriv("aes-256-gcm", key, ciphertext.subarray(0, 12));
    d.setAAD(rawAad(keyId, context));
    d.setAuthTag(ciphertext.subarray(44));
    return new Uint8Array(Buffer.concat([d.update(ciphertext.subarray(12, 44)), d.final()]));
  } catch {
    return undefined;
  }
}

/** Deterministic bytes: SHA-256 in counter mode over a label. */
export function derived(label, length) {
  const blocks = [];
  for (let i = 0; blocks.length * 32 < length; i++) {
    blocks.push(createHash("sha256").update(`${label}#${i}`).digest());
  }
  return new Uint8Array(Buffer.concat(blocks).subarray(0, length));
}

export function u16(n) {
  return Buffer.from([n >> 8, n & 0xff]);
}

export function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export const hex = (bytes) => Buffer.from(bytes).toString("hex");
export const unhex = (text) => new Uint8Array(Buffer.from(text, "hex"));
