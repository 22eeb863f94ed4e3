// The cloudhsm profile's IV handling and mechanism choice, tested at the PKCS#11 boundary against a fake module
// (no CloudHSM is reachable from CI), plus pool recovery from faults SoftHSM2 cannot produce.

import { AUTHENTICATION_FAILED_MESSAGE, SealkitError } from "@sealkit/core";
import pkcs11js from "pkcs11js";
import { describe, expect, it } from "vitest";
import { cloudhsmProvider, FakeModule } from "../test/fake-module.js";
import { pkcs11KeyWrapper } from "./key-wrapper.js";
import { pkcs11Provider } from "./pkcs11-provider.js";
import { CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD, PROFILES } from "./profiles.js";

const context = { tenant: "acme" };
const PIN = "crypto_user:password";

type GcmParameter = { type: number; iv: Buffer; ivBits: number; aad: Buffer; tagBits: number };
const encryptInits = (fake: FakeModule) =>
  fake.calls
    .filter((c) => c.fn === "C_EncryptInit")
    .map((c) => c.args[1] as { mechanism: number; parameter: GcmParameter });

describe("cloudhsm profile (fake module at the PKCS#11 boundary)", () => {
  it("passes a zeroed pIv with ulIvBits 0, stores the IV the HSM wrote back, and decrypts as AWS's sample does", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake);
    const { plaintext, encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    const [init] = encryptInits(fake);
    expect(init!.mechanism).toBe(pkcs11js.CKM_AES_GCM);
    expect(init!.parameter.type).toBe(pkcs11js.CK_PARAMS_GCM);
    expect(init!.parameter.ivBits).toBe(0);
    expect(init!.parameter.tagBits).toBe(128);
    expect(init!.parameter.aad.subarray(0, 17).toString()).toBe("SEALKIT-PKCS11-V1");
    // The fake wrote its generated IV into the very buffer we passed; the EDK stores exactly that IV.
    const ciphertext = encryptedDataKeys[0]!.ciphertext;
    expect(ciphertext[0]).toBe(1);
    expect(Buffer.from(ciphertext.subarray(1, 13))).toEqual(init!.parameter.iv);
    expect(init!.parameter.iv.some((b) => b !== 0)).toBe(true);
    // Decryption passes the stored IV back (ulIvBits 96), and opens it.
    expect(await provider.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context })).toEqual(
      plaintext,
    );
    const decryptInit = fake.calls.find((c) => c.fn === "C_DecryptInit")!.args[1] as {
      parameter: GcmParameter;
    };
    expect(decryptInit.parameter.iv).toEqual(Buffer.from(ciphertext.subarray(1, 13)));
    // ulIvBits 0 on decryption too, exactly as AWS's CloudHSM sample decrypts (it reuses the encryption
    // parameters with the IV it read back); ulIvLen stays 12.
    expect(decryptInit.parameter.ivBits).toBe(0);
    expect(decryptInit.parameter.iv).toHaveLength(12);
    await provider.close();
  });

  it("uses the asynchronous C_Encrypt/C_Decrypt (network round trips must not block the event loop)", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake);
    const { encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    await provider.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context });
    expect(fake.count("C_EncryptAsync")).toBe(1);
    expect(fake.count("C_DecryptAsync")).toBe(1);
    expect(fake.count("C_Encrypt")).toBe(0);
    await provider.close();
  });

  it("logs in with the <crypto-user>:<password> PIN as given, on a read-write session", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake);
    await provider.generateDataKey({ length: 32, context });
    const login = fake.calls.find((c) => c.fn === "C_Login")!;
    expect(login.args[1]).toBe(pkcs11js.CKU_USER);
    expect(login.args[2]).toBe(PIN);
    const open = fake.calls.find((c) => c.fn === "C_OpenSession")!;
    expect(open.args[1]).toBe(pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    await provider.close();
  });

  it("fails with ERR_PROVIDER_UNAVAILABLE when the HSM does not write the IV back (wrong profile)", async () => {
    const fake = new FakeModule({ ivSource: "hsm", dropIv: true });
    const provider = cloudhsmProvider(fake);
    const error = await provider.generateDataKey({ length: 32, context }).catch((e: unknown) => e);
    expect(SealkitError.isInstance(error, "ERR_PROVIDER_UNAVAILABLE")).toBe(true);
    expect((error as Error).message).toMatch(/IV/);
    await provider.close();
  });

  it("refuses more than 16 KB per C_Encrypt before calling the HSM", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const wrapper = pkcs11KeyWrapper({
      library: "x",
      tokenLabel: "fake",
      pin: PIN,
      keyLabel: "master",
      profile: "cloudhsm",
      module: fake,
    });
    const aad = new Uint8Array(3);
    await expect(wrapper.wrap(new Uint8Array(16 * 1024 - 15), aad)).rejects.toThrow(RangeError);
    expect(fake.count("C_EncryptAsync")).toBe(0);
    const wrapped = await wrapper.wrap(new Uint8Array(16 * 1024 - 16), aad);
    expect(wrapped).toHaveLength(16 * 1024 + 13);
    expect(await wrapper.unwrap(wrapped, aad)).toHaveLength(16 * 1024 - 16);
    await wrapper.close();
  });

  it("names CloudHSM's vendor wrap mechanism, a 1,024-session limit and a PIN format", () => {
    expect(PROFILES.cloudhsm.keyWrapMechanism).toBe(CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD);
    expect(CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD).toBe(0x8000210a);
    expect(PROFILES.softhsm.keyWrapMechanism).toBe(pkcs11js.CKM_AES_KEY_WRAP_PAD);
    expect(PROFILES.cloudhsm.maxSessions).toBe(1024);
    const fake = new FakeModule({ ivSource: "hsm" });
    expect(() => cloudhsmProvider(fake, { poolSize: 1025 })).toThrow(RangeError);
    expect(() => cloudhsmProvider(fake, { poolSize: 1024 })).not.toThrow();
    expect(() => cloudhsmProvider(fake, { pin: "password-only" })).toThrow(TypeError);
  });
});

describe("softhsm and generic profiles (fake module)", () => {
  it("pass a random caller IV with ulIvBits 96 and store that IV", async () => {
    for (const profile of ["softhsm", "generic"] as const) {
      const fake = new FakeModule({ ivSource: "caller", pin: "1234" });
      const provider = pkcs11Provider({
        library: "x",
        tokenLabel: "fake",
        pin: "1234",
        keyLabel: "master",
        profile,
        module: fake,
      });
      const { encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
      const [init] = encryptInits(fake);
      expect(init!.parameter.ivBits).toBe(96);
      expect(init!.parameter.iv.some((b) => b !== 0)).toBe(true);
      expect(Buffer.from(encryptedDataKeys[0]!.ciphertext.subarray(1, 13))).toEqual(init!.parameter.iv);
      await provider.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context });
      const decryptInit = fake.calls.find((c) => c.fn === "C_DecryptInit")!.args[1] as {
        parameter: GcmParameter;
      };
      expect(decryptInit.parameter.ivBits).toBe(96);
      expect(fake.count("C_EncryptAsync")).toBe(1);
      expect(fake.count("C_Encrypt")).toBe(0);
      await provider.close();
    }
  });
});

describe("session pool recovery (fake module: faults SoftHSM2 cannot produce)", () => {
  it("re-initializes the library after CKR_DEVICE_REMOVED and retries once", async () => {
    const fake = new FakeModule({ ivSource: "hsm", failNextEncrypt: "CKR_DEVICE_REMOVED" });
    const provider = cloudhsmProvider(fake);
    const { plaintext, encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    expect(fake.count("C_Finalize")).toBe(1);
    expect(fake.count("C_Initialize")).toBe(2);
    expect(provider.stats().reinitializations).toBe(1);
    expect(await provider.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context })).toEqual(
      plaintext,
    );
    await provider.close();
  });

  it("waits for calls in flight on the thread pool before finalizing the library", async () => {
    const fake = new FakeModule({ ivSource: "hsm", failNextEncrypt: "CKR_DEVICE_REMOVED" });
    const provider = cloudhsmProvider(fake, { poolSize: 4 });
    const results = await Promise.all(
      Array.from({ length: 4 }, () => provider.generateDataKey({ length: 32, context })),
    );
    expect(results).toHaveLength(4);
    expect(fake.count("C_Finalize")).toBe(1);
    expect(fake.pendingAtFinalize).toEqual([0]);
    await provider.close();
  });

  it("retries on a fresh session after CKR_SESSION_HANDLE_INVALID", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake, { poolSize: 2 });
    await provider.generateDataKey({ length: 32, context });
    fake.dropSessions();
    await provider.generateDataKey({ length: 32, context });
    expect(fake.count("C_OpenSession")).toBe(2);
    expect(provider.stats().sessionsDiscarded).toBe(1);
    await provider.close();
  });

  it("gives up after one retry: a second loss in a row surfaces as ERR_PROVIDER_UNAVAILABLE", async () => {
    const fake = new FakeModule({ ivSource: "hsm", failNextEncrypt: "CKR_DEVICE_REMOVED" });
    const provider = cloudhsmProvider(fake);
    const original = fake.C_EncryptAsync.bind(fake);
    let failures = 0;
    fake.C_EncryptAsync = (session, input, output) => {
      if (failures++ < 2) fake.options.failNextEncrypt = "CKR_DEVICE_REMOVED";
      return original(session, input, output);
    };
    const error = await provider.generateDataKey({ length: 32, context }).catch((e: unknown) => e);
    expect(SealkitError.isInstance(error, "ERR_PROVIDER_UNAVAILABLE")).toBe(true);
    expect((error as Error).message).toMatch(/CKR_DEVICE_REMOVED/);
    await provider.close();
  });

  it("refuses an extractable master key unless allowExtractableKey is set", async () => {
    const fake = new FakeModule({ ivSource: "hsm", extractable: true });
    const provider = cloudhsmProvider(fake);
    const error = await provider.generateDataKey({ length: 32, context }).catch((e: unknown) => e);
    expect(SealkitError.isInstance(error, "ERR_PROVIDER_UNAVAILABLE")).toBe(true);
    expect((error as Error).message).toMatch(/CKA_EXTRACTABLE/);
    expect(fake.count("C_EncryptAsync")).toBe(0);
    await provider.close();
    const allowed = cloudhsmProvider(new FakeModule({ ivSource: "hsm", extractable: true }), {
      allowExtractableKey: true,
    });
    await allowed.generateDataKey({ length: 32, context });
    await allowed.close();
  });

  it("close() lets the call in flight finish, rejects queued calls, and closes every session", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake, { poolSize: 1 });
    const calls = Array.from({ length: 4 }, () =>
      provider.generateDataKey({ length: 32, context }).then(
        () => "ok",
        (e: unknown) => (SealkitError.isInstance(e) ? e.code : String(e)),
      ),
    );
    await new Promise((resolve) => setImmediate(resolve));
    await provider.close();
    const outcomes = await Promise.all(calls);
    expect(outcomes[0]).toBe("ok");
    expect(outcomes.slice(1)).toEqual([
      "ERR_PROVIDER_UNAVAILABLE",
      "ERR_PROVIDER_UNAVAILABLE",
      "ERR_PROVIDER_UNAVAILABLE",
    ]);
    expect(fake.count("C_OpenSession")).toBe(1);
    expect(fake.count("C_CloseSession")).toBe(1);
    expect(fake.count("C_Finalize")).toBe(1);
    expect(provider.stats().open).toBe(0);
  });

  it("reports a tampered value as ERR_INVALID_CIPHERTEXT (CKR_ENCRYPTED_DATA_INVALID) without retrying", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake);
    const { encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    const ciphertext = encryptedDataKeys[0]!.ciphertext.slice();
    ciphertext[30]! ^= 1;
    const error = await provider
      .decryptDataKey({ encryptedDataKey: { ...encryptedDataKeys[0]!, ciphertext }, context })
      .catch((e: unknown) => e);
    expect(SealkitError.isInstance(error, "ERR_INVALID_CIPHERTEXT")).toBe(true);
    expect((error as Error).message).toBe(AUTHENTICATION_FAILED_MESSAGE);
    expect(fake.count("C_DecryptAsync")).toBe(1);
    await provider.close();
  });
});
