// pkcs11KeyWrapper's AbortSignal on a real SoftHSM2 token. The library is reached through a proxy that records every
// PKCS#11 call (and can hold one back), so that "never reached the HSM" is checked, not assumed.

import { type KeyWrapper, randomBytes, utf8 } from "@sealkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasSoftHsm, recordingSoftHsm, type SoftHsm, setupSoftHsm, softHsmOptions } from "../test/softhsm.js";
import { createAesKey } from "./key-admin.js";
import { pkcs11KeyWrapper } from "./key-wrapper.js";

const TOKEN = { label: "wrap-abort", pin: "1234", soPin: "5678" };
const config = { ...softHsmOptions(TOKEN), keyLabel: "root" };
const aad = utf8("backing-key:1");

const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => "resolved",
    (e: unknown) => e,
  );

describe.skipIf(!hasSoftHsm)("pkcs11KeyWrapper with an AbortSignal (SoftHSM2)", () => {
  let hsm: SoftHsm;

  beforeAll(async () => {
    hsm = setupSoftHsm([TOKEN]);
    await createAesKey(config, { label: "root" });
  });
  afterAll(() => hsm?.cleanup());

  it("stays a core KeyWrapper: two-argument calls work as before", async () => {
    const wrapper: KeyWrapper = pkcs11KeyWrapper(config);
    const secret = randomBytes(32);
    expect(await wrapper.unwrap(await wrapper.wrap(secret, aad), aad)).toEqual(secret);
    await wrapper.close?.();
  });

  it("an already aborted signal rejects with its reason and makes no PKCS#11 call at all", async () => {
    const { module, calls } = recordingSoftHsm();
    const wrapper = pkcs11KeyWrapper({ ...config, module });
    const controller = new AbortController();
    const reason = new Error("shutting down");
    controller.abort(reason);
    expect(await outcome(wrapper.wrap(randomBytes(32), aad, { signal: controller.signal }))).toBe(reason);
    expect(
      await outcome(wrapper.unwrap(new Uint8Array(61).fill(1), aad, { signal: controller.signal })),
    ).toBe(reason);
    expect(calls).toEqual([]);
    await wrapper.close();
  });

  it("a call waiting for a session leaves the pool's queue at once with an AbortError and never reaches the HSM", async () => {
    const { module, calls } = recordingSoftHsm();
    const wrapper = pkcs11KeyWrapper({ ...config, module, poolSize: 1 });
    const secret = randomBytes(32);
    const wrapped = await wrapper.wrap(secret, aad);
    calls.length = 0;

    const first = wrapper.wrap(randomBytes(32), aad); // takes the only session
    const controller = new AbortController();
    const queued = outcome(wrapper.unwrap(wrapped, aad, { signal: controller.signal }));
    expect(wrapper.stats().waiting).toBe(1);
    controller.abort(); // no reason given: the standard AbortError
    const error = await queued;
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe("AbortError");
    expect(wrapper.stats().waiting).toBe(0);
    expect((await first).length).toBe(61);
    // Only the first call's encryption reached the token; the abandoned unwrap never initialized a decryption.
    expect(calls.filter((name) => name === "C_EncryptInit")).toHaveLength(1);
    expect(calls).not.toContain("C_DecryptInit");
    expect(wrapper.stats()).toMatchObject({ open: 1, idle: 1 });
    // The wrapper is still usable, with or without a signal.
    expect(await wrapper.unwrap(wrapped, aad, { signal: new AbortController().signal })).toEqual(secret);
    await wrapper.close();
  });

  it("an abort while the HSM decrypts rejects at once; the session comes back when the HSM answers", async () => {
    const { module, hooks } = recordingSoftHsm();
    const wrapper = pkcs11KeyWrapper({ ...config, module, poolSize: 1 });
    const secret = randomBytes(32);
    const wrapped = await wrapper.wrap(secret, aad);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    hooks.C_DecryptAsync = (original, ...args) => {
      started = true;
      const answer = original(...args) as Promise<Buffer>;
      return held.then(() => answer);
    };
    const controller = new AbortController();
    const call = outcome(wrapper.unwrap(wrapped, aad, { signal: controller.signal }));
    while (!started) await new Promise((resolve) => setImmediate(resolve));
    const reason = new Error("request cancelled");
    controller.abort(reason);
    expect(await call).toBe(reason);
    expect(wrapper.stats().idle).toBe(0); // still inside the HSM
    release();
    while (wrapper.stats().idle === 0) await new Promise((resolve) => setImmediate(resolve));
    delete hooks.C_DecryptAsync;
    expect(await wrapper.unwrap(wrapped, aad)).toEqual(secret);
    await wrapper.close();
  });

  it("is checked again before a retry: an abort during a call whose key handle went stale stops the lookup and retry", async () => {
    const { module, calls, hooks } = recordingSoftHsm();
    const wrapper = pkcs11KeyWrapper({ ...config, module, poolSize: 1 });
    await wrapper.wrap(randomBytes(32), aad); // the key's handle is now cached for the session
    const controller = new AbortController();
    const reason = new Error("client went away");
    hooks.C_EncryptAsync = async (original, ...args) => {
      await (original(...args) as Promise<Buffer>); // the token finishes the operation...
      controller.abort(reason); // ...the caller gives up meanwhile...
      // ...and the answer says the key handle went stale (the key was deleted and re-created), which would
      // normally make the wrapper look the key up again and retry.
      throw Object.assign(new Error("CKR_KEY_HANDLE_INVALID:96"), { name: "Pkcs11Error" });
    };
    calls.length = 0;
    expect(await outcome(wrapper.wrap(randomBytes(32), aad, { signal: controller.signal }))).toBe(reason);
    while (wrapper.stats().idle === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(calls.filter((name) => name === "C_EncryptInit")).toHaveLength(1);
    expect(calls).not.toContain("C_FindObjectsInit");
    expect(wrapper.stats()).toMatchObject({ open: 1, idle: 1, sessionsDiscarded: 0 });
    delete hooks.C_EncryptAsync;
    expect(await wrapper.wrap(randomBytes(32), aad)).toHaveLength(61);
    await wrapper.close();
  });

  it("checks its options", async () => {
    const wrapper = pkcs11KeyWrapper(config);
    await expect(wrapper.wrap(randomBytes(32), aad, { signal: "stop" as never })).rejects.toThrow(TypeError);
    await expect(wrapper.unwrap(randomBytes(61), aad, null as never)).rejects.toThrow(TypeError);
    await wrapper.close();
  });
});
