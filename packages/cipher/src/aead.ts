// The AEAD primitives under the envelope suites, exported so they can be checked against published vectors:
// XChaCha20-Poly1305 and ChaCha20-Poly1305 (IETF) on libsodium's WebAssembly, AES-256-GCM on Web Crypto.

import { abytes, authenticationFailed } from "@sealkit/core";
import { getSodium, type SodiumAead, sodiumOpen, sodiumSeal } from "./lib/sodium.js";

/** An AEAD cipher with fixed parameters, in the style of noble-ciphers. */
export interface Aead {
  /** Key length in bytes. */
  readonly keyLength: number;
  /** Nonce length in bytes. */
  readonly nonceLength: number;
  /** Tag length in bytes. */
  readonly tagLength: number;
  /**
   * Encrypts and returns ciphertext followed by the tag.
   * @throws {TypeError} when an argument is not a Uint8Array, or is a view of a SharedArrayBuffer or a detached buffer
   * @throws {RangeError} when the key or nonce has the wrong length
   */
  encrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array>;
  /**
   * Verifies the tag and returns the plaintext.
   * @throws {SealkitError} ERR_AUTHENTICATION_FAILED when the tag does not verify
   * @throws {TypeError} when an argument is not a Uint8Array, or is a view of a SharedArrayBuffer or a detached buffer
   * @throws {RangeError} when the key or nonce has the wrong length, or the input is shorter than a tag
   */
  decrypt(
    key: Uint8Array,
    nonce: Uint8Array,
    ciphertextAndTag: Uint8Array,
    aad?: Uint8Array,
  ): Promise<Uint8Array>;
}

const TAG_LENGTH = 16;

function checkArgs(
  key: unknown,
  nonce: unknown,
  data: unknown,
  dataName: string,
  aad: unknown,
  nonceLength: number,
): void {
  abytes(key, "key", 32);
  abytes(nonce, "nonce", nonceLength);
  abytes(data, dataName);
  if (aad !== undefined) abytes(aad, "aad");
}

function checkTagged(data: Uint8Array): void {
  if (data.length < TAG_LENGTH) {
    throw new RangeError(
      `"ciphertextAndTag" expected Uint8Array of length at least ${TAG_LENGTH}, got length=${data.length}`,
    );
  }
}

function sodiumAead(aead: SodiumAead, nonceLength: number): Aead {
  return Object.freeze({
    keyLength: 32,
    nonceLength,
    tagLength: TAG_LENGTH,
    async encrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array) {
      checkArgs(key, nonce, plaintext, "plaintext", aad, nonceLength);
      const ctx = await getSodium();
      const out = new Uint8Array(plaintext.length + TAG_LENGTH);
      sodiumSeal(ctx, aead, key, nonce, plaintext, aad, out, 0);
      return out;
    },
    async decrypt(key: Uint8Array, nonce: Uint8Array, ciphertextAndTag: Uint8Array, aad?: Uint8Array) {
      checkArgs(key, nonce, ciphertextAndTag, "ciphertextAndTag", aad, nonceLength);
      checkTagged(ciphertextAndTag);
      const ctx = await getSodium();
      const out = new Uint8Array(ciphertextAndTag.length - TAG_LENGTH);
      if (!sodiumOpen(ctx, aead, key, nonce, ciphertextAndTag, aad, out, 0)) throw authenticationFailed();
      return out;
    },
  });
}

/** XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha): 32-byte key, 24-byte nonce, 16-byte tag, on libsodium. */
export const xchacha20poly1305: Aead = sodiumAead("xchacha20poly1305", 24);

/** ChaCha20-Poly1305 (RFC 8439): 32-byte key, 12-byte nonce, 16-byte tag, on libsodium. */
export const chacha20poly1305: Aead = sodiumAead("chacha20poly1305", 12);

/** Imports a raw AES-256 key for Web Crypto AES-GCM. */
export function importAesKey(key: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", key as BufferSource, { name: "AES-GCM" }, false, [
    "encrypt",
    "decrypt",
  ]);
}

/** AES-GCM parameters for Web Crypto. */
export function aesGcmParams(nonce: Uint8Array, aad: Uint8Array | undefined): AesGcmParams {
  const params: AesGcmParams = { name: "AES-GCM", iv: nonce as BufferSource, tagLength: 128 };
  if (aad && aad.length > 0) params.additionalData = aad as BufferSource;
  return params;
}

/** AES-256-GCM (NIST SP 800-38D): 32-byte key, 12-byte nonce, 16-byte tag, on Web Crypto. */
export const aes256gcm: Aead = Object.freeze({
  keyLength: 32,
  nonceLength: 12,
  tagLength: TAG_LENGTH,
  async encrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array) {
    checkArgs(key, nonce, plaintext, "plaintext", aad, 12);
    const cryptoKey = await importAesKey(key);
    return new Uint8Array(
      await crypto.subtle.encrypt(aesGcmParams(nonce, aad), cryptoKey, plaintext as BufferSource),
    );
  },
  async decrypt(key: Uint8Array, nonce: Uint8Array, ciphertextAndTag: Uint8Array, aad?: Uint8Array) {
    checkArgs(key, nonce, ciphertextAndTag, "ciphertextAndTag", aad, 12);
    checkTagged(ciphertextAndTag);
    const cryptoKey = await importAesKey(key);
    try {
      return new Uint8Array(
        await crypto.subtle.decrypt(aesGcmParams(nonce, aad), cryptoKey, ciphertextAndTag as BufferSource),
      );
    } catch {
      throw authenticationFailed();
    }
  },
});
