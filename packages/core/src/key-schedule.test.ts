import { describe, expect, it } from "vitest";
import { concatBytes, fromHex, toHex, utf8 } from "./bytes.js";
import { deriveMessageKeys, keyScheduleInfo } from "./key-schedule.js";
import { AES_256_GCM, XCHACHA20_POLY1305 } from "./suites.js";

// An independent HKDF (RFC 5869) on HMAC-SHA-256, to check the Web Crypto HKDF path gives the same bytes.
async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data as BufferSource));
}
async function hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array): Promise<Uint8Array> {
  const prk = await hmac(salt, ikm);
  return hmac(prk, concatBytes(info, new Uint8Array([1]))); // one block: 32 bytes
}

const dataKey = fromHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
const messageId = fromHex("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");

describe("deriveMessageKeys", () => {
  it("uses the info strings and suite ids of the spec", () => {
    expect(toHex(keyScheduleInfo("SEALKIT-V1-CONTENT-KEY", AES_256_GCM))).toBe(
      toHex(concatBytes(utf8("SEALKIT-V1-CONTENT-KEY"), new Uint8Array([0, 2]))),
    );
  });

  for (const suite of [XCHACHA20_POLY1305, AES_256_GCM]) {
    it(`matches an independent HKDF for ${suite.name}`, async () => {
      const keys = await deriveMessageKeys(dataKey, messageId, suite);
      const id = new Uint8Array([suite.id >> 8, suite.id & 0xff]);
      expect(toHex(keys.contentKey)).toBe(
        toHex(await hkdf(messageId, dataKey, concatBytes(utf8("SEALKIT-V1-CONTENT-KEY"), id))),
      );
      expect(toHex(keys.commitment)).toBe(
        toHex(await hkdf(messageId, dataKey, concatBytes(utf8("SEALKIT-V1-COMMITMENT"), id))),
      );
      expect(keys.contentKey).not.toEqual(keys.commitment);
    });
  }

  it("gives different keys per suite and per message id", async () => {
    const a = await deriveMessageKeys(dataKey, messageId, XCHACHA20_POLY1305);
    const b = await deriveMessageKeys(dataKey, messageId, AES_256_GCM);
    const c = await deriveMessageKeys(dataKey, new Uint8Array(32), XCHACHA20_POLY1305);
    expect(toHex(a.contentKey)).not.toBe(toHex(b.contentKey));
    expect(toHex(a.commitment)).not.toBe(toHex(c.commitment));
  });

  it("rejects wrong lengths", async () => {
    await expect(deriveMessageKeys(new Uint8Array(16), messageId, AES_256_GCM)).rejects.toThrow(RangeError);
    await expect(deriveMessageKeys(dataKey, new Uint8Array(31), AES_256_GCM)).rejects.toThrow(
      '"messageId" expected Uint8Array of length 32, got length=31',
    );
  });
});
