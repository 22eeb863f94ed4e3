// parsePkcs11Config: the CLI's HSM configuration file.

import { describe, expect, it } from "vitest";
import { parsePkcs11Config } from "./hsm-config.js";

describe("parsePkcs11Config", () => {
  it("reads the PIN from the environment and fills in the profile's library", () => {
    const config = parsePkcs11Config(
      '{ "profile": "cloudhsm", "tokenLabel": "hsm1", "keyLabel": "kms-root", "pinEnv": "HSM_PIN" }',
      { HSM_PIN: "crypto_user:secret" },
    );
    expect(config).toMatchObject({
      library: "/opt/cloudhsm/lib/libcloudhsm_pkcs11.so",
      tokenLabel: "hsm1",
      keyLabel: "kms-root",
      pin: "crypto_user:secret",
      profile: "cloudhsm",
    });
    expect(
      parsePkcs11Config({ profile: "softhsm", tokenLabel: "t", keyLabel: "k", pin: "1234" }).library,
    ).toBe("/usr/lib/softhsm/libsofthsm2.so");
  });

  it("rejects what it cannot use, naming the field", () => {
    const env = { HSM_PIN: "1234" };
    const cases: [string, RegExp][] = [
      ["{", /not valid JSON/],
      ["[]", /JSON object/],
      ['{ "profile": "softhsm", "keyLabel": "k", "pinEnv": "HSM_PIN", "pinn": 1 }', /unknown field "pinn"/],
      ['{ "profile": "luna", "keyLabel": "k", "pinEnv": "HSM_PIN" }', /profile/],
      ['{ "profile": "generic", "keyLabel": "k", "pinEnv": "HSM_PIN" }', /library/],
      ['{ "profile": "softhsm", "keyLabel": "k", "pinEnv": "NOT_SET" }', /NOT_SET/],
      ['{ "profile": "softhsm", "keyLabel": "k" }', /pinEnv/],
      ['{ "profile": "softhsm", "pinEnv": "HSM_PIN" }', /keyLabel/],
      ['{ "profile": "softhsm", "keyLabel": "k", "pinEnv": "HSM_PIN", "poolSize": "8" }', /poolSize/],
    ];
    for (const [text, message] of cases) expect(() => parsePkcs11Config(text, env)).toThrow(message);
  });

  it("never repeats a pinEnv that may be the PIN itself (written there by mistake)", () => {
    for (const mistaken of ["1234", "crypto_user:Secret9", "hunter2", "Secret Pin"]) {
      const text = JSON.stringify({ profile: "softhsm", keyLabel: "k", pinEnv: mistaken });
      let message = "";
      try {
        parsePkcs11Config(text, {});
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/named by "pinEnv" \(the token PIN\) is not set/);
      expect(message).not.toContain(mistaken);
    }
  });

  it("never quotes a config that is not valid JSON (the PIN may be in it)", () => {
    const texts = [
      '{ "profile": "softhsm", "keyLabel": "k",\n  "pin": SuperSecretPin }',
      '{ "profile": "softhsm", "keyLabel": "k", "pin": "SuperSecretPin" ',
      '{ "profile": "softhsm", "keyLabel": "k", "pin": "SuperSecretPin" }}',
      '{ "pin": "SuperSecretPin", }',
    ];
    for (const text of texts) {
      let message = "";
      try {
        parsePkcs11Config(text);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^HSM config is not valid JSON/);
      expect(message).not.toMatch(/Secret|Pin|pin/);
    }
  });
});
