// Hostile wrapped values and encrypted data keys on a real SoftHSM2 token: a value this package cannot have written
// (too long, too short, another version byte) is refused before any PKCS#11 call, so it costs no session, no login
// and no HSM work. The library is reached through a proxy that records every call.

import { AUTHENTICATION_FAILED_MESSAGE, randomBytes, SealkitError, utf8 } from "@sealkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  errorOf,
  hasSoftHsm,
  recordingSoftHsm,
  type SoftHsm,
  setupSoftHsm,
  softHsmOptions,
} from "../test/softhsm.js";
import { createAesKey } from "./key-admin.js";
import { MAX_WRAP_PLAINTEXT, pkcs11KeyWrapper } from "./key-wrapper.js";
import { pkcs11Provider } from "./pkcs11-provider.js";

const TOKEN = { label: "hostile", pin: "1234", soPin: "5678" };
const config = { ...softHsmOptions(TOKEN), keyLabel: "root" };
const aad = utf8("backing-key:1");
const context = { tenant: "acme" };

describe.skipIf(!hasSoftHsm)("hostile lengths are refused before any PKCS#11 call (SoftHSM2)", () => {
  let hsm: SoftHsm;

  beforeAll(async () => {
    hsm = setupSoftHsm([TOKEN]);
    await createAesKey(config, { label: "root" });
  });
  afterAll(() => hsm?.cleanup());

  it("key wrapper: a huge, a truncated or a foreign-version blob fails authentication without touching the token", async () => {
    const plain = pkcs11KeyWrapper(config);
    const foreign = (await plain.wrap(randomBytes(32), aad)).slice();
    await plain.close();
    foreign[0] = 0x02;
    const huge = new Uint8Array(8 * 1024 * 1024);
    huge[0] = 0x01;
    const { module, calls } = recordingSoftHsm();
    const wrapper = pkcs11KeyWrapper({ ...config, module });
    for (const wrapped of [huge, new Uint8Array(29).fill(1), new Uint8Array(0), foreign]) {
      const error = await errorOf(wrapper.unwrap(wrapped, aad));
      expect(SealkitError.isInstance(error, "ERR_AUTHENTICATION_FAILED")).toBe(true);
      expect((error as Error).message).toBe(AUTHENTICATION_FAILED_MESSAGE);
    }
    expect(calls).toEqual([]);
    expect(wrapper.stats().peakOpen).toBe(0);
    await wrapper.close();
  });

  it("key wrapper: an empty value or more than MAX_WRAP_PLAINTEXT bytes is a RangeError before any call; the limit round-trips", async () => {
    const { module, calls } = recordingSoftHsm();
    const wrapper = pkcs11KeyWrapper({ ...config, module });
    expect(MAX_WRAP_PLAINTEXT).toBe(16 * 1024 - 16);
    await expect(wrapper.wrap(new Uint8Array(MAX_WRAP_PLAINTEXT + 1), aad)).rejects.toThrow(RangeError);
    expect(calls).toEqual([]);
    const largest = randomBytes(MAX_WRAP_PLAINTEXT);
    const wrapped = await wrapper.wrap(largest, aad);
    expect(wrapped).toHaveLength(MAX_WRAP_PLAINTEXT + 29);
    expect(await wrapper.unwrap(wrapped, aad)).toEqual(largest);
    // An empty value is a caller mistake, refused before the token sees it (SoftHSM2 answered CKR_ARGUMENTS_BAD,
    // which surfaced as ERR_PROVIDER_UNAVAILABLE as though the token were broken).
    calls.length = 0;
    await expect(wrapper.wrap(new Uint8Array(0), aad)).rejects.toThrow(RangeError);
    expect(calls).toEqual([]);
    await wrapper.close();
  });

  it("provider: an encrypted data key with another version byte is refused without a session", async () => {
    const sealed = await (async () => {
      const provider = pkcs11Provider({ ...config, keyLabel: "root" });
      const { encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
      await provider.close();
      return encryptedDataKeys[0]!;
    })();
    const { module, calls } = recordingSoftHsm();
    const provider = pkcs11Provider({ ...config, keyLabel: "root", module });
    for (const version of [0x00, 0x02, 0xff]) {
      const ciphertext = sealed.ciphertext.slice();
      ciphertext[0] = version;
      const error = await errorOf(
        provider.decryptDataKey({ encryptedDataKey: { ...sealed, ciphertext }, context }),
      );
      expect(SealkitError.isInstance(error, "ERR_INVALID_CIPHERTEXT")).toBe(true);
      expect((error as Error).message).toBe(AUTHENTICATION_FAILED_MESSAGE);
    }
    expect(calls).toEqual([]);
    expect(await provider.decryptDataKey({ encryptedDataKey: sealed, context })).toHaveLength(32);
    await provider.close();
  });
});
