// Adversarial checks on a real SoftHSM2 token: keys that must not serve as master keys, encrypted data keys in
// every broken shape, the AAD exactly as the README documents it, and one library reached by two paths.

import { createDecipheriv } from "node:crypto";
import { realpathSync } from "node:fs";
import { AUTHENTICATION_FAILED_MESSAGE, concatBytes, encodeContext, SealkitError, utf8 } from "@sealkit/core";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  hasSoftHsm,
  rawModule,
  SKIP_MESSAGE,
  SOFTHSM_LIBRARY,
  type SoftHsm,
  setupSoftHsm,
  slotOf,
  softHsmOptions,
} from "../test/softhsm.js";
import { createAesKey } from "./key-admin.js";
import { type Pkcs11Provider, pkcs11Provider } from "./pkcs11-provider.js";

if (!hasSoftHsm) console.warn(SKIP_MESSAGE);

const TOKEN = { label: "hardening", pin: "1234", soPin: "5678" };
const session = softHsmOptions(TOKEN);
const context = { tenant: "acme", purpose: "review" };

async function codeOf(promise: Promise<unknown>): Promise<SealkitError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(SealkitError.isInstance(error), `expected a SealkitError, got ${String(error)}`).toBe(true);
  return error as SealkitError;
}

/** Creates a token key with a raw PKCS#11 session, as another tool would, and returns its value when readable. */
function makeKey(
  label: string,
  attributes: { type: number; value: number | boolean }[],
  mechanism: number = pkcs11js.CKM_AES_KEY_GEN,
): Buffer | undefined {
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
  try {
    const key = raw.C_GenerateKey(s, { mechanism }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_TOKEN, value: true },
      ...attributes,
    ]);
    const [value] = raw.C_GetAttributeValue(s, key, [{ type: pkcs11js.CKA_VALUE }]);
    return value?.value;
  } catch (error) {
    if (/CKR_ATTRIBUTE_SENSITIVE/.test((error as Error).message)) return undefined;
    throw error;
  } finally {
    raw.C_CloseSession(s);
  }
}

const aes = (length: number, encrypt = true, decrypt = true) => [
  { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
  { type: pkcs11js.CKA_VALUE_LEN, value: length },
  { type: pkcs11js.CKA_SENSITIVE, value: true },
  { type: pkcs11js.CKA_EXTRACTABLE, value: false },
  { type: pkcs11js.CKA_ENCRYPT, value: encrypt },
  { type: pkcs11js.CKA_DECRYPT, value: decrypt },
];

describe.skipIf(!hasSoftHsm)("pkcs11Provider, adversarial (SoftHSM2)", () => {
  let hsm: SoftHsm;
  let provider: Pkcs11Provider;
  let exportedKey: Buffer | undefined;

  beforeAll(async () => {
    hsm = setupSoftHsm([TOKEN]);
    await createAesKey(session, { label: "master" });
    await createAesKey(session, { label: "other" });
    makeKey("aes128", aes(16));
    makeKey("aes192", aes(24));
    makeKey("no-decrypt", aes(32, true, false));
    makeKey("no-encrypt", aes(32, false, true));
    makeKey(
      "generic",
      [
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_SIGN, value: true },
      ],
      pkcs11js.CKM_GENERIC_SECRET_KEY_GEN,
    );
    await createAesKey(session, { label: "twice" });
    makeKey("twice", aes(32));
    exportedKey = makeKey("readable", [
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_SENSITIVE, value: false },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
    ]);
    provider = pkcs11Provider({ ...session, keyLabel: "master", poolSize: 3 });
  });

  afterAll(async () => {
    await provider?.close();
    hsm?.cleanup();
  });

  it("refuses AES keys that are not 256 bits, even when extractable keys are allowed", async () => {
    for (const keyLabel of ["aes128", "aes192"]) {
      for (const allowExtractableKey of [false, true]) {
        const p = pkcs11Provider({ ...session, keyLabel, allowExtractableKey });
        const error = await codeOf(p.generateDataKey({ length: 32, context }));
        expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
        expect(error.message).toMatch(/AES-256/);
        expect(p.stats().open).toBe(p.stats().idle);
        await p.close();
      }
    }
  });

  it("refuses a key that is not an AES key before using it", async () => {
    const p = pkcs11Provider({ ...session, keyLabel: "generic" });
    const error = await codeOf(p.generateDataKey({ length: 32, context }));
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.message).toMatch(/CKK_GENERIC_SECRET|AES-256/);
    await p.close();
  });

  it("never seals a data key under a key that cannot decrypt (CKA_DECRYPT false): it could never be opened", async () => {
    const p = pkcs11Provider({ ...session, keyLabel: "no-decrypt" });
    const error = await codeOf(p.generateDataKey({ length: 32, context }));
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.message).toMatch(/CKA_DECRYPT/);
    await codeOf(p.encryptDataKey({ plaintext: new Uint8Array(32), context }));
    await p.close();
  });

  it("reports a key that may not encrypt (CKA_ENCRYPT false) as ERR_PROVIDER_UNAVAILABLE naming the CKR", async () => {
    const p = pkcs11Provider({ ...session, keyLabel: "no-encrypt" });
    const error = await codeOf(p.generateDataKey({ length: 32, context }));
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.message).toMatch(/CKR_KEY_FUNCTION_NOT_PERMITTED/);
    expect(p.stats().open).toBe(p.stats().idle);
    await p.close();
  });

  it("refuses a key label two keys share with ERR_KEY_NOT_FOUND", async () => {
    const p = pkcs11Provider({ ...session, keyLabel: "twice" });
    const error = await codeOf(p.generateDataKey({ length: 32, context }));
    expect(error.code).toBe("ERR_KEY_NOT_FOUND");
    expect(error.message).toMatch(/ambiguous/);
    await p.close();
  });

  it("keeps the PIN out of every error message", async () => {
    const pin = "pin-that-must-not-leak";
    const p = pkcs11Provider({ ...session, pin, keyLabel: "master" });
    // The token is already logged in by this process (login is per application), so use a fresh token label.
    const wrongToken = pkcs11Provider({ ...session, tokenLabel: "absent", pin, keyLabel: "master" });
    const calls = [p, wrongToken].map((x) =>
      x.generateDataKey({ length: 32, context }).catch((e: unknown) => e),
    );
    for (const error of await Promise.all(calls)) {
      if (error === undefined) continue;
      expect(String((error as Error).message)).not.toContain(pin);
      expect(String((error as Error).stack)).not.toContain(pin);
      expect(JSON.stringify(error)).not.toContain(pin);
    }
    await p.close();
    await wrongToken.close();
  });

  it("uses exactly the documented AAD and layout: SEALKIT-PKCS11-V1 || encodeContext(context)", async () => {
    expect(exportedKey).toHaveLength(32);
    const p = pkcs11Provider({ ...session, keyLabel: "readable", allowExtractableKey: true });
    const ctx = { "z-last": "1", "a-first": "ü", empty: "" };
    const { plaintext, encryptedDataKeys } = await p.generateDataKey({ length: 32, context: ctx });
    const sealed = encryptedDataKeys[0]!.ciphertext;
    expect(sealed).toHaveLength(61);
    expect(sealed[0]).toBe(1);
    const decipher = createDecipheriv("aes-256-gcm", exportedKey!, sealed.subarray(1, 13));
    decipher.setAAD(concatBytes(utf8("SEALKIT-PKCS11-V1"), encodeContext(ctx)));
    decipher.setAuthTag(sealed.subarray(45));
    const opened = Buffer.concat([decipher.update(sealed.subarray(13, 45)), decipher.final()]);
    expect(new Uint8Array(opened)).toEqual(plaintext);
    // Context order does not matter (canonical encoding); an extra or missing pair does.
    const reordered = { empty: "", "a-first": "ü", "z-last": "1" };
    expect(await p.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context: reordered })).toEqual(
      plaintext,
    );
    await codeOf(p.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context: { ...ctx, x: "y" } }));
    await p.close();
  });

  it("rejects every broken encrypted data key with ERR_INVALID_CIPHERTEXT and leaks no session", async () => {
    const { plaintext, encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    const edk = encryptedDataKeys[0]!;
    const other = pkcs11Provider({ ...session, keyLabel: "other" });
    const [foreign] = await other.encryptDataKey({ plaintext, context });
    await other.close();
    const shapes: Uint8Array[] = [];
    for (let n = 0; n < edk.ciphertext.length; n++) shapes.push(edk.ciphertext.subarray(0, n)); // truncated
    shapes.push(concatBytes(edk.ciphertext, new Uint8Array([0]))); // one byte too long
    shapes.push(concatBytes(edk.ciphertext, new Uint8Array(70_000 - 61))); // far too long
    shapes.push(concatBytes(edk.ciphertext.subarray(0, 1), new Uint8Array(4), edk.ciphertext.subarray(1))); // 16-byte IV
    shapes.push(concatBytes(edk.ciphertext.subarray(0, 9), edk.ciphertext.subarray(13))); // 8-byte IV
    shapes.push(foreign!.ciphertext); // another key's, relabelled as ours
    const badTag = edk.ciphertext.slice();
    badTag[60]! ^= 1;
    shapes.push(badTag);
    const version2 = edk.ciphertext.slice();
    version2[0] = 2;
    shapes.push(version2);
    for (const ciphertext of shapes) {
      const error = await codeOf(
        provider.decryptDataKey({ encryptedDataKey: { ...edk, ciphertext }, context }),
      );
      expect(error.code, `length ${ciphertext.length}`).toBe("ERR_INVALID_CIPHERTEXT");
      expect(error.message).toBe(AUTHENTICATION_FAILED_MESSAGE);
    }
    const stats = provider.stats();
    expect(stats.open).toBeLessThanOrEqual(3);
    expect(stats.idle).toBe(stats.open);
    expect(stats.sessionsDiscarded).toBe(0);
    // Every session that saw a failure is still good.
    const again = await Promise.all(
      Array.from({ length: 6 }, () => provider.decryptDataKey({ encryptedDataKey: edk, context })),
    );
    for (const key of again) expect(key).toEqual(plaintext);
  });

  it("shares one library state between providers that name it by different paths (a symlink)", async () => {
    const real = realpathSync(SOFTHSM_LIBRARY);
    expect(real).not.toBe(SOFTHSM_LIBRARY); // Debian: /usr/lib/softhsm/libsofthsm2.so is a symlink
    const viaLink = pkcs11Provider({ ...session, keyLabel: "master" });
    const viaReal = pkcs11Provider({ ...session, library: real, keyLabel: "master" });
    await viaLink.generateDataKey({ length: 32, context });
    await viaReal.generateDataKey({ length: 32, context });
    // viaLink is busy on the thread pool while viaReal, the only user of the other path, closes: closing must
    // not finalize the library under viaLink's calls.
    const burst = Promise.all(
      Array.from({ length: 32 }, () => viaLink.generateDataKey({ length: 32, context })),
    );
    await viaReal.close();
    await burst;
    await viaLink.generateDataKey({ length: 32, context });
    expect(viaLink.stats().reinitializations).toBe(0);
    expect(viaLink.stats().sessionsDiscarded).toBe(0);
    await viaLink.close();
  });

  it("recovers when the application was logged out underneath the pool (C_Logout): private keys vanish", async () => {
    const p = pkcs11Provider({ ...session, keyLabel: "master", poolSize: 2 });
    const sealed = await p.generateDataKey({ length: 32, context });
    await Promise.all([
      p.generateDataKey({ length: 32, context }),
      p.generateDataKey({ length: 32, context }),
    ]);
    const raw = rawModule();
    const s = raw.C_OpenSession(slotOf(raw, TOKEN.label), pkcs11js.CKF_SERIAL_SESSION);
    raw.C_Logout(s); // login is per application: every session of the process is public now
    raw.C_CloseSession(s);
    // The key is private, so a public session neither uses its handle nor finds it: that is not "key not found".
    const { plaintext, encryptedDataKeys } = await p.generateDataKey({ length: 32, context });
    expect(await p.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context })).toEqual(plaintext);
    expect(await p.decryptDataKey({ encryptedDataKey: sealed.encryptedDataKeys[0]!, context })).toEqual(
      sealed.plaintext,
    );
    expect(p.stats().sessionsDiscarded).toBeGreaterThan(0);
    await p.close();
  });

  it("still reports a key deleted underneath as ERR_KEY_NOT_FOUND, and finds it again once re-created", async () => {
    await createAesKey(session, { label: "doomed" });
    const p = pkcs11Provider({ ...session, keyLabel: "doomed", poolSize: 2 });
    await p.generateDataKey({ length: 32, context });
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
    raw.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_LABEL, value: "doomed" }]);
    const [handle] = raw.C_FindObjects(s, 1);
    raw.C_FindObjectsFinal(s);
    raw.C_DestroyObject(s, handle!);
    raw.C_CloseSession(s);
    const error = await codeOf(p.generateDataKey({ length: 32, context }));
    expect(error.code).toBe("ERR_KEY_NOT_FOUND");
    await createAesKey(session, { label: "doomed" });
    const { plaintext, encryptedDataKeys } = await p.generateDataKey({ length: 32, context });
    expect(await p.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context })).toEqual(plaintext);
    expect(p.stats().idle).toBe(p.stats().open);
    await p.close();
  });

  it("serves waiting calls first in, first out, and leaks no session under a mix of failures", async () => {
    const one = pkcs11Provider({ ...session, keyLabel: "master", poolSize: 1 });
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        one.generateDataKey({ length: 32, context }).then(() => order.push(i)),
      ),
    );
    expect(order).toEqual(Array.from({ length: 40 }, (_, i) => i));
    await one.close();

    const two = pkcs11Provider({ ...session, keyLabel: "master", poolSize: 2 });
    const good = await two.generateDataKey({ length: 32, context });
    const edk = good.encryptedDataKeys[0]!;
    const tampered = { ...edk, ciphertext: edk.ciphertext.map((b, i) => (i === 30 ? b ^ 1 : b)) };
    const outcomes = await Promise.all(
      Array.from({ length: 300 }, (_, i) => {
        const call =
          i % 3 === 0
            ? two.decryptDataKey({ encryptedDataKey: tampered, context })
            : i % 3 === 1
              ? two.decryptDataKey({ encryptedDataKey: edk, context: { other: "context" } })
              : two.decryptDataKey({ encryptedDataKey: edk, context });
        return call.then(
          () => "ok",
          (e: unknown) => (SealkitError.isInstance(e) ? e.code : String(e)),
        );
      }),
    );
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(100);
    expect(outcomes.filter((o) => o === "ERR_INVALID_CIPHERTEXT")).toHaveLength(200);
    expect(two.stats()).toMatchObject({ open: 2, idle: 2, waiting: 0, peakOpen: 2, sessionsDiscarded: 0 });
    await two.close();
    expect(two.stats()).toMatchObject({ open: 0, idle: 0 });
  });

  it("recovers every call in flight on the thread pool when all sessions are closed underneath", async () => {
    const p = pkcs11Provider({ ...session, keyLabel: "master", poolSize: 4 });
    await p.generateDataKey({ length: 32, context });
    const calls = Array.from({ length: 40 }, () =>
      p.generateDataKey({ length: 32, context }).then(
        () => "ok",
        (e: unknown) => String(e),
      ),
    );
    await new Promise((resolve) => setImmediate(resolve));
    const raw = rawModule();
    raw.C_CloseAllSessions(slotOf(raw, TOKEN.label));
    expect(new Set(await Promise.all(calls))).toEqual(new Set(["ok"]));
    expect(p.stats()).toMatchObject({ waiting: 0, reinitializations: 0 });
    expect(p.stats().open).toBeLessThanOrEqual(4);
    expect(p.stats().idle).toBe(p.stats().open);
    await p.close();
  });

  it("loads, initializes and finalizes the library again and again in one process", async () => {
    await provider.close(); // the last test: from here on the two providers below are the library's only users
    for (let cycle = 0; cycle < 3; cycle++) {
      const first = pkcs11Provider({ ...session, keyLabel: "other" });
      const second = pkcs11Provider({ ...session, keyLabel: "other" });
      const sealed = await first.generateDataKey({ length: 32, context });
      await first.close();
      expect(
        await second.decryptDataKey({ encryptedDataKey: sealed.encryptedDataKeys[0]!, context }),
      ).toEqual(sealed.plaintext);
      expect(second.stats().reinitializations).toBe(0);
      await second.close();
    }
  });

  it("never finalizes a library that another component of the process initialized", async () => {
    // Runs after the provider of this file closed: the library is loaded by no provider now.
    const raw = rawModule(); // another user of PKCS#11 in the process, which initialized the library itself
    const own = raw.C_OpenSession(slotOf(raw, TOKEN.label), pkcs11js.CKF_SERIAL_SESSION);
    const p = pkcs11Provider({ ...session, keyLabel: "master" });
    await p.generateDataKey({ length: 32, context });
    await p.close(); // the provider's last user: it must not C_Finalize the other component's library
    expect(() => raw.C_GetSessionInfo(own)).not.toThrow();
    raw.C_CloseSession(own);
  });
});
