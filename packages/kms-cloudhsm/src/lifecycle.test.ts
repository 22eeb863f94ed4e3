// Provider lifecycle and faults SoftHSM2 cannot produce, at the PKCS#11 boundary (test/fake-module.ts): close()
// called twice while a call is in flight, calls after close(), a library finalized before the slot lookup, a
// locked PIN, and encrypted data keys too long to be ours.

import { SealkitError } from "@sealkit/core";
import { describe, expect, it } from "vitest";
import { cloudhsmProvider, FakeModule } from "../test/fake-module.js";
import { HsmKey } from "./hsm-key.js";

const context = { tenant: "acme" };
const PIN = "crypto_user:password";

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => "ok",
    (e: unknown) => (SealkitError.isInstance(e) ? e.code : String(e)),
  );

describe("provider lifecycle (fake module)", () => {
  it("a second close() while a call is in flight waits too, and the library is finalized only after the call", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake, { poolSize: 1 });
    const call = codeOf(provider.generateDataKey({ length: 32, context }));
    await new Promise((resolve) => setImmediate(resolve));
    let firstDone = false;
    let secondDone = false;
    const first = provider.close().then(() => (firstDone = true));
    const second = provider.close().then(() => (secondDone = true));
    await Promise.resolve();
    await Promise.resolve();
    // Neither close() may return while the call is still on the thread pool.
    expect(fake.pending).toBe(1);
    expect(secondDone).toBe(false);
    expect(firstDone).toBe(false);
    await Promise.all([first, second]);
    expect(await call).toBe("ok");
    expect(fake.count("C_Finalize")).toBe(1);
    expect(fake.pendingAtFinalize).toEqual([0]);
    expect(fake.count("C_CloseSession")).toBe(1);
  });

  it("calls after close() fail with ERR_PROVIDER_UNAVAILABLE without loading the library again", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake);
    const { encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    await provider.close();
    expect(fake.count("C_Initialize")).toBe(1);
    expect(fake.count("C_Finalize")).toBe(1);
    expect(await codeOf(provider.generateDataKey({ length: 32, context }))).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(await codeOf(provider.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context }))).toBe(
      "ERR_PROVIDER_UNAVAILABLE",
    );
    expect(await codeOf(provider.encryptDataKey({ plaintext: new Uint8Array(32), context }))).toBe(
      "ERR_PROVIDER_UNAVAILABLE",
    );
    // Nothing re-initialized the library behind the closed provider (nothing would ever finalize it again).
    expect(fake.count("C_Initialize")).toBe(1);
    expect(fake.calls.at(-1)?.fn).toBe("C_Finalize");
    await provider.close(); // idempotent
    expect(fake.count("C_Finalize")).toBe(1);
  });

  it("recovers when the library was finalized underneath before the slot lookup (C_GetSlotList)", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const original = fake.C_GetSlotList.bind(fake);
    let failures = 0;
    fake.C_GetSlotList = () => {
      if (failures++ === 0) fake.C_Finalize(); // another component of the process finalized the library
      return original();
    };
    const provider = cloudhsmProvider(fake);
    const { plaintext, encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    expect(provider.stats().reinitializations).toBe(1);
    expect(await provider.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context })).toEqual(
      plaintext,
    );
    await provider.close();
  });

  it("maps CKR_PIN_LOCKED to ERR_HSM_LOGIN_FAILED, never retries, and keeps the PIN out of the error", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    fake.C_Login = () => {
      throw Object.assign(new Error("CKR_PIN_LOCKED"), { name: "Pkcs11Error" });
    };
    const provider = cloudhsmProvider(fake);
    const error = await provider.generateDataKey({ length: 32, context }).catch((e: unknown) => e);
    expect(SealkitError.isInstance(error, "ERR_HSM_LOGIN_FAILED")).toBe(true);
    expect((error as Error).message).toMatch(/CKR_PIN_LOCKED/);
    expect((error as Error).message).not.toContain("password");
    expect(fake.count("C_OpenSession")).toBe(1);
    // The session opened for the failed login is closed again.
    expect(fake.count("C_CloseSession")).toBe(1);
    expect(provider.stats().open).toBe(0);
    await provider.close();
  });

  it("rejects an encrypted data key longer than any data key it seals before calling the HSM", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake);
    const { encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    const edk = encryptedDataKeys[0]!;
    const long = new Uint8Array(1 + 12 + 1024 + 16 + 1);
    long.set(edk.ciphertext);
    const error = await provider
      .decryptDataKey({ encryptedDataKey: { ...edk, ciphertext: long }, context })
      .catch((e: unknown) => e);
    expect(SealkitError.isInstance(error, "ERR_INVALID_CIPHERTEXT")).toBe(true);
    expect(fake.count("C_DecryptInit")).toBe(0);
    // The largest data key it seals (1,024 bytes) still opens.
    const big = new Uint8Array(1024).fill(7);
    const [sealed] = await provider.encryptDataKey({ plaintext: big, context });
    expect(await provider.decryptDataKey({ encryptedDataKey: sealed!, context })).toEqual(big);
    await provider.close();
  });
});

describe("re-initialization races (fake module)", () => {
  it("never passes a session opened before the re-initialization to the library after it", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake, { poolSize: 4 });
    const original = fake.C_EncryptAsync.bind(fake);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let n = 0;
    fake.C_EncryptAsync = async (session, input, output) => {
      n++;
      if (n === 1) fake.options.failNextEncrypt = "CKR_DEVICE_REMOVED"; // call A: the device went away
      if (n === 2) await held; // call B: still on the thread pool, so the re-initialization waits for it
      return original(session, input, output);
    };
    const a = codeOf(provider.generateDataKey({ length: 32, context }));
    const b = codeOf(provider.generateDataKey({ length: 32, context }));
    while (provider.stats().reinitializations === 0) await new Promise((resolve) => setImmediate(resolve));
    // Call C arrives while the library waits to be re-initialized: it gets a session of the old library.
    const c = codeOf(provider.generateDataKey({ length: 32, context }));
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(fake.count("C_Finalize")).toBe(0);
    release();
    expect(await Promise.all([a, b, c])).toEqual(["ok", "ok", "ok"]);
    const finalize = fake.calls.findIndex((call) => call.fn === "C_Finalize");
    expect(finalize).toBeGreaterThan(0);
    const opened = fake.calls.slice(0, finalize).filter((call) => call.fn === "C_OpenSession").length;
    // Every call after C_Finalize that names a session names one opened after it.
    const stale = fake.calls
      .slice(finalize + 1)
      .filter(
        (call) => Buffer.isBuffer(call.args[0]) && !["C_GetTokenInfo", "C_OpenSession"].includes(call.fn),
      )
      .filter((call) => Number((call.args[0] as Buffer).readBigUInt64LE()) <= opened);
    expect(stale.map((call) => call.fn)).toEqual([]);
    await provider.close();
  });
});

describe("login failures (fake module)", () => {
  it("tries a wrong PIN once: a busy provider must not lock the crypto user out by logging in with every call", async () => {
    const fake = new FakeModule({ ivSource: "hsm", pin: "crypto_user:right" });
    const provider = cloudhsmProvider(fake, { pin: "crypto_user:wrong", poolSize: 8 });
    const burst = await Promise.all(
      Array.from({ length: 50 }, () => codeOf(provider.generateDataKey({ length: 32, context }))),
    );
    expect(new Set(burst)).toEqual(new Set(["ERR_HSM_LOGIN_FAILED"]));
    const later = await provider.generateDataKey({ length: 32, context }).catch((e: unknown) => e);
    expect(SealkitError.isInstance(later, "ERR_HSM_LOGIN_FAILED")).toBe(true);
    expect((later as Error).message).toMatch(/CKR_PIN_INCORRECT/);
    expect(fake.count("C_Login")).toBe(1);
    expect(provider.stats().open).toBe(0);
    await provider.close();
  });
});

describe("cancellation (fake module)", () => {
  it("an aborted call leaves the queue at once and never reaches the HSM; the call in flight is not disturbed", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake, { poolSize: 1 });
    const original = fake.C_EncryptAsync.bind(fake);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    fake.C_EncryptAsync = async (session, input, output) => {
      await held;
      return original(session, input, output);
    };
    const first = codeOf(provider.generateDataKey({ length: 32, context }));
    const controller = new AbortController();
    const queued = provider.generateDataKey({ length: 32, context, signal: controller.signal });
    const outcome = queued.then(
      () => "ok",
      (e: unknown) => e,
    );
    while (provider.stats().waiting === 0) await new Promise((resolve) => setImmediate(resolve));
    const reason = new Error("cancelled by the caller");
    controller.abort(reason);
    expect(await outcome).toBe(reason);
    expect(provider.stats().waiting).toBe(0);
    release();
    expect(await first).toBe("ok");
    expect(fake.count("C_EncryptInit")).toBe(1);
    expect(provider.stats()).toMatchObject({ open: 1, idle: 1 });
    await provider.close();
  });

  it("an abort that lands as the session is handed over stops the call before the HSM sees it", async () => {
    // The race in one place: the signal turns aborted exactly when the pool hands the session over (the moment it
    // drops the waiter's abort listener). A stand-in signal with AbortSignal's shape makes that deterministic.
    const fake = new FakeModule({ ivSource: "hsm" });
    const key = new HsmKey({
      library: "x",
      tokenLabel: "fake",
      pin: PIN,
      keyLabel: "master",
      profile: "cloudhsm",
      module: fake,
      poolSize: 1,
    });
    const reason = new Error("aborted during the handover");
    const state = { aborted: false, reason: undefined as unknown };
    const racing = Object.assign(state, {
      addEventListener() {},
      removeEventListener() {
        state.aborted = true;
        state.reason = reason;
      },
    }) as unknown as AbortSignal;
    const first = key.seal(new Uint8Array(32), new Uint8Array(1)); // holds the only session
    const queued = key.seal(new Uint8Array(32), new Uint8Array(1), "wrap", racing).catch((e: unknown) => e);
    expect(key.stats().waiting).toBe(1);
    expect(await first).toHaveLength(61);
    expect(await queued).toBe(reason);
    expect(fake.count("C_EncryptInit")).toBe(1);
    expect(key.stats()).toMatchObject({ open: 1, idle: 1, waiting: 0, sessionsDiscarded: 0 });
    expect(await key.seal(new Uint8Array(32), new Uint8Array(1))).toHaveLength(61);
    await key.close();
  });

  it("an abort during the HSM call rejects at once; the session returns to the pool when the HSM answers", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake, { poolSize: 1 });
    const original = fake.C_EncryptAsync.bind(fake);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    fake.C_EncryptAsync = async (session, input, output) => {
      started = true;
      await held;
      return original(session, input, output);
    };
    const controller = new AbortController();
    const call = provider
      .generateDataKey({ length: 32, context, signal: controller.signal })
      .catch((e: unknown) => e);
    while (!started) await new Promise((resolve) => setImmediate(resolve));
    const random = fake.calls.find((c) => c.fn === "C_GenerateRandom");
    expect(random).toBeDefined();
    controller.abort(new Error("stop"));
    expect(((await call) as Error).message).toBe("stop");
    release();
    // The session comes back to the pool once the HSM call returns.
    while (provider.stats().idle === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(provider.stats()).toMatchObject({ open: 1, idle: 1, waiting: 0 });
    await provider.close();
  });
});
