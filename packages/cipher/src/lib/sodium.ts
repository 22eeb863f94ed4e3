// The raw libsodium WebAssembly module: loaded once, lazily, and used through reusable heap buffers.

import { loadSodiumModule } from "./load-sodium.js";

/** The part of the raw (Emscripten) libsodium module Sealkit calls. Lengths of size_t are i32 on wasm32. */
export interface Sodium {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(pointer: number): void;
  _sodium_init(): number;
  // (c, clen_p, m, mlen_lo, mlen_hi, ad, adlen_lo, adlen_hi, nsec, npub, k)
  _crypto_aead_xchacha20poly1305_ietf_encrypt(...args: number[]): number;
  // (m, mlen_p, nsec, c, clen_lo, clen_hi, ad, adlen_lo, adlen_hi, npub, k)
  _crypto_aead_xchacha20poly1305_ietf_decrypt(...args: number[]): number;
  _crypto_aead_chacha20poly1305_ietf_encrypt(...args: number[]): number;
  _crypto_aead_chacha20poly1305_ietf_decrypt(...args: number[]): number;
  // (prk, salt, salt_len, ikm, ikm_len)
  _crypto_kdf_hkdf_sha256_extract(
    prk: number,
    salt: number,
    saltLen: number,
    ikm: number,
    ikmLen: number,
  ): number;
  // (out, out_len, ctx, ctx_len, prk)
  _crypto_kdf_hkdf_sha256_expand(
    out: number,
    outLen: number,
    ctx: number,
    ctxLen: number,
    prk: number,
  ): number;
}

/** A region of the WASM heap that grows on demand and is reused by every call. */
interface Region {
  pointer: number;
  size: number;
}

/** The loaded module with its scratch regions. Calls on it are synchronous, so async callers never interleave. */
export interface SodiumContext {
  readonly sodium: Sodium;
  /** A scratch region of at least `size` bytes: valid until the next call that may allocate. */
  region(name: RegionName, size: number): number;
  /** The current heap view (it changes when the memory grows). */
  heap(): Uint8Array;
  /** Zeroes a region (plaintext left in the heap by the last decryption). */
  wipeRegion(name: RegionName): void;
}

type RegionName = "key" | "nonce" | "aad" | "data" | "output" | "prk";

let loading: Promise<SodiumContext> | undefined;

/**
 * The libsodium module, instantiated on first use (never at import time: workerd forbids randomness and
 * WASM instantiation in global scope).
 */
export function getSodium(): Promise<SodiumContext> {
  if (!loading) {
    loading = instantiate();
    // A failed load (for example a missing .wasm module) may be retried by a later call.
    loading.catch(() => {
      loading = undefined;
    });
  }
  return loading;
}

async function instantiate(): Promise<SodiumContext> {
  const sodium = (await loadSodiumModule({
    getRandomValue: () => {
      const word = new Uint32Array(1);
      crypto.getRandomValues(word);
      return word[0]! >>> 0;
    },
  })) as Sodium;
  if (sodium._sodium_init() < 0) throw new Error("libsodium failed to initialize");
  const regions = new Map<RegionName, Region>();
  return {
    sodium,
    heap: () => sodium.HEAPU8,
    wipeRegion(name) {
      const region = regions.get(name);
      if (region) sodium.HEAPU8.fill(0, region.pointer, region.pointer + region.size);
    },
    region(name, size) {
      let region = regions.get(name);
      if (!region || region.size < size) {
        if (region) {
          sodium.HEAPU8.fill(0, region.pointer, region.pointer + region.size);
          sodium._free(region.pointer);
        }
        // Round up so that a stream of slightly growing sizes does not reallocate every time.
        const rounded = Math.max(64, 2 ** Math.ceil(Math.log2(size)));
        region = { pointer: sodium._malloc(rounded), size: rounded };
        if (region.pointer === 0) throw new RangeError(`libsodium could not allocate ${rounded} bytes`);
        regions.set(name, region);
      }
      return region.pointer;
    },
  };
}

/** Which libsodium AEAD: XChaCha20-Poly1305 (24-byte nonce) or ChaCha20-Poly1305 IETF (12-byte nonce). */
export type SodiumAead = "xchacha20poly1305" | "chacha20poly1305";

/**
 * Encrypts `plaintext` into `out` at `offset` (ciphertext then 16-byte tag), working in place in one heap
 * region: copy in, encrypt, copy out, with no allocation. The key is wiped from the heap before returning; the
 * region holds only ciphertext afterwards.
 */
export function sodiumSeal(
  ctx: SodiumContext,
  aead: SodiumAead,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array | undefined,
  out: Uint8Array,
  offset: number,
): void {
  const { sodium } = ctx;
  const adLength = aad?.length ?? 0;
  const k = ctx.region("key", 32);
  const n = ctx.region("nonce", 24);
  const a = ctx.region("aad", Math.max(adLength, 1));
  const d = ctx.region("data", plaintext.length + 16);
  const heap = ctx.heap();
  heap.set(key, k);
  heap.set(nonce, n);
  if (aad) heap.set(aad, a);
  heap.set(plaintext, d);
  const fn =
    aead === "xchacha20poly1305"
      ? sodium._crypto_aead_xchacha20poly1305_ietf_encrypt
      : sodium._crypto_aead_chacha20poly1305_ietf_encrypt;
  // libsodium's AEAD encryption may work in place (c == m).
  const rc = fn(d, 0, d, plaintext.length, 0, a, adLength, 0, 0, n, k);
  heap.fill(0, k, k + 32);
  if (rc !== 0) throw new Error("libsodium refused to encrypt");
  out.set(heap.subarray(d, d + plaintext.length + 16), offset);
}

/**
 * Decrypts `ciphertextAndTag` into `out` at `offset`, in place in one heap region. Returns false when the tag
 * does not verify, in which case nothing is written to `out`. The plaintext stays in the heap region until the
 * next call overwrites it or `wipe` is set: callers decrypting many frames wipe the region once at the end.
 */
export function sodiumOpen(
  ctx: SodiumContext,
  aead: SodiumAead,
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertextAndTag: Uint8Array,
  aad: Uint8Array | undefined,
  out: Uint8Array,
  offset: number,
  wipe = true,
): boolean {
  const { sodium } = ctx;
  const adLength = aad?.length ?? 0;
  const length = ciphertextAndTag.length - 16;
  const k = ctx.region("key", 32);
  const n = ctx.region("nonce", 24);
  const a = ctx.region("aad", Math.max(adLength, 1));
  const d = ctx.region("data", ciphertextAndTag.length);
  const heap = ctx.heap();
  heap.set(key, k);
  heap.set(nonce, n);
  if (aad) heap.set(aad, a);
  heap.set(ciphertextAndTag, d);
  const fn =
    aead === "xchacha20poly1305"
      ? sodium._crypto_aead_xchacha20poly1305_ietf_decrypt
      : sodium._crypto_aead_chacha20poly1305_ietf_decrypt;
  // Decryption verifies the tag before it writes any plaintext, so in place (m == c) is safe.
  const rc = fn(d, 0, 0, d, ciphertextAndTag.length, 0, a, adLength, 0, n, k);
  heap.fill(0, k, k + 32);
  if (rc !== 0) return false;
  out.set(heap.subarray(d, d + length), offset);
  if (wipe) heap.fill(0, d, d + length);
  return true;
}
