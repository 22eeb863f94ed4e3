// What a provider's configuration can break before any call (SoftHSM2): a provider id with a lone surrogate (an
// envelope its own provider cannot open), a key id too long for any envelope, and a library left loaded and
// initialized by a constructor that threw.

import { decrypt, encrypt } from "@sealkit/cipher";
import { encodeEncryptedDataKeys } from "@sealkit/core";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  hasSoftHsm,
  SKIP_MESSAGE,
  SOFTHSM_LIBRARY,
  type SoftHsm,
  setupSoftHsm,
  softHsmOptions,
} from "../test/softhsm.js";
import { createAesKey } from "./key-admin.js";
import { pkcs11Provider } from "./pkcs11-provider.js";

if (!hasSoftHsm) console.warn(SKIP_MESSAGE);

const TOKEN = { label: "construction", pin: "1234", soPin: "5678" };
const options = { ...softHsmOptions(TOKEN), keyLabel: "master" };

/** True when SoftHSM2 is initialized in this process by someone (a fresh handle's C_Initialize says ALREADY). */
function libraryInitialized(): boolean {
  const probe = new pkcs11js.PKCS11();
  probe.load(SOFTHSM_LIBRARY);
  try {
    probe.C_Initialize();
    probe.C_Finalize();
    return false;
  } catch (error) {
    if (/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test(String(error))) return true;
    throw error;
  } finally {
    probe.close();
  }
}

describe.skipIf(!hasSoftHsm)("provider construction (SoftHSM2)", () => {
  let hsm: SoftHsm;

  beforeAll(async () => {
    hsm = setupSoftHsm([TOKEN]);
    await createAesKey(softHsmOptions(TOKEN), { label: "master" });
  });

  afterAll(() => hsm?.cleanup());

  it("refuses a provider id with a lone surrogate: envelopes would name U+FFFD, which it never matches", async () => {
    expect(() => pkcs11Provider({ ...options, providerId: "hsm\uD800" })).toThrow(TypeError);
    expect(() => pkcs11Provider({ ...options, providerId: "\uDC00" })).toThrow(/lone surrogates/);
    // A well-formed non-ASCII provider id round-trips through a real envelope.
    const provider = pkcs11Provider({ ...options, providerId: "hsm-🔑" });
    const sealed = await encrypt(new Uint8Array([1, 2, 3]), { providers: [provider], context: { a: "b" } });
    const opened = await decrypt(sealed, { providers: [provider], expectContext: { a: "b" } });
    expect(opened.plaintext).toEqual(new Uint8Array([1, 2, 3]));
    await provider.close();
  });

  it("refuses a key label whose key id no envelope can carry (over 65,535 bytes), before any call", () => {
    const keyLabel = "é".repeat(12_000); // 24,000 bytes, 72,000 percent-encoded
    expect(() =>
      encodeEncryptedDataKeys([
        {
          providerId: "pkcs11",
          keyId: `pkcs11:token=x;object=${encodeURIComponent(keyLabel)}`,
          ciphertext: new Uint8Array(61),
        },
      ]),
    ).toThrow(RangeError);
    expect(() => pkcs11Provider({ ...options, keyLabel })).toThrow(/key id \(72\d+ bytes/);
    // The longest that fits is accepted.
    const fits = "a".repeat(65_535 - "pkcs11:token=construction;object=".length);
    expect(pkcs11Provider({ ...options, keyLabel: fits }).keyId).toHaveLength(65_535);
  });

  it("refuses a signal that is not an AbortSignal before any HSM call (it was used after the data key existed)", async () => {
    const provider = pkcs11Provider(options);
    const signal = { aborted: false } as unknown as AbortSignal;
    await expect(provider.generateDataKey({ length: 32, context: {}, signal })).rejects.toThrow(TypeError);
    await expect(
      provider.encryptDataKey({ plaintext: new Uint8Array(32), context: {}, signal }),
    ).rejects.toThrow(/"signal" expected an AbortSignal/);
    // Refused before the pool opened a session: no data key was generated only to be dropped unwiped.
    expect(provider.stats().open).toBe(0);
    const { encryptedDataKeys } = await provider.generateDataKey({ length: 32, context: {} });
    await expect(
      provider.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context: {}, signal }),
    ).rejects.toThrow(/"signal" expected an AbortSignal/);
    await provider.close();
  });

  it("releases the library when a slot-only provider cannot read its token at construction", async () => {
    expect(libraryInitialized()).toBe(false);
    const { tokenLabel: _unused, ...bySlot } = options;
    expect(() => pkcs11Provider({ ...bySlot, slot: 987_654 })).toThrow(/slot 987654 has no token/);
    await new Promise((resolve) => setImmediate(resolve));
    expect(libraryInitialized()).toBe(false);
    // And the next provider's close() finalizes it as the last user.
    const provider = pkcs11Provider(options);
    await provider.generateDataKey({ length: 32, context: {} });
    expect(libraryInitialized()).toBe(true);
    await provider.close();
    expect(libraryInitialized()).toBe(false);
  });
});
