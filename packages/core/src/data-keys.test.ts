import { describe, expect, it } from "vitest";
import { toHex } from "./bytes.js";
import { generateEnvelopeDataKey, openEnvelopeDataKey } from "./data-keys.js";
import { SealkitError } from "./errors.js";
import { rawKeyProvider } from "./raw-provider.js";
import type { DataKey, KeyProvider } from "./types.js";

const keyA = rawKeyProvider({ keyId: "a", key: new Uint8Array(32).fill(1) });
const keyB = rawKeyProvider({ keyId: "b", key: new Uint8Array(32).fill(2) });
const keyC = rawKeyProvider({ keyId: "c", key: new Uint8Array(32).fill(3) });
const context = { tenant: "acme" };

describe("generateEnvelopeDataKey", () => {
  it("wraps one data key for every provider, in order", async () => {
    const dk = await generateEnvelopeDataKey([keyA, keyB, keyC], { context, suite: "AES_256_GCM" });
    expect(dk.encryptedDataKeys.map((k) => k.keyId)).toEqual(["a", "b", "c"]);
    for (const provider of [keyA, keyB, keyC]) {
      const opened = await openEnvelopeDataKey(dk.encryptedDataKeys, [provider], { context });
      expect(toHex(opened.plaintext)).toBe(toHex(dk.plaintext));
    }
  });

  it("passes suite and plaintext length to the generating provider", async () => {
    let seen: unknown;
    const spy: KeyProvider = {
      ...keyA,
      providerId: "raw",
      generateDataKey: (request) => {
        seen = request;
        return keyA.generateDataKey(request);
      },
    };
    await generateEnvelopeDataKey([spy], { context, suite: "XCHACHA20_POLY1305", plaintextLength: 10 });
    expect(seen).toMatchObject({ length: 32, suite: "XCHACHA20_POLY1305", plaintextLength: 10, context });
  });

  it("wipes the plaintext when a later provider fails", async () => {
    let generated: Uint8Array | undefined;
    const first: KeyProvider = {
      ...keyA,
      providerId: "raw",
      generateDataKey: async (request) => {
        const dk = await keyA.generateDataKey(request);
        generated = dk.plaintext;
        return dk;
      },
    };
    const failing: KeyProvider = {
      ...keyB,
      providerId: "raw",
      encryptDataKey: async () => {
        throw new SealkitError("ERR_ACCESS_DENIED", "denied");
      },
    };
    await expect(
      generateEnvelopeDataKey([first, failing], { context, suite: "AES_256_GCM" }),
    ).rejects.toMatchObject({ code: "ERR_ACCESS_DENIED" });
    expect(generated!.every((b) => b === 0)).toBe(true);
  });

  it("refuses a data key of the wrong length, and bad arguments", async () => {
    const short: KeyProvider = {
      ...keyA,
      providerId: "raw",
      generateDataKey: async () => ({ plaintext: new Uint8Array(16), encryptedDataKeys: [] }),
    };
    await expect(generateEnvelopeDataKey([short], { context, suite: "AES_256_GCM" })).rejects.toMatchObject({
      code: "ERR_PROVIDER_UNAVAILABLE",
    });
    await expect(generateEnvelopeDataKey([], { context, suite: "AES_256_GCM" })).rejects.toThrow(RangeError);
    await expect(
      generateEnvelopeDataKey([keyA], { context, suite: "ROT13" as "AES_256_GCM" }),
    ).rejects.toMatchObject({ code: "ERR_UNSUPPORTED_SUITE" });
  });
});

describe("generateEnvelopeDataKey with a provider that breaks its contract", () => {
  it("answers ERR_PROVIDER_UNAVAILABLE, never a TypeError, and wipes what it got", async () => {
    const plaintexts: Uint8Array[] = [];
    const returning = (result: (plaintext: Uint8Array) => unknown): KeyProvider => ({
      ...keyA,
      providerId: "raw",
      generateDataKey: async () => {
        const plaintext = new Uint8Array(32).fill(3);
        plaintexts.push(plaintext);
        return result(plaintext) as DataKey;
      },
    });
    for (const provider of [
      returning((plaintext) => ({ plaintext })),
      returning((plaintext) => ({ plaintext, encryptedDataKeys: "none" })),
      returning(() => undefined),
      returning(() => null),
    ]) {
      await expect(
        generateEnvelopeDataKey([provider], { context, suite: "AES_256_GCM" }),
      ).rejects.toMatchObject({ code: "ERR_PROVIDER_UNAVAILABLE" });
    }
    // A second recipient whose encryptDataKey returns something other than an array.
    const second: KeyProvider = {
      ...keyB,
      providerId: "raw",
      encryptDataKey: async () => undefined as never,
    };
    await expect(
      generateEnvelopeDataKey([keyA, second], { context, suite: "AES_256_GCM" }),
    ).rejects.toMatchObject({ code: "ERR_PROVIDER_UNAVAILABLE" });
    expect(plaintexts.length).toBe(4);
    for (const p of plaintexts.slice(0, 2)) expect(p.every((b) => b === 0)).toBe(true);
  });
});

describe("openEnvelopeDataKey", () => {
  it("uses the first encrypted data key one of the caller's providers opens", async () => {
    const dk = await generateEnvelopeDataKey([keyA, keyB], { context, suite: "AES_256_GCM" });
    const opened = await openEnvelopeDataKey(dk.encryptedDataKeys, [keyB, keyA], { context });
    expect(opened.encryptedDataKey.keyId).toBe("a"); // header order wins over provider order
  });

  it("skips keys that fail and goes on to the next", async () => {
    const dk = await generateEnvelopeDataKey([keyA, keyB], { context, suite: "AES_256_GCM" });
    const broken = [
      { ...dk.encryptedDataKeys[0]!, ciphertext: new Uint8Array(60) },
      dk.encryptedDataKeys[1]!,
    ];
    const opened = await openEnvelopeDataKey(broken, [keyA, keyB], { context });
    expect(opened.encryptedDataKey.keyId).toBe("b");
  });

  it("says what it tried, with the failures as an AggregateError cause", async () => {
    const dk = await generateEnvelopeDataKey([keyA, keyB], { context, suite: "AES_256_GCM" });
    const error = await openEnvelopeDataKey(dk.encryptedDataKeys, [keyA, keyB], {
      context: { tenant: "other" },
    }).catch((e: unknown) => e);
    expect(SealkitError.isInstance(error, "ERR_NO_DECRYPTABLE_KEY")).toBe(true);
    const e = error as SealkitError;
    expect(e.message).toContain("raw/a: ERR_INVALID_CIPHERTEXT");
    expect(e.message).toContain("raw/b: ERR_INVALID_CIPHERTEXT");
    expect(e.cause).toBeInstanceOf(AggregateError);
    expect((e.cause as AggregateError).errors).toHaveLength(2);
  });

  it("asks no provider about keys it does not accept (strict)", async () => {
    const dk = await generateEnvelopeDataKey([keyA], { context, suite: "AES_256_GCM" });
    const error = (await openEnvelopeDataKey(dk.encryptedDataKeys, [keyC], { context }).catch(
      (e: unknown) => e,
    )) as SealkitError;
    expect(error.code).toBe("ERR_NO_DECRYPTABLE_KEY");
    expect(error.message).toContain("no provider accepts any");
    expect(error.message).toContain("raw/a");
  });

  it("treats a wrong-length key from a provider as a failure and wipes it", async () => {
    const returned = new Uint8Array(16).fill(5);
    const bad: KeyProvider = { ...keyA, providerId: "raw", decryptDataKey: async () => returned };
    const dk = await generateEnvelopeDataKey([keyA], { context, suite: "AES_256_GCM" });
    const error = (await openEnvelopeDataKey(dk.encryptedDataKeys, [bad], { context }).catch(
      (e: unknown) => e,
    )) as SealkitError;
    expect(error.code).toBe("ERR_NO_DECRYPTABLE_KEY");
    expect(error.message).toContain("ERR_PROVIDER_UNAVAILABLE");
    expect(returned.every((b) => b === 0)).toBe(true);
  });

  it("stops on abort", async () => {
    const dk = await generateEnvelopeDataKey([keyA], { context, suite: "AES_256_GCM" });
    const controller = new AbortController();
    controller.abort(new Error("cancelled"));
    await expect(
      openEnvelopeDataKey(dk.encryptedDataKeys, [keyA], { context, signal: controller.signal }),
    ).rejects.toThrow("cancelled");
  });
});
