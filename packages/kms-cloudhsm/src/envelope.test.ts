// Real envelopes (@sealkit/cipher) with the PKCS#11 provider as one recipient and core's raw provider as another.

import { decrypt, encrypt } from "@sealkit/cipher";
import { randomBytes, rawKeyProvider, SealkitError, utf8 } from "@sealkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasSoftHsm, type SoftHsm, setupSoftHsm, softHsmOptions } from "../test/softhsm.js";
import { createAesKey } from "./key-admin.js";
import { type Pkcs11Provider, pkcs11Provider } from "./pkcs11-provider.js";

const TOKEN = { label: "envelope-test", pin: "1234", soPin: "5678" };
const session = softHsmOptions(TOKEN);

describe.skipIf(!hasSoftHsm)("envelopes with the PKCS#11 provider", () => {
  let hsm: SoftHsm;
  let hsmProvider: Pkcs11Provider;
  const rawKey = randomBytes(32);

  beforeAll(async () => {
    hsm = setupSoftHsm([TOKEN]);
    await createAesKey(session, { label: "master" });
    hsmProvider = pkcs11Provider({ ...session, keyLabel: "master" });
  });

  afterAll(async () => {
    await hsmProvider?.close();
    hsm?.cleanup();
  });

  it("encrypts for the HSM key and a raw key; either one alone decrypts", async () => {
    const raw = rawKeyProvider({ keyId: "escrow", key: rawKey });
    const message = utf8("quarterly numbers");
    const context = { tenant: "acme" };
    for (const suite of ["AES_256_GCM", "XCHACHA20_POLY1305"] as const) {
      const sealed = await encrypt(message, { providers: [hsmProvider, raw], context, suite });
      const viaHsm = await decrypt(sealed, { providers: [hsmProvider], expectContext: context });
      expect(viaHsm.plaintext).toEqual(message);
      const viaRaw = await decrypt(sealed, { providers: [rawKeyProvider({ keyId: "escrow", key: rawKey })] });
      expect(viaRaw.plaintext).toEqual(message);
    }
  });

  it("an envelope sealed only for the raw key cannot be opened with the HSM provider", async () => {
    const raw = rawKeyProvider({ keyId: "escrow", key: rawKey });
    const sealed = await encrypt(utf8("x"), { providers: [raw], context: {} });
    const error = await decrypt(sealed, { providers: [hsmProvider] }).catch((e: unknown) => e);
    expect(SealkitError.isInstance(error, "ERR_NO_DECRYPTABLE_KEY")).toBe(true);
  });
});
