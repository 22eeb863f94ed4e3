// The provider, key admin and session pool against a real SoftHSM2 token.

import { AUTHENTICATION_FAILED_MESSAGE, randomBytes, rawKeyProvider, SealkitError } from "@sealkit/core";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  hasSoftHsm,
  rawModule,
  SKIP_MESSAGE,
  type SoftHsm,
  setupSoftHsm,
  slotOf,
  softHsmOptions,
} from "../test/softhsm.js";
import { createAesKey, describeKey, findKey } from "./key-admin.js";
import { type Pkcs11Provider, pkcs11Provider } from "./pkcs11-provider.js";

if (!hasSoftHsm) console.warn(SKIP_MESSAGE);

const TOKEN = { label: "sealkit-test", pin: "1234", soPin: "5678" };
const PIN_TOKEN = { label: "pin-test", pin: "4321", soPin: "8765" };
const session = softHsmOptions(TOKEN);
const context = { tenant: "acme", purpose: "test" };

async function expectCode(promise: Promise<unknown>, code: string): Promise<SealkitError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(SealkitError.isInstance(error), `expected a SealkitError ${code}, got ${String(error)}`).toBe(true);
  expect((error as SealkitError).code).toBe(code);
  return error as SealkitError;
}

describe.skipIf(!hasSoftHsm)("pkcs11Provider on SoftHSM2", () => {
  let hsm: SoftHsm;
  let provider: Pkcs11Provider;

  beforeAll(async () => {
    hsm = setupSoftHsm([TOKEN, PIN_TOKEN]);
    await createAesKey(session, { label: "master" });
    await createAesKey(session, { label: "second", id: new Uint8Array([7, 7]) });
    await createAesKey({ ...session, tokenLabel: PIN_TOKEN.label, pin: PIN_TOKEN.pin }, { label: "master" });
    provider = pkcs11Provider({ ...session, keyLabel: "master", poolSize: 4 });
  });

  afterAll(async () => {
    await provider?.close();
    hsm?.cleanup();
  });

  it("creates a sensitive, non-extractable AES-256 token key and describes it", async () => {
    const key = await describeKey(session, { label: "master" });
    expect(key).toMatchObject({
      label: "master",
      class: "CKO_SECRET_KEY",
      keyType: "CKK_AES",
      length: 32,
      sensitive: true,
      extractable: false,
      token: true,
      local: true,
      neverExtractable: true,
      alwaysSensitive: true,
    });
    expect((await describeKey(session, { label: "second" })).id).toBe("0707");
  });

  it("refuses to create a second key with an existing label and leaves the first one alone", async () => {
    const before = await describeKey(session, { label: "second" });
    const error = await expectCode(createAesKey(session, { label: "second" }), "ERR_REQUEST_INVALID");
    expect(error.message).toMatch(/already exists/);
    expect(await describeKey(session, { label: "second" })).toEqual(before);
    // The old key still opens what it sealed before the refused call.
    const other = pkcs11Provider({ ...session, keyLabel: "second" });
    const { plaintext, encryptedDataKeys } = await other.generateDataKey({ length: 32, context });
    expect(await other.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context })).toEqual(
      plaintext,
    );
    await other.close();
  });

  it("findKey returns undefined for a missing label and describeKey throws ERR_KEY_NOT_FOUND", async () => {
    expect(await findKey(session, { label: "nope" })).toBeUndefined();
    expect((await findKey(session, { label: "master" }))?.keyType).toBe("CKK_AES");
    await expectCode(describeKey(session, { label: "nope" }), "ERR_KEY_NOT_FOUND");
  });

  it("round-trips data keys: generate, decrypt, encrypt an existing key", async () => {
    const { plaintext, encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    expect(plaintext).toHaveLength(32);
    expect(encryptedDataKeys).toHaveLength(1);
    const edk = encryptedDataKeys[0]!;
    expect(edk.providerId).toBe("pkcs11");
    expect(edk.keyId).toBe("pkcs11:token=sealkit-test;object=master");
    // version || IV (12) || ciphertext (32) || tag (16)
    expect(edk.ciphertext).toHaveLength(61);
    expect(edk.ciphertext[0]).toBe(1);
    expect(await provider.decryptDataKey({ encryptedDataKey: edk, context })).toEqual(plaintext);

    const existing = randomBytes(32);
    const [again] = await provider.encryptDataKey({ plaintext: existing, context });
    expect(await provider.decryptDataKey({ encryptedDataKey: again!, context })).toEqual(existing);
    // Fresh IV each time: the same key sealed twice differs.
    const [twice] = await provider.encryptDataKey({ plaintext: existing, context });
    expect(twice!.ciphertext.subarray(1, 13)).not.toEqual(again!.ciphertext.subarray(1, 13));
  });

  it("binds the encryption context: another context does not open the key", async () => {
    const { encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    const error = await expectCode(
      provider.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context: { tenant: "other" } }),
      "ERR_INVALID_CIPHERTEXT",
    );
    expect(error.message).toBe(AUTHENTICATION_FAILED_MESSAGE);
  });

  it("rejects a tampered encrypted data key with ERR_INVALID_CIPHERTEXT and the fixed message", async () => {
    const { encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    const edk = encryptedDataKeys[0]!;
    // version byte, IV, ciphertext, tag
    for (const index of [0, 5, 20, 55]) {
      const ciphertext = edk.ciphertext.slice();
      ciphertext[index]! ^= 0x01;
      const error = await expectCode(
        provider.decryptDataKey({ encryptedDataKey: { ...edk, ciphertext }, context }),
        "ERR_INVALID_CIPHERTEXT",
      );
      expect(error.message).toBe(AUTHENTICATION_FAILED_MESSAGE);
    }
    // A flipped tag reaches the HSM, which answers CKR_GENERAL_ERROR (SoftHSM2); the cause keeps it.
    const ciphertext = edk.ciphertext.slice();
    ciphertext[60]! ^= 0x80;
    const error = await expectCode(
      provider.decryptDataKey({ encryptedDataKey: { ...edk, ciphertext }, context }),
      "ERR_INVALID_CIPHERTEXT",
    );
    expect(String((error.cause as Error).message)).toMatch(/CKR_GENERAL_ERROR/);
    // Truncated.
    await expectCode(
      provider.decryptDataKey({
        encryptedDataKey: { ...edk, ciphertext: edk.ciphertext.subarray(0, 40) },
        context,
      }),
      "ERR_INVALID_CIPHERTEXT",
    );
    // The session that saw the failure is still good.
    expect(await provider.decryptDataKey({ encryptedDataKey: edk, context })).toHaveLength(32);
  });

  it("canDecrypt is strict on provider id and key id", async () => {
    const { encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    const edk = encryptedDataKeys[0]!;
    expect(provider.canDecrypt(edk)).toBe(true);
    expect(provider.canDecrypt({ ...edk, providerId: "raw" })).toBe(false);
    expect(provider.canDecrypt({ ...edk, keyId: "pkcs11:token=sealkit-test;object=second" })).toBe(false);
    const other = pkcs11Provider({ ...session, keyLabel: "second" });
    expect(other.canDecrypt(edk)).toBe(false);
    await other.close();
  });

  it("makes keys that cannot wrap: wrapping another key under the master key, then decrypting it, is refused", async () => {
    // With CKA_WRAP and CKA_DECRYPT on one key, anyone logged in reads out every extractable key of the token:
    // C_WrapKey it under that key, C_Decrypt the result with the same key. createAesKey allows wrapping only on request.
    expect(await describeKey(session, { label: "master" })).toMatchObject({ wrap: false, unwrap: false });
    await createAesKey(session, { label: "wrapping", wrap: true });
    expect(await describeKey(session, { label: "wrapping" })).toMatchObject({ wrap: true, unwrap: true });
    const raw = rawModule();
    const s = raw.C_OpenSession(
      slotOf(raw, TOKEN.label),
      pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION,
    );
    try {
      try {
        raw.C_Login(s, pkcs11js.CKU_USER, TOKEN.pin);
      } catch (error) {
        if (!/ALREADY_LOGGED_IN/.test((error as Error).message)) throw error;
      }
      // A sensitive key that may leave the token only wrapped: its value must not be readable.
      const secret = raw.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      ]);
      const handle = (label: string) => {
        raw.C_FindObjectsInit(s, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_LABEL, value: label },
        ]);
        try {
          return raw.C_FindObjects(s, 1)[0]!;
        } finally {
          raw.C_FindObjectsFinal(s);
        }
      };
      const wrapUnder = (label: string) =>
        raw.C_WrapKey(
          s,
          { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD },
          handle(label),
          secret,
          Buffer.alloc(64),
        );
      expect(() => wrapUnder("master")).toThrow(/CKR_KEY_FUNCTION_NOT_PERMITTED/);
      // Asked for, wrapping works: the operator chose a key for key administration.
      expect(wrapUnder("wrapping").length).toBe(40);
    } finally {
      raw.C_CloseSession(s);
    }
    await expect(createAesKey(session, { label: "odd", wrap: "yes" as never })).rejects.toThrow(TypeError);
  });

  it("refuses an extractable key as master key unless allowed", async () => {
    const raw = rawModule();
    const s = raw.C_OpenSession(
      slotOf(raw, TOKEN.label),
      pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION,
    );
    try {
      raw.C_Login(s, pkcs11js.CKU_USER, TOKEN.pin);
    } catch (error) {
      if (!/ALREADY_LOGGED_IN/.test((error as Error).message)) throw error;
    }
    raw.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_LABEL, value: "exportable" },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: false },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
    ]);
    raw.C_CloseSession(s);
    const refused = pkcs11Provider({ ...session, keyLabel: "exportable" });
    const error = await expectCode(
      refused.generateDataKey({ length: 32, context }),
      "ERR_PROVIDER_UNAVAILABLE",
    );
    expect(error.message).toMatch(/CKA_EXTRACTABLE/);
    await refused.close();
    const allowed = pkcs11Provider({ ...session, keyLabel: "exportable", allowExtractableKey: true });
    const { plaintext, encryptedDataKeys } = await allowed.generateDataKey({ length: 32, context });
    expect(await allowed.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context })).toEqual(
      plaintext,
    );
    await allowed.close();
  });

  it("maps a wrong PIN to ERR_HSM_LOGIN_FAILED with CKR_PIN_INCORRECT in the message", async () => {
    const wrong = pkcs11Provider({
      ...session,
      tokenLabel: PIN_TOKEN.label,
      pin: "0000",
      keyLabel: "master",
    });
    const error = await expectCode(wrong.generateDataKey({ length: 32, context }), "ERR_HSM_LOGIN_FAILED");
    expect(error.message).toMatch(/CKR_PIN_INCORRECT/);
    expect((error.cause as Error).name).toBe("Pkcs11Error");
    await wrong.close();
  });

  it("maps a missing key label to ERR_KEY_NOT_FOUND", async () => {
    const missing = pkcs11Provider({ ...session, keyLabel: "no-such-key" });
    const error = await expectCode(missing.generateDataKey({ length: 32, context }), "ERR_KEY_NOT_FOUND");
    expect(error.message).toMatch(/no-such-key/);
    await missing.close();
  });

  it("maps a missing token or library to ERR_PROVIDER_UNAVAILABLE", async () => {
    const noToken = pkcs11Provider({ ...session, tokenLabel: "no-such-token", keyLabel: "master" });
    const error = await expectCode(
      noToken.generateDataKey({ length: 32, context }),
      "ERR_PROVIDER_UNAVAILABLE",
    );
    expect(error.message).toMatch(/CKR_TOKEN_NOT_PRESENT/);
    await noToken.close();
    const noLibrary = pkcs11Provider({
      ...session,
      library: "/nonexistent/libpkcs11.so",
      keyLabel: "master",
    });
    await expectCode(noLibrary.generateDataKey({ length: 32, context }), "ERR_PROVIDER_UNAVAILABLE");
    await noLibrary.close();
  });

  it("checks its inputs", () => {
    expect(() => pkcs11Provider({ ...session, keyLabel: "" })).toThrow(TypeError);
    expect(() => pkcs11Provider({ ...session, keyLabel: "k", poolSize: 0 })).toThrow(RangeError);
    expect(() => pkcs11Provider({ ...session, keyLabel: "k", poolSize: 1025 })).toThrow(RangeError);
    // biome-ignore lint/suspicious/noExplicitAny: a caller mistake on purpose
    expect(() => pkcs11Provider({ ...session, keyLabel: "k", profile: "luna" as any })).toThrow(TypeError);
    expect(() =>
      pkcs11Provider({ ...session, keyLabel: "k", profile: "cloudhsm", pin: "nopassword" }),
    ).toThrow(/crypto-user/);
    return expect(provider.generateDataKey({ length: 0, context })).rejects.toThrow(RangeError);
  });

  it("runs 200 concurrent encryptions through a pool of 4 sessions", async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, () => provider.generateDataKey({ length: 32, context })),
    );
    const stats = provider.stats();
    expect(stats.size).toBe(4);
    expect(stats.peakOpen).toBeLessThanOrEqual(4);
    expect(stats.open).toBeLessThanOrEqual(4);
    expect(stats.waiting).toBe(0);
    const opened = await Promise.all(
      results.map((r) => provider.decryptDataKey({ encryptedDataKey: r.encryptedDataKeys[0]!, context })),
    );
    expect(opened).toEqual(results.map((r) => r.plaintext));
    expect(new Set(results.map((r) => Buffer.from(r.plaintext).toString("hex"))).size).toBe(200);
  });

  it("recovers when every session is closed underneath the pool (C_CloseAllSessions)", async () => {
    await Promise.all(Array.from({ length: 8 }, () => provider.generateDataKey({ length: 32, context })));
    expect(provider.stats().idle).toBeGreaterThan(0);
    const before = provider.stats().sessionsDiscarded;
    const raw = rawModule();
    raw.C_CloseAllSessions(slotOf(raw, TOKEN.label));
    const { plaintext, encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    expect(await provider.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context })).toEqual(
      plaintext,
    );
    expect(provider.stats().sessionsDiscarded).toBeGreaterThan(before);
    // Concurrent calls right after the loss succeed too.
    raw.C_CloseAllSessions(slotOf(raw, TOKEN.label));
    await Promise.all(Array.from({ length: 16 }, () => provider.generateDataKey({ length: 32, context })));
  });

  it("re-initializes the library when it was finalized underneath the pool, then succeeds", async () => {
    const raw = rawModule();
    raw.C_Finalize();
    const before = provider.stats().reinitializations;
    const { plaintext, encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    expect(await provider.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context })).toEqual(
      plaintext,
    );
    expect(provider.stats().reinitializations).toBe(before + 1);
  });

  it("keeps a second provider of the process working after the first re-initialized the shared library", async () => {
    const other = pkcs11Provider({ ...session, keyLabel: "second", poolSize: 2 });
    const before = await other.generateDataKey({ length: 32, context });
    rawModule().C_Finalize();
    // The first provider sees the loss and re-initializes the library both providers share.
    await provider.generateDataKey({ length: 32, context });
    // The second one drops its stale sessions and key handle, and still uses its own key.
    expect(await other.decryptDataKey({ encryptedDataKey: before.encryptedDataKeys[0]!, context })).toEqual(
      before.plaintext,
    );
    const after = await other.generateDataKey({ length: 32, context });
    const error = await provider
      .decryptDataKey({
        encryptedDataKey: { ...after.encryptedDataKeys[0]!, keyId: provider.keyId },
        context,
      })
      .catch((e: unknown) => e);
    expect(SealkitError.isInstance(error, "ERR_INVALID_CIPHERTEXT")).toBe(true);
    expect(other.stats().reinitializations).toBe(0);
    await other.close();
  });

  it("gives timers a turn during a burst of synchronous calls (yieldEvery), unlike without yielding", async () => {
    const burst = async (yieldEvery: number) => {
      const p = pkcs11Provider({ ...session, keyLabel: "master", async: false, yieldEvery });
      await p.generateDataKey({ length: 32, context });
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      for (let i = 0; i < 100; i++) await p.generateDataKey({ length: 32, context });
      clearInterval(timer);
      await p.close();
      return ticks;
    };
    expect(await burst(0)).toBe(0);
    expect(await burst(1)).toBeGreaterThan(0);
  });

  it("works as one recipient next to core's raw provider", async () => {
    const raw = rawKeyProvider({ keyId: "backup", key: randomBytes(32) });
    const { plaintext, encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    const [rawEdk] = await raw.encryptDataKey({ plaintext, context });
    expect(await raw.decryptDataKey({ encryptedDataKey: rawEdk!, context })).toEqual(plaintext);
    expect(provider.canDecrypt(rawEdk!)).toBe(false);
    expect(raw.canDecrypt(encryptedDataKeys[0]!)).toBe(false);
  });

  it("fails with ERR_PROVIDER_UNAVAILABLE after close", async () => {
    const closing = pkcs11Provider({ ...session, keyLabel: "master" });
    await closing.generateDataKey({ length: 32, context });
    await closing.close();
    await expectCode(closing.generateDataKey({ length: 32, context }), "ERR_PROVIDER_UNAVAILABLE");
  });
});
