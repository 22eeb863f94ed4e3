// Suite: the AEAD primitives against Wycheproof and the XChaCha draft's example, valid and invalid cases alike.

import { fromHex, SealkitError } from "@sealkit/core";
import aesGcmVectors from "../../../../test-vectors/wycheproof/aes_gcm_test.json";
import chachaVectors from "../../../../test-vectors/wycheproof/chacha20_poly1305_test.json";
import xchachaVectors from "../../../../test-vectors/wycheproof/xchacha20_poly1305_test.json";
import type { Aead } from "../aead.js";
import {
  AssertionFailed,
  assert,
  assertEqualBytes,
  type Cipher,
  expectCode,
  expectThrows,
  type TestCase,
} from "./harness.js";

interface WycheproofTest {
  tcId: number;
  comment: string;
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: string;
}

interface WycheproofFile {
  testGroups: { keySize: number; ivSize: number; tagSize: number; tests: WycheproofTest[] }[];
}

/** Counts from a Wycheproof run, reported by the Node runner. */
export interface WycheproofTally {
  file: string;
  valid: number;
  invalid: number;
  /** Cases the primitive does not implement (another key or nonce size), each checked to be refused. */
  refusedParameters: number;
}

/**
 * Runs one Wycheproof file against a primitive. Cases with parameters the primitive does not implement
 * (AES-128/192, IVs other than 96 bits, nonces of another length) must be refused with a RangeError: they are
 * tallied as `refusedParameters`, not silently skipped.
 */
async function runWycheproof(aead: Aead, file: WycheproofFile, name: string): Promise<WycheproofTally> {
  const tally: WycheproofTally = { file: name, valid: 0, invalid: 0, refusedParameters: 0 };
  for (const group of file.testGroups) {
    for (const t of group.tests) {
      const label = `${name} tcId ${t.tcId} (${t.comment || "no comment"})`;
      const key = fromHex(t.key);
      const iv = fromHex(t.iv);
      const aad = fromHex(t.aad);
      const msg = fromHex(t.msg);
      const sealed = fromHex(t.ct + t.tag);
      const supported =
        key.length === aead.keyLength &&
        iv.length === aead.nonceLength &&
        group.tagSize === aead.tagLength * 8;
      if (!supported) {
        await expectThrows(() => aead.encrypt(key, iv, msg, aad), RangeError, `${label} encrypt`);
        await expectThrows(() => aead.decrypt(key, iv, sealed, aad), RangeError, `${label} decrypt`);
        tally.refusedParameters++;
        continue;
      }
      if (t.result === "valid" || t.result === "acceptable") {
        assertEqualBytes(await aead.encrypt(key, iv, msg, aad), sealed, `${label} encrypt`);
        assertEqualBytes(await aead.decrypt(key, iv, sealed, aad), msg, `${label} decrypt`);
        tally.valid++;
      } else {
        await expectCode(() => aead.decrypt(key, iv, sealed, aad), "ERR_AUTHENTICATION_FAILED", label);
        tally.invalid++;
      }
    }
  }
  return tally;
}

/** The primitive suites. `report` receives the Wycheproof tallies. */
export function primitiveCases(
  cipher: Cipher,
  report: (tally: WycheproofTally) => void = () => {},
): TestCase[] {
  const { xchacha20poly1305, chacha20poly1305, aes256gcm } = cipher;
  const files: [string, Aead, WycheproofFile][] = [
    ["xchacha20_poly1305_test.json", xchacha20poly1305, xchachaVectors as WycheproofFile],
    ["chacha20_poly1305_test.json", chacha20poly1305, chachaVectors as WycheproofFile],
    ["aes_gcm_test.json", aes256gcm, aesGcmVectors as WycheproofFile],
  ];
  const cases: TestCase[] = files.map(([file, aead, vectors]) => ({
    name: `Wycheproof ${file}: valid cases match, invalid ones fail authentication, other sizes are refused`,
    async run() {
      const tally = await runWycheproof(aead, vectors, file);
      assert(tally.valid > 0 && tally.invalid > 0, `${file}: no cases ran`);
      report(tally);
    },
  }));

  cases.push({
    name: "draft-irtf-cfrg-xchacha section A.3.1 example",
    async run() {
      const key = fromHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
      const nonce = fromHex("404142434445464748494a4b4c4d4e4f5051525354555657");
      const aad = fromHex("50515253c0c1c2c3c4c5c6c7");
      const plaintext = new TextEncoder().encode(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
      );
      const expected = fromHex(
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e" +
          "c0875924c1c7987947deafd8780acf49",
      );
      assertEqualBytes(
        await xchacha20poly1305.encrypt(key, nonce, plaintext, aad),
        expected,
        "A.3.1 encrypt",
      );
      assertEqualBytes(
        await xchacha20poly1305.decrypt(key, nonce, expected, aad),
        plaintext,
        "A.3.1 decrypt",
      );
    },
  });

  cases.push({
    name: "primitives expose their parameters",
    async run() {
      assert(
        xchacha20poly1305.nonceLength === 24 && xchacha20poly1305.keyLength === 32,
        "xchacha parameters",
      );
      assert(chacha20poly1305.nonceLength === 12 && chacha20poly1305.tagLength === 16, "chacha parameters");
      assert(aes256gcm.nonceLength === 12 && aes256gcm.keyLength === 32, "aes parameters");
    },
  });

  for (const [name, aead] of [
    ["xchacha20poly1305", xchacha20poly1305],
    ["chacha20poly1305", chacha20poly1305],
    ["aes256gcm", aes256gcm],
  ] as const) {
    cases.push({
      name: `${name}: wrong lengths are RangeErrors, wrong types TypeErrors, with noble-style messages`,
      async run() {
        const key = new Uint8Array(32);
        const nonce = new Uint8Array(aead.nonceLength);
        await expectThrows(
          () => aead.encrypt(new Uint8Array(16), nonce, new Uint8Array(1)),
          RangeError,
          "short key",
          /^"key" expected Uint8Array of length 32, got length=16$/,
        );
        await expectThrows(
          () => aead.encrypt(key, new Uint8Array(8), new Uint8Array(1)),
          RangeError,
          "short nonce",
          new RegExp(`^"nonce" expected Uint8Array of length ${aead.nonceLength}, got length=8$`),
        );
        await expectThrows(
          () => aead.decrypt(key, nonce, new Uint8Array(15)),
          RangeError,
          "shorter than a tag",
        );
        await expectThrows(
          () => aead.encrypt(key, nonce, "text" as unknown as Uint8Array),
          TypeError,
          "string plaintext",
          /^"plaintext" expected Uint8Array, got string$/,
        );
        await expectThrows(
          () => aead.encrypt(key, nonce, new Uint8Array(1), [1] as unknown as Uint8Array),
          TypeError,
          "array aad",
        );
      },
    });
    cases.push({
      name: `${name}: round trip with and without aad; a flipped bit anywhere fails with the one message`,
      async run() {
        const key = crypto.getRandomValues(new Uint8Array(32));
        const nonce = crypto.getRandomValues(new Uint8Array(aead.nonceLength));
        const plaintext = crypto.getRandomValues(new Uint8Array(100));
        const aad = new Uint8Array([1, 2, 3]);
        const sealed = await aead.encrypt(key, nonce, plaintext, aad);
        assertEqualBytes(await aead.decrypt(key, nonce, sealed, aad), plaintext, "round trip");
        const noAad = await aead.encrypt(key, nonce, plaintext);
        assertEqualBytes(await aead.decrypt(key, nonce, noAad, new Uint8Array(0)), plaintext, "empty aad");
        for (const i of [0, 50, sealed.length - 1]) {
          const bad = sealed.slice();
          bad[i]! ^= 1;
          await expectCode(
            () => aead.decrypt(key, nonce, bad, aad),
            "ERR_AUTHENTICATION_FAILED",
            `byte ${i}`,
          );
        }
        try {
          await aead.decrypt(key, nonce, sealed, new Uint8Array([9]));
          throw new AssertionFailed("wrong aad accepted");
        } catch (error) {
          assert(
            SealkitError.isInstance(error, "ERR_AUTHENTICATION_FAILED") &&
              error.message === "decryption failed: the envelope did not authenticate",
            "wrong aad: one fixed message",
          );
        }
      },
    });
  }
  return cases;
}
