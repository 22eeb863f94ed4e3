// A public secret key (CKA_PRIVATE false) that takes the master key's label, on a real SoftHSM2 token. Anyone who can
// open a session on the token may create public objects (PKCS#11: a read/write public session needs no login), and
// such a key is visible without a login: after a logout underneath the pool (C_Logout elsewhere in the process) it
// was the only key a lookup found, and new data keys were sealed under a key whose value its creator knows.

import { createDecipheriv, randomBytes } from "node:crypto";
import { concatBytes, encodeContext, utf8 } from "@sealkit/core";
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
import { createAesKey } from "./key-admin.js";
import { PKCS11_AAD_PREFIX, pkcs11Provider } from "./pkcs11-provider.js";

if (!hasSoftHsm) console.warn(SKIP_MESSAGE);

const TOKEN = { label: "substitution", pin: "1234", soPin: "5678" };
const context = { tenant: "acme" };

/** Creates a public, sensitive, non-extractable AES-256 token key labelled `label` whose value the caller chose. */
function plantPublicKey(label: string, value: Buffer): void {
  const raw = rawModule();
  const session = raw.C_OpenSession(
    slotOf(raw, TOKEN.label),
    pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION,
  );
  try {
    raw.C_CreateObject(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE, value },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
    ]);
  } finally {
    raw.C_CloseSession(session);
  }
}

function logoutUnderneath(): void {
  const raw = rawModule();
  const session = raw.C_OpenSession(slotOf(raw, TOKEN.label), pkcs11js.CKF_SERIAL_SESSION);
  raw.C_Logout(session);
  raw.C_CloseSession(session);
}

/** Whether `sealed` (0x01 || IV || ciphertext || tag) opens under `key` with the provider's AAD. */
function opensUnder(key: Buffer, sealed: Uint8Array): boolean {
  const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(1, 13));
  decipher.setAAD(concatBytes(utf8(PKCS11_AAD_PREFIX), encodeContext(context)));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    decipher.update(sealed.subarray(13, sealed.length - 16));
    decipher.final();
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!hasSoftHsm)("a public key under the master key's label (SoftHSM2)", () => {
  let hsm: SoftHsm;

  beforeAll(() => {
    hsm = setupSoftHsm([TOKEN]);
  });

  afterAll(() => hsm?.cleanup());

  it("is never used: after a logout underneath, data keys are still sealed under the private master key", async () => {
    await createAesKey(softHsmOptions(TOKEN), { label: "master" });
    const provider = pkcs11Provider({ ...softHsmOptions(TOKEN), keyLabel: "master", poolSize: 1 });
    const before = await provider.generateDataKey({ length: 32, context });
    const known = randomBytes(32);
    plantPublicKey("master", known);
    logoutUnderneath();
    const after = await provider.generateDataKey({ length: 32, context });
    const sealed = after.encryptedDataKeys[0]!.ciphertext;
    expect(opensUnder(known, sealed)).toBe(false);
    expect(await provider.decryptDataKey({ encryptedDataKey: after.encryptedDataKeys[0]!, context })).toEqual(
      after.plaintext,
    );
    expect(
      await provider.decryptDataKey({ encryptedDataKey: before.encryptedDataKeys[0]!, context }),
    ).toEqual(before.plaintext);
    await provider.close();
  });

  it("does not make the label ambiguous for a provider that starts while it exists", async () => {
    const provider = pkcs11Provider({ ...softHsmOptions(TOKEN), keyLabel: "master" });
    const { plaintext, encryptedDataKeys } = await provider.generateDataKey({ length: 32, context });
    expect(await provider.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context })).toEqual(
      plaintext,
    );
    await provider.close();
  });
});
