// One message's AEAD under its content key: the header tag and the frames, for either suite.

import {
  AES_256_GCM,
  authenticationFailed,
  frameAad,
  frameNonce,
  type Suite,
  wipe,
  XCHACHA20_POLY1305,
} from "@sealkit/core";
import { aesGcmParams, importAesKey } from "../aead.js";
import { getSodium, type SodiumContext, sodiumOpen, sodiumSeal } from "./sodium.js";

/**
 * Seals and opens the frames of one message. XChaCha20-Poly1305 runs synchronously in the WASM heap;
 * AES-256-GCM runs on Web Crypto, where several calls in flight at once are much faster than one at a time,
 * so callers start several `seal`/`open` calls before awaiting the first (see `InOrder`).
 */
export interface ContentCipher {
  readonly suite: Suite;
  /** How many frames callers should keep in flight. */
  readonly window: number;
  /**
   * Encrypts `plaintext` as frame `index` into `out` at `offset` (ciphertext then tag). XChaCha20-Poly1305 works
   * synchronously and returns undefined (no promise per frame); AES-256-GCM returns a promise.
   */
  seal(
    index: number,
    final: boolean,
    plaintext: Uint8Array,
    out: Uint8Array,
    offset: number,
  ): Promise<void> | undefined;
  /**
   * Decrypts frame `index` into `out` at `offset`; writes nothing unless the tag verified. Synchronous (undefined)
   * or a promise, as `seal`.
   * @throws {SealkitError} ERR_AUTHENTICATION_FAILED (thrown, or the promise rejects)
   */
  open(
    index: number,
    final: boolean,
    ciphertextAndTag: Uint8Array,
    out: Uint8Array,
    offset: number,
  ): Promise<void> | undefined;
  /**
   * AES-256-GCM only (undefined for XChaCha20-Poly1305, which opens in place): decrypts frame `index` into a new
   * array, Web Crypto's own output, for callers that want the frame on its own (a stream): no copy, so no second
   * plaintext left behind unwiped.
   * @throws {SealkitError} ERR_AUTHENTICATION_FAILED (the promise rejects)
   */
  readonly openDetached?: (
    index: number,
    final: boolean,
    ciphertextAndTag: Uint8Array,
  ) => Promise<Uint8Array>;
  /** The header tag: the AEAD tag of the empty plaintext, nonce index 0, over `aad` (headerAad). */
  headerTag(aad: Uint8Array): Promise<Uint8Array>;
  /** Wipes the content key. The cipher cannot be used afterwards. */
  dispose(): void;
}

/** Frames in flight for AES-GCM; each holds one frame of input and output. */
const AES_WINDOW = 8;

/**
 * A cipher for one message under `contentKey`. The cipher keeps its own copy of the key: the caller may wipe
 * its copy at once.
 */
export async function createContentCipher(suite: Suite, contentKey: Uint8Array): Promise<ContentCipher> {
  if (suite.id === XCHACHA20_POLY1305.id) return xchachaCipher(await getSodium(), contentKey.slice());
  if (suite.id === AES_256_GCM.id) return aesCipher(await importAesKey(contentKey));
  throw new TypeError(`no cipher for suite ${suite.name}`);
}

function xchachaCipher(ctx: SodiumContext, key: Uint8Array): ContentCipher {
  const suite = XCHACHA20_POLY1305;
  let disposed = false;
  // One nonce buffer, rewritten per frame (calls are synchronous): zeros, then the index as a u64 big-endian.
  const nonce = new Uint8Array(suite.nonceLength);
  const nonceView = new DataView(nonce.buffer);
  const nonceFor = (index: number): Uint8Array => {
    if (disposed) throw new Error("content cipher used after dispose");
    nonceView.setUint32(suite.nonceLength - 8, Math.floor(index / 0x100000000));
    nonceView.setUint32(suite.nonceLength - 4, index >>> 0);
    return nonce;
  };
  return {
    suite,
    window: 1,
    seal(index, final, plaintext, out, offset) {
      sodiumSeal(ctx, "xchacha20poly1305", key, nonceFor(index), plaintext, frameAad(final), out, offset);
      return undefined;
    },
    open(index, final, ciphertextAndTag, out, offset) {
      const n = nonceFor(index);
      // The heap keeps the last frame's plaintext until dispose() wipes it: one wipe per message, not per frame.
      if (
        !sodiumOpen(ctx, "xchacha20poly1305", key, n, ciphertextAndTag, frameAad(final), out, offset, false)
      ) {
        throw authenticationFailed();
      }
      return undefined;
    },
    async headerTag(aad) {
      const tag = new Uint8Array(16);
      sodiumSeal(ctx, "xchacha20poly1305", key, nonceFor(0), new Uint8Array(0), aad, tag, 0);
      return tag;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      wipe(key);
      ctx.wipeRegion("data");
    },
  };
}

function aesCipher(key: CryptoKey): ContentCipher {
  const suite = AES_256_GCM;
  // A non-extractable CryptoKey cannot be wiped; dropping the reference is all Web Crypto allows.
  let current: CryptoKey | undefined = key;
  const use = (): CryptoKey => {
    if (!current) throw new Error("content cipher used after dispose");
    return current;
  };
  const openDetached = async (index: number, final: boolean, ciphertextAndTag: Uint8Array) => {
    const params = aesGcmParams(frameNonce(suite, index), frameAad(final));
    // Outside the try: a cipher used after dispose is a bug to report as such, not a forged frame.
    const key = use();
    try {
      return new Uint8Array(await crypto.subtle.decrypt(params, key, ciphertextAndTag as BufferSource));
    } catch {
      throw authenticationFailed();
    }
  };
  return {
    suite,
    window: AES_WINDOW,
    async seal(index, final, plaintext, out, offset) {
      const params = aesGcmParams(frameNonce(suite, index), frameAad(final));
      const sealed = await crypto.subtle.encrypt(params, use(), plaintext as BufferSource);
      out.set(new Uint8Array(sealed), offset);
    },
    async open(index, final, ciphertextAndTag, out, offset) {
      out.set(await openDetached(index, final, ciphertextAndTag), offset);
    },
    openDetached,
    async headerTag(aad) {
      const params = aesGcmParams(frameNonce(suite, 0), aad);
      return new Uint8Array(await crypto.subtle.encrypt(params, use(), new Uint8Array(0)));
    },
    dispose() {
      current = undefined;
    },
  };
}

/**
 * Runs tasks with at most `window` in flight and hands their results back in the order they were started.
 * A failed task fails `drain`/`push` in order; tasks after it are still awaited so none rejects unobserved.
 */
export class InOrder<T> {
  readonly #pending: Promise<T>[] = [];
  constructor(readonly window: number) {}

  get size(): number {
    return this.#pending.length;
  }

  /** Starts a task; when the window is full, first waits for (and emits) the oldest. */
  async push(task: Promise<T>, emit: (value: T) => void): Promise<void> {
    // Mark rejections as handled now: they are rethrown in order by the await below.
    task.catch(() => {});
    this.#pending.push(task);
    while (this.#pending.length >= this.window) emit(await this.#pending.shift()!);
  }

  /** Waits for every task in order, emitting each result. */
  async drain(emit: (value: T) => void): Promise<void> {
    while (this.#pending.length > 0) emit(await this.#pending.shift()!);
  }

  /**
   * Forgets the tasks in flight (after a failure), once they have settled: a task still running may write into the
   * caller's output, which the caller wipes only after this resolves.
   */
  async abandon(): Promise<void> {
    const running = this.#pending.splice(0);
    await Promise.allSettled(running);
  }
}
