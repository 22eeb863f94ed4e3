import { describe, expect, it } from "vitest";
import { concatBytes, toHex } from "./bytes.js";
import { SealkitError } from "./errors.js";
import { parseHeader } from "./header.js";
import { rawKeyProvider } from "./raw-provider.js";
import { rewrapEnvelopeHeader } from "./rewrap.js";
import { openAes, sealAes } from "./testing/aes-envelope.js";

const local = rawKeyProvider({ keyId: "local", key: new Uint8Array(32).fill(1) });
const cloud = rawKeyProvider({ keyId: "cloud", key: new Uint8Array(32).fill(2) });
const backup = rawKeyProvider({ keyId: "backup", key: new Uint8Array(32).fill(3) });
const plaintext = new Uint8Array(300).map((_, i) => i);
const context = { tenant: "acme" };

describe("rewrapEnvelopeHeader", () => {
  it("moves an envelope from one key to another without touching the body", async () => {
    const envelope = await sealAes(plaintext, [local], { context });
    const result = await rewrapEnvelopeHeader(envelope, {
      providers: [local],
      add: [cloud],
      remove: (k) => k.keyId === "local",
    });
    expect(result.added.map((k) => k.keyId)).toEqual(["cloud"]);
    expect(result.removed.map((k) => k.keyId)).toEqual(["local"]);
    const body = envelope.subarray(result.bodyOffset);
    const rewrapped = concatBytes(result.header, body);
    expect(toHex(await openAes(rewrapped, [cloud]))).toBe(toHex(plaintext));
    await expect(openAes(rewrapped, [local])).rejects.toMatchObject({ code: "ERR_NO_DECRYPTABLE_KEY" });
    // Authenticated header and commitment are byte for byte the same.
    const before = parseHeader(envelope);
    const after = parseHeader(rewrapped);
    expect(toHex(after.authenticatedBytes)).toBe(toHex(before.authenticatedBytes));
    expect(toHex(after.headerTag)).toBe(toHex(before.headerTag));
  });

  it("adds a recipient and keeps the others; works on the header bytes alone", async () => {
    const envelope = await sealAes(plaintext, [local], { context });
    const headerOnly = envelope.subarray(0, parseHeader(envelope).length);
    const result = await rewrapEnvelopeHeader(headerOnly, { providers: [local], add: [cloud, backup] });
    expect(parseHeader(result.header).encryptedDataKeys.map((k) => k.keyId)).toEqual([
      "local",
      "cloud",
      "backup",
    ]);
    const rewrapped = concatBytes(result.header, envelope.subarray(result.bodyOffset));
    for (const p of [local, cloud, backup])
      expect(toHex(await openAes(rewrapped, [p]))).toBe(toHex(plaintext));
  });

  it("refuses a substituted encrypted data key (commitment mismatch)", async () => {
    const a = await sealAes(plaintext, [local], { context });
    const b = await sealAes(plaintext, [local], { context });
    // Put b's encrypted data key (another data key) into a's header.
    const forged = concatBytes(
      parseHeader(a).authenticatedBytes,
      parseHeader(a).commitment,
      parseHeader(a).headerTag,
      b.subarray(parseHeader(b).authenticatedBytes.length + 48, parseHeader(b).length),
    );
    const error = await rewrapEnvelopeHeader(forged, { providers: [local], add: [cloud] }).catch(
      (e: unknown) => e,
    );
    expect(SealkitError.isInstance(error, "ERR_AUTHENTICATION_FAILED")).toBe(true);
  });

  it("refuses to leave no encrypted data key, or more than the limit", async () => {
    const envelope = await sealAes(plaintext, [local], { context });
    await expect(rewrapEnvelopeHeader(envelope, { providers: [local], remove: () => true })).rejects.toThrow(
      RangeError,
    );
    await expect(
      rewrapEnvelopeHeader(envelope, { providers: [local], add: [cloud], maxEncryptedDataKeys: 1 }),
    ).rejects.toMatchObject({ code: "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS" });
  });

  it("needs a provider that opens the envelope, and the whole header", async () => {
    const envelope = await sealAes(plaintext, [local], { context });
    await expect(rewrapEnvelopeHeader(envelope, { providers: [cloud], add: [backup] })).rejects.toMatchObject(
      {
        code: "ERR_NO_DECRYPTABLE_KEY",
      },
    );
    await expect(
      rewrapEnvelopeHeader(envelope.subarray(0, 100), { providers: [local], add: [backup] }),
    ).rejects.toMatchObject({ code: "ERR_TRUNCATED" });
  });

  it("refuses an added provider that returns no encrypted data key, with ERR_PROVIDER_UNAVAILABLE", async () => {
    const envelope = await sealAes(plaintext, [local], { context });
    for (const result of [undefined, [], "none"]) {
      const broken = { ...cloud, providerId: "raw", encryptDataKey: async () => result as never };
      await expect(
        rewrapEnvelopeHeader(envelope, { providers: [local], add: [broken], remove: () => true }),
      ).rejects.toMatchObject({ code: "ERR_PROVIDER_UNAVAILABLE" });
    }
  });
});
