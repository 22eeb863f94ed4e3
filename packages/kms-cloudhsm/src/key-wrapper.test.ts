// pkcs11KeyWrapper against a real SoftHSM2 token.

import { AUTHENTICATION_FAILED_MESSAGE, randomBytes, SealkitError, utf8 } from "@sealkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasSoftHsm, type SoftHsm, setupSoftHsm, softHsmOptions } from "../test/softhsm.js";
import { createAesKey } from "./key-admin.js";
import { pkcs11KeyWrapper } from "./key-wrapper.js";

const TOKEN = { label: "kms-root", pin: "1234", soPin: "5678" };
const config = { ...softHsmOptions(TOKEN), keyLabel: "root" };

describe.skipIf(!hasSoftHsm)("pkcs11KeyWrapper on SoftHSM2", () => {
  let hsm: SoftHsm;

  beforeAll(async () => {
    hsm = setupSoftHsm([TOKEN]);
    await createAesKey(config, { label: "root" });
  });
  afterAll(() => hsm?.cleanup());

  it("wraps and unwraps with AAD, across a close and reopen", async () => {
    const wrapper = pkcs11KeyWrapper(config);
    expect(wrapper.description).toBe("pkcs11:token=kms-root,key=root");
    const secret = randomBytes(32);
    const aad = utf8("backing-key:1234");
    const wrapped = await wrapper.wrap(secret, aad);
    expect(wrapped).toHaveLength(1 + 12 + 32 + 16);
    await wrapper.close();

    const reopened = pkcs11KeyWrapper(config);
    expect(await reopened.unwrap(wrapped, aad)).toEqual(secret);
    await reopened.close();
  });

  it("fails with ERR_AUTHENTICATION_FAILED for altered bytes or AAD", async () => {
    const wrapper = pkcs11KeyWrapper(config);
    const wrapped = await wrapper.wrap(randomBytes(32), utf8("a"));
    const altered = wrapped.slice();
    altered[20]! ^= 1;
    for (const [bytes, aad] of [
      [altered, utf8("a")],
      [wrapped, utf8("b")],
    ] as const) {
      const error = await wrapper.unwrap(bytes, aad).catch((e: unknown) => e);
      expect(SealkitError.isInstance(error, "ERR_AUTHENTICATION_FAILED")).toBe(true);
      expect((error as Error).message).toBe(AUTHENTICATION_FAILED_MESSAGE);
    }
    await wrapper.close();
  });

  it("fails clearly when the key or the token is missing", async () => {
    const noKey = pkcs11KeyWrapper({ ...config, keyLabel: "gone" });
    const error = await noKey.wrap(randomBytes(32), utf8("a")).catch((e: unknown) => e);
    expect(SealkitError.isInstance(error, "ERR_KEY_NOT_FOUND")).toBe(true);
    await noKey.close();
    const noToken = pkcs11KeyWrapper({ ...config, tokenLabel: "unplugged" });
    // A blob of the right shape (version 0x01): a malformed one is refused before the token is looked for.
    const wellFormed = new Uint8Array(61);
    wellFormed[0] = 0x01;
    const error2 = await noToken.unwrap(wellFormed, utf8("a")).catch((e: unknown) => e);
    expect(SealkitError.isInstance(error2, "ERR_PROVIDER_UNAVAILABLE")).toBe(true);
    await noToken.close();
  });
});
