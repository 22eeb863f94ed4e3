// AWS CloudHSM under load (fake module): how client SDK 5 reports a busy HSM, and what the provider must not make
// of it. AWS, "HSM throttling" (docs.aws.amazon.com/cloudhsm/latest/userguide/troubleshoot-hsm-throttling.html):
// "In PKCS11, busy errors map to CKR_FUNCTION_FAILED", logged from cloudhsm_pkcs11::decryption::aes_gcm among others.
// AWS, "Known issues for the PKCS #11 library" (ki-pkcs11-sdk.html#ki-pkcs11-15): "C_GetAttributeValue returns
// CKR_DEVICE_ERROR when throttled".

import { AUTHENTICATION_FAILED_MESSAGE, SealkitError } from "@sealkit/core";
import pkcs11js from "pkcs11js";
import { describe, expect, it } from "vitest";
import { cloudhsmProvider, FakeModule } from "../test/fake-module.js";
import { errorOf } from "../test/softhsm.js";
import { pkcs11KeyWrapper } from "./key-wrapper.js";

const context = { tenant: "acme" };

function ckr(name: string): Error {
  return Object.assign(new Error(`${name}:${(pkcs11js as unknown as Record<string, number>)[name] ?? 0}`), {
    name: "Pkcs11Error",
  });
}

/** Makes the fake's next `times` calls of `fn` fail with `name`, as a throttled CloudHSM would. */
function throttle(
  fake: FakeModule,
  fn: "C_DecryptAsync" | "C_GetAttributeValue",
  name: string,
  times = 1,
): void {
  const original = fake[fn].bind(fake) as (...args: unknown[]) => unknown;
  let left = times;
  (fake as unknown as Record<string, unknown>)[fn] = (...args: unknown[]) => {
    if (left > 0) {
      left--;
      if (fn === "C_DecryptAsync") return Promise.reject(ckr(name));
      throw ckr(name);
    }
    return original(...args);
  };
}

describe("a throttled CloudHSM (fake module)", () => {
  it("a busy C_Decrypt (CKR_FUNCTION_FAILED) is ERR_PROVIDER_UNAVAILABLE naming the CKR, never a bad ciphertext", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake, { poolSize: 2 });
    const { plaintext, encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    const encryptedDataKey = encryptedDataKeys[0]!;

    throttle(fake, "C_DecryptAsync", "CKR_FUNCTION_FAILED");
    const error = await errorOf(provider.decryptDataKey({ encryptedDataKey, context }));
    // A caller told ERR_INVALID_CIPHERTEXT ("authentication failed") would take a valid data key for a forged one.
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.message).not.toBe(AUTHENTICATION_FAILED_MESSAGE);
    expect(error.message).toMatch(/CKR_FUNCTION_FAILED/);
    // Once the HSM has capacity again, the same data key opens.
    expect(await provider.decryptDataKey({ encryptedDataKey, context })).toEqual(plaintext);
    // A real tag failure is still the authentication failure.
    const tampered = { ...encryptedDataKey, ciphertext: encryptedDataKey.ciphertext.slice() };
    tampered.ciphertext[tampered.ciphertext.length - 1]! ^= 1;
    expect((await errorOf(provider.decryptDataKey({ encryptedDataKey: tampered, context }))).code).toBe(
      "ERR_INVALID_CIPHERTEXT",
    );
    await provider.close();
  });

  it("the key wrapper (kms-local's root key) reports a busy unwrap as unavailable, not as a wrong root key", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const wrapper = pkcs11KeyWrapper({
      library: "/opt/cloudhsm/lib/libcloudhsm_pkcs11.so",
      tokenLabel: "fake",
      pin: "crypto_user:password",
      keyLabel: "master",
      profile: "cloudhsm",
      module: fake,
    });
    const aad = new Uint8Array([7]);
    const wrapped = await wrapper.wrap(new Uint8Array(32).fill(9), aad);
    throttle(fake, "C_DecryptAsync", "CKR_FUNCTION_FAILED");
    const error = await errorOf(wrapper.unwrap(wrapped, aad));
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(await wrapper.unwrap(wrapped, aad)).toEqual(new Uint8Array(32).fill(9));
    await wrapper.close();
  });

  it("a throttled key check (C_GetAttributeValue: CKR_DEVICE_ERROR) fails that call without restarting the library", async () => {
    const fake = new FakeModule({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake, { poolSize: 4 });
    // Two sessions in use, so that a re-initialization would end them (and log in and look the key up again).
    await Promise.all([
      provider.generateDataKey({ length: 32, context }),
      provider.generateDataKey({ length: 32, context }),
    ]);
    const sessionsBefore = provider.stats().open;
    // The next session to look the key up is a new one: open a third call while both are busy.
    throttle(fake, "C_GetAttributeValue", "CKR_DEVICE_ERROR");
    const calls = await Promise.all(
      [0, 1, 2].map(() =>
        provider.generateDataKey({ length: 32, context }).then(
          () => "ok",
          (e: unknown) => (SealkitError.isInstance(e) ? `${e.code} ${e.message}` : String(e)),
        ),
      ),
    );
    const failed = calls.filter((c) => c !== "ok");
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatch(/^ERR_PROVIDER_UNAVAILABLE .*CKR_DEVICE_ERROR/);
    // No C_Finalize/C_Initialize (with CloudHSM: reconnecting to every HSM of the cluster) for a busy HSM.
    expect(fake.count("C_Finalize")).toBe(0);
    expect(provider.stats().reinitializations).toBe(0);
    expect(provider.stats().open).toBeGreaterThanOrEqual(sessionsBefore);
    // The key is looked up again on the next call, and works.
    await provider.generateDataKey({ length: 32, context });
    await provider.close();
  });
});
