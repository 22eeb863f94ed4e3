import { describe, expect, it } from "vitest";
import { concatBytes, toHex, utf8 } from "./bytes.js";
import { encodeContext } from "./context.js";
import { SealkitError } from "./errors.js";
import { RAW_UNWRAP_FAILED_MESSAGE, rawKeyProvider, rawWrapAad } from "./raw-provider.js";

const key = new Uint8Array(32).fill(7);
const context = { tenant: "acme", "\u{1F600}": "x" };

describe("rawKeyProvider", () => {
  it("generates a 32-byte key wrapped into 60 bytes that it opens again", async () => {
    const provider = rawKeyProvider({ keyId: "k1", key });
    const dk = await provider.generateDataKey({ length: 32, context });
    expect(dk.plaintext.length).toBe(32);
    expect(dk.encryptedDataKeys).toHaveLength(1);
    const edk = dk.encryptedDataKeys[0]!;
    expect(edk.providerId).toBe("raw");
    expect(edk.keyId).toBe("k1");
    expect(edk.ciphertext.length).toBe(60);
    expect(provider.canDecrypt(edk)).toBe(true);
    const opened = await provider.decryptDataKey({ encryptedDataKey: edk, context });
    expect(toHex(opened)).toBe(toHex(dk.plaintext));
  });

  it("wraps as nonce || AES-256-GCM(key, nonce, dataKey, aad) with the documented aad", async () => {
    const provider = rawKeyProvider({ keyId: "k1", key, providerId: "team" });
    const plaintext = new Uint8Array(32).fill(9);
    const [edk] = await provider.encryptDataKey({ plaintext, context });
    const aad = rawWrapAad("k1", context);
    expect(toHex(aad)).toBe(
      toHex(concatBytes(utf8("SEALKIT-RAW-V1"), new Uint8Array([0, 2]), utf8("k1"), encodeContext(context))),
    );
    const k = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
    const opened = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: edk!.ciphertext.slice(0, 12), additionalData: aad as BufferSource },
      k,
      edk!.ciphertext.slice(12),
    );
    expect(toHex(new Uint8Array(opened))).toBe(toHex(plaintext));
    expect(edk!.providerId).toBe("team");
  });

  it("fails with ERR_INVALID_CIPHERTEXT and one message for a wrong key, context, length or tampering", async () => {
    const a = rawKeyProvider({ keyId: "k1", key });
    const b = rawKeyProvider({ keyId: "k1", key: new Uint8Array(32).fill(8) });
    const [edk] = await a.encryptDataKey({ plaintext: new Uint8Array(32), context });
    const tampered = new Uint8Array(edk!.ciphertext);
    tampered[20]! ^= 1;
    const cases = [
      () => b.decryptDataKey({ encryptedDataKey: edk!, context }),
      () => a.decryptDataKey({ encryptedDataKey: edk!, context: { tenant: "other" } }),
      () =>
        a.decryptDataKey({
          encryptedDataKey: { ...edk!, ciphertext: edk!.ciphertext.subarray(0, 59) },
          context,
        }),
      () => a.decryptDataKey({ encryptedDataKey: { ...edk!, ciphertext: tampered }, context }),
      () => a.decryptDataKey({ encryptedDataKey: { ...edk!, keyId: "k2" }, context }),
    ];
    for (const run of cases) {
      const error = await run().catch((e: unknown) => e);
      expect(SealkitError.isInstance(error, "ERR_INVALID_CIPHERTEXT")).toBe(true);
      expect((error as Error).message).toBe(RAW_UNWRAP_FAILED_MESSAGE);
    }
  });

  it("binds the key id: the same key under another key id does not open it", async () => {
    const a = rawKeyProvider({ keyId: "k1", key });
    const b = rawKeyProvider({ keyId: "k2", key });
    const [edk] = await a.encryptDataKey({ plaintext: new Uint8Array(32), context: {} });
    expect(b.canDecrypt(edk!)).toBe(false);
    await expect(
      b.decryptDataKey({ encryptedDataKey: { ...edk!, keyId: "k2" }, context: {} }),
    ).rejects.toMatchObject({ code: "ERR_INVALID_CIPHERTEXT" });
  });

  it("is strict in canDecrypt", async () => {
    const p = rawKeyProvider({ keyId: "k1", key });
    const ciphertext = new Uint8Array(60);
    expect(p.canDecrypt({ providerId: "raw", keyId: "k1", ciphertext })).toBe(true);
    expect(p.canDecrypt({ providerId: "raw", keyId: "k2", ciphertext })).toBe(false);
    expect(p.canDecrypt({ providerId: "aws-kms", keyId: "k1", ciphertext })).toBe(false);
  });

  it("checks its arguments", async () => {
    expect(() => rawKeyProvider({ keyId: "k", key: new Uint8Array(16) })).toThrow(
      '"key" expected Uint8Array of length 32, got length=16',
    );
    expect(() => rawKeyProvider({ keyId: "", key })).toThrow(RangeError);
    expect(() => rawKeyProvider({ keyId: "k", key, providerId: "p".repeat(256) })).toThrow(RangeError);
    expect(() => rawKeyProvider({ keyId: 5 as unknown as string, key })).toThrow(TypeError);
    const p = rawKeyProvider({ keyId: "k", key });
    await expect(p.generateDataKey({ length: 16, context })).rejects.toThrow(RangeError);
    await expect(p.encryptDataKey({ plaintext: new Uint8Array(31), context })).rejects.toThrow(RangeError);
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await expect(p.generateDataKey({ length: 32, context, signal: controller.signal })).rejects.toThrow(
      "stop",
    );
  });
});
