// Key commitment, attacked for real: an AES-256-GCM envelope whose header tag and frame authenticate under two
// different content keys (derived from two data keys with the format's key schedule), built with the
// "invisible salamanders" multi-key collision (GHASH is affine in the bits it hashes, so free bits can be solved
// for over GF(2)). Each data key is wrapped for its own recipient. The raw AEAD accepts the body under both keys;
// only the key commitment in the header tells them apart, and Sealkit must refuse the second recipient before it
// releases anything.

import {
  AES_256_GCM,
  concatBytes,
  deriveMessageKeys,
  type EncryptionContext,
  encodeAuthenticatedHeader,
  encodeHeader,
  equalBytes,
  frameNonce,
  randomBytes,
  SealkitError,
} from "@sealkit/core";
import { afterAll, expect, describe as suite, test } from "vitest";
import { aes256gcm, decrypt, decryptStream } from "../index.js";
import { describe, rawRecipient, runs, runTransform, TEST_TIMEOUT } from "./helpers.js";

// ---- GF(2^128) and GHASH (NIST SP 800-38D, section 6.3 and 6.4), on BigInt in GCM's bit order ----

const R = 0xe1n << 120n;
const MASK128 = (1n << 128n) - 1n;

/** X * Y in GF(2^128) with GCM's reflected bit order (bit 0 is the most significant bit of byte 0). */
function gfMul(x: bigint, y: bigint): bigint {
  let z = 0n;
  let v = y;
  for (let i = 127n; i >= 0n; i--) {
    if ((x >> i) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ R : v >> 1n;
  }
  return z & MASK128;
}

const toBig = (block: Uint8Array): bigint => {
  let n = 0n;
  for (const b of block) n = (n << 8n) | BigInt(b);
  return n;
};
const toBlock = (n: bigint): Uint8Array => {
  const out = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
};

/** GHASH_H over A and C, each zero-padded to whole blocks, then len(A) || len(C) in bits. */
function ghash(h: bigint, aad: Uint8Array, ciphertext: Uint8Array): bigint {
  let y = 0n;
  const absorb = (data: Uint8Array) => {
    for (let i = 0; i < data.length; i += 16) {
      const block = new Uint8Array(16);
      block.set(data.subarray(i, i + 16));
      y = gfMul(y ^ toBig(block), h);
    }
  };
  absorb(aad);
  absorb(ciphertext);
  y = gfMul(y ^ ((BigInt(aad.length * 8) << 64n) | BigInt(ciphertext.length * 8)), h);
  return y;
}

/** The two per-key values of GCM with a 96-bit nonce: H = E_K(0^128) and E_K(J0), from Web Crypto alone. */
interface GcmKey {
  readonly key: Uint8Array;
  readonly h: bigint;
  readonly ej0: bigint;
}

async function gcmKey(key: Uint8Array, nonce: Uint8Array): Promise<GcmKey> {
  const ctr = await crypto.subtle.importKey("raw", key as BufferSource, "AES-CTR", false, ["encrypt"]);
  const h = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-CTR", counter: new Uint8Array(16), length: 64 },
      ctr,
      new Uint8Array(16),
    ),
  );
  // the GCM tag of an empty message with empty AAD is E_K(J0) xor GHASH(0 || 0) = E_K(J0)
  const ej0 = await aes256gcm.encrypt(key, nonce, new Uint8Array(0));
  return { key, h: toBig(h), ej0: toBig(ej0) };
}

const tagOf = (k: GcmKey, aad: Uint8Array, ciphertext: Uint8Array): bigint =>
  k.ej0 ^ ghash(k.h, aad, ciphertext);

/**
 * Finds values for the free bits of `bytes` (positions [byte, bit]) so that `f(bytes) = 0`, where f is affine
 * over GF(2) in those bits (here: tag under K1 xor tag under K2). Gaussian elimination on 128-bit columns.
 * Returns the solved copy, or undefined when the free bits do not span the target.
 */
function solveAffine(
  bytes: Uint8Array,
  free: readonly (readonly [number, number])[],
  f: (b: Uint8Array) => bigint,
): Uint8Array | undefined {
  const f0 = f(bytes);
  const basis = new Map<number, { vec: bigint; mask: bigint }>();
  const highBit = (v: bigint): number => v.toString(2).length - 1;
  free.forEach(([byte, bit], j) => {
    const flipped = bytes.slice();
    flipped[byte] = (flipped[byte] as number) ^ (1 << bit);
    let vec = f(flipped) ^ f0;
    let mask = 1n << BigInt(j);
    while (vec !== 0n) {
      const p = highBit(vec);
      const row = basis.get(p);
      if (!row) {
        basis.set(p, { vec, mask });
        return;
      }
      vec ^= row.vec;
      mask ^= row.mask;
    }
  });
  let target = f0;
  let chosen = 0n;
  while (target !== 0n) {
    const row = basis.get(highBit(target));
    if (!row) return undefined;
    target ^= row.vec;
    chosen ^= row.mask;
  }
  const out = bytes.slice();
  free.forEach(([byte, bit], j) => {
    if ((chosen >> BigInt(j)) & 1n) out[byte] = (out[byte] as number) ^ (1 << bit);
  });
  return out;
}

// ---- the crafted envelope ----

interface Crafted {
  readonly envelope: Uint8Array;
  readonly plaintext1: Uint8Array;
  readonly plaintext2: Uint8Array;
  readonly contentKey1: Uint8Array;
  readonly contentKey2: Uint8Array;
  readonly headerAad: Uint8Array;
  readonly headerTag: Uint8Array;
  readonly frameSealed: Uint8Array;
  readonly headerFreeBits: number;
}

const FRAME_SIZE = 64;
const BODY_LENGTH = 48; // three GCM blocks; the middle one is the free block
const FLAG_FINAL = new Uint8Array([0x01]);

async function craft(): Promise<Crafted> {
  const suite = AES_256_GCM;
  const dataKey1 = randomBytes(32);
  const dataKey2 = randomBytes(32);
  const messageId = randomBytes(32);
  const keys1 = await deriveMessageKeys(dataKey1, messageId, suite);
  const keys2 = await deriveMessageKeys(dataKey2, messageId, suite);
  expect(equalBytes(keys1.contentKey, keys2.contentKey)).toBe(false);
  expect(equalBytes(keys1.commitment, keys2.commitment)).toBe(false);

  // Header tag: AEAD of the empty plaintext with aad = authenticated header || commitment(key 1). The free bits
  // are the low six bits of each character of a context value in 0x40..0x7F (valid UTF-8, so the context still
  // parses): 40 characters give 240 unknowns for 128 equations.
  const nonce0 = frameNonce(suite, 0);
  const g1h = await gcmKey(keys1.contentKey, nonce0);
  const g2h = await gcmKey(keys2.contentKey, nonce0);
  const value0 = "@".repeat(40);
  const context0: EncryptionContext = { salamander: value0 };
  const auth0 = encodeAuthenticatedHeader({ suite, frameSize: FRAME_SIZE, messageId, context: context0 });
  const aad0 = concatBytes(auth0, keys1.commitment);
  const valueAt = auth0.length - value0.length; // the single value is the last field of the header
  const headerFree: [number, number][] = [];
  for (let i = 0; i < value0.length; i++)
    for (let bit = 0; bit < 6; bit++) headerFree.push([valueAt + i, bit]);
  const aad = solveAffine(
    aad0,
    headerFree,
    (a) => tagOf(g1h, a, new Uint8Array(0)) ^ tagOf(g2h, a, new Uint8Array(0)),
  );
  if (!aad) throw new Error("the header's free bits did not span GF(2)^128 (retry)");
  const value = new TextDecoder("utf-8", { fatal: true }).decode(
    aad.subarray(valueAt, valueAt + value0.length),
  );
  const authenticated = encodeAuthenticatedHeader({
    suite,
    frameSize: FRAME_SIZE,
    messageId,
    context: { salamander: value },
  });
  expect(equalBytes(concatBytes(authenticated, keys1.commitment), aad)).toBe(true);
  const headerTag = toBlock(tagOf(g1h, aad, new Uint8Array(0)));
  expect(tagOf(g2h, aad, new Uint8Array(0))).toBe(toBig(headerTag));

  // Frame 1 (final, 48 bytes): a ciphertext whose middle block is solved so that both tags coincide.
  const nonce1 = frameNonce(suite, 1);
  const g1f = await gcmKey(keys1.contentKey, nonce1);
  const g2f = await gcmKey(keys2.contentKey, nonce1);
  const frameFree: [number, number][] = [];
  for (let byte = 16; byte < 32; byte++) for (let bit = 0; bit < 8; bit++) frameFree.push([byte, bit]);
  const ciphertext = solveAffine(
    randomBytes(BODY_LENGTH),
    frameFree,
    (c) => tagOf(g1f, FLAG_FINAL, c) ^ tagOf(g2f, FLAG_FINAL, c),
  );
  if (!ciphertext) throw new Error("one free block always solves unless H1^k = H2^k");
  const frameSealed = concatBytes(ciphertext, toBlock(tagOf(g1f, FLAG_FINAL, ciphertext)));

  // The raw AEAD accepts both under each content key: the collision is real, not an artefact of our GHASH.
  const plaintext1 = await aes256gcm.decrypt(keys1.contentKey, nonce1, frameSealed, FLAG_FINAL);
  const plaintext2 = await aes256gcm.decrypt(keys2.contentKey, nonce1, frameSealed, FLAG_FINAL);

  const context = { salamander: value };
  const [edk1] = await rawRecipient(1).encryptDataKey({ context, plaintext: dataKey1 });
  const [edk2] = await rawRecipient(2).encryptDataKey({ context, plaintext: dataKey2 });
  if (!edk1 || !edk2) throw new Error("raw provider returned no encrypted data key");
  const header = encodeHeader(authenticated, keys1.commitment, headerTag, [edk1, edk2]);
  const finalHeader = new Uint8Array([0x01, 0, 0, 0, BODY_LENGTH]);
  const envelope = concatBytes(header, finalHeader, frameSealed);
  return {
    envelope,
    plaintext1,
    plaintext2,
    contentKey1: keys1.contentKey,
    contentKey2: keys2.contentKey,
    headerAad: aad,
    headerTag,
    frameSealed,
    headerFreeBits: headerFree.length,
  };
}

const figures: string[] = [];
afterAll(() => {
  console.log(`key commitment (multi-key GCM collision)\n${figures.join("\n")}`);
});

suite("key commitment: a body that authenticates under two data keys is refused for the second", () => {
  test("GHASH on BigInt matches Web Crypto's AES-GCM tags (so the construction is about real GCM)", async () => {
    for (let i = 0; i < 8; i++) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const aad = randomBytes(i * 7);
      const pt = randomBytes(i * 11);
      const sealed = await aes256gcm.encrypt(key, nonce, pt, aad);
      const g = await gcmKey(key, nonce);
      expect(toBlock(tagOf(g, aad, sealed.subarray(0, pt.length)))).toEqual(sealed.subarray(pt.length));
    }
  }, 60_000);

  test(
    "the crafted envelope: both keys authenticate; recipient 1 decrypts; recipient 2 fails at the commitment",
    async () => {
      const rounds = runs(3).numRuns; // 75 under SEALKIT_SOAK=1
      for (let round = 0; round < rounds; round++) {
        const c = await craft();
        // the raw AEAD accepts the header tag and the frame under both content keys, with two different plaintexts
        for (const key of [c.contentKey1, c.contentKey2]) {
          expect(
            (await aes256gcm.decrypt(key, frameNonce(AES_256_GCM, 0), c.headerTag, c.headerAad)).length,
          ).toBe(0);
        }
        expect(equalBytes(c.plaintext1, c.plaintext2)).toBe(false);

        // recipient 1 opens data key 1, whose commitment is in the header: the envelope decrypts to plaintext 1
        const one = await decrypt(c.envelope, { providers: [rawRecipient(1)] });
        expect(equalBytes(one.plaintext, c.plaintext1)).toBe(true);
        const streamedOne = await runTransform(
          decryptStream({ providers: [rawRecipient(1)] }),
          c.envelope,
          [7],
        );
        expect(describe(streamedOne.error)).toBe("undefined");
        expect(equalBytes(streamedOne.released, c.plaintext1)).toBe(true);

        // recipient 2 opens data key 2: the header tag and the frame would authenticate, the commitment does not
        let error: unknown;
        try {
          await decrypt(c.envelope, { providers: [rawRecipient(2)] });
        } catch (e) {
          error = e;
        }
        expect(SealkitError.isInstance(error, "ERR_AUTHENTICATION_FAILED"), describe(error)).toBe(true);
        for (const sizes of [[1], [13], [c.envelope.length]]) {
          let headerSeen = false;
          const streamed = await runTransform(
            decryptStream({ providers: [rawRecipient(2)], onHeader: () => (headerSeen = true) }),
            c.envelope,
            sizes,
          );
          expect(
            SealkitError.isInstance(streamed.error, "ERR_AUTHENTICATION_FAILED"),
            describe(streamed.error),
          ).toBe(true);
          expect(streamed.released.length).toBe(0);
          expect(headerSeen).toBe(false);
        }
        // both recipients together: the first key in header order that a provider opens is key 1, which decrypts
        const both = await decrypt(c.envelope, { providers: [rawRecipient(2), rawRecipient(1)] });
        expect(equalBytes(both.plaintext, c.plaintext1)).toBe(true);
        if (round === 0) {
          figures.push(
            `  header free bits: ${c.headerFreeBits} (40 context characters x 6 bits), frame free bits: 128`,
            `  envelope: ${c.envelope.length} bytes, two EDKs, one final frame of ${BODY_LENGTH} bytes`,
          );
        }
      }
      figures.push(
        `  crafted envelopes refused for recipient 2: ${rounds} (one-shot + 3 stream chunkings each)`,
      );
    },
    TEST_TIMEOUT,
  );
});
