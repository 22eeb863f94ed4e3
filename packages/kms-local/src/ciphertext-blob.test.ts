import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BLOB_HEADER_LENGTH, openBlob, readBlobHeader, sealBlob } from "./ciphertext-blob.js";
import { KmsError } from "./errors.js";

const key = new Uint8Array(randomBytes(32));
const id = "1234abcd-12ab-34cd-56ef-1234567890ab";

describe("ciphertext blob", () => {
  it("lays out version, key id, key version, IV, ciphertext and tag", () => {
    const blob = sealBlob(key, id, 7, new Uint8Array([1, 2, 3]), { a: "b" });
    expect(blob.length).toBe(BLOB_HEADER_LENGTH + 3 + 16);
    expect(blob[0]).toBe(1);
    expect(readBlobHeader(blob)).toEqual({ keyId: id, keyVersion: 7 });
    expect(new DataView(blob.buffer).getUint32(17)).toBe(7);
    expect(openBlob(key, blob, { a: "b" })).toEqual(new Uint8Array([1, 2, 3]));
    // Random IVs: the same input never gives the same blob.
    expect(sealBlob(key, id, 7, new Uint8Array([1, 2, 3]), { a: "b" })).not.toEqual(blob);
  });

  it("binds the context canonically and rejects ambiguous look-alikes", () => {
    const blob = sealBlob(key, id, 1, new Uint8Array([9]), { a: "bc" });
    for (const ctx of [{ ab: "c" }, { a: "b", c: "" }, { a: "bc " }, {}] as Record<string, string>[]) {
      expect(() => openBlob(key, blob, ctx)).toThrow(KmsError);
    }
  });

  it("rejects another version byte, version 0, and wrong lengths", () => {
    const blob = sealBlob(key, id, 1, new Uint8Array([9]), {});
    const v2 = new Uint8Array(blob);
    v2[0] = 2;
    expect(() => readBlobHeader(v2)).toThrow(/ciphertext is invalid/);
    const zero = new Uint8Array(blob);
    zero.fill(0, 17, 21);
    expect(() => readBlobHeader(zero)).toThrow(/ciphertext is invalid/);
    expect(() => readBlobHeader(blob.subarray(0, 49))).toThrow(/ciphertext is invalid/);
    expect(() => readBlobHeader(new Uint8Array(6145).fill(1))).toThrow(/ciphertext is invalid/);
  });
});
