// Session.releasingAfterDataKey: the wrapped providers behave as the providers, private fields included; and the
// AWS KMS clients the aws provider gets.

import { rawKeyProvider } from "@sealkit/core";
import { describe, expect, it } from "vitest";
import { resolveSettings } from "./config.js";
import { pkcs11KeyLabels, Session } from "./providers.js";

class PrivateFieldsProvider {
  readonly providerId = "test";
  readonly #inner = rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(7) });
  get keyCount() {
    return this.#inner ? 1 : 0;
  }
  generateDataKey(request: Parameters<typeof this.inner.generateDataKey>[0]) {
    return this.#inner.generateDataKey(request);
  }
  encryptDataKey(request: Parameters<typeof this.inner.encryptDataKey>[0]) {
    return this.#inner.encryptDataKey(request);
  }
  decryptDataKey(request: Parameters<typeof this.inner.decryptDataKey>[0]) {
    return this.#inner.decryptDataKey(request);
  }
  canDecrypt(edk: Parameters<typeof this.inner.canDecrypt>[0]) {
    return this.#inner.canDecrypt(edk);
  }
  private get inner() {
    return this.#inner;
  }
}

describe("releasingAfterDataKey", () => {
  it("keeps every method and getter of a provider with private fields working", async () => {
    const session = new Session();
    const [wrapped] = session.releasingAfterDataKey([new PrivateFieldsProvider()]);
    const key = await wrapped!.generateDataKey({ context: {}, length: 32 });
    expect(wrapped!.canDecrypt(key.encryptedDataKeys[0]!)).toBe(true);
    expect((wrapped as unknown as PrivateFieldsProvider).keyCount).toBe(1);
    const [edk] = await wrapped!.encryptDataKey({ plaintext: key.plaintext, context: {} });
    const opened = await wrapped!.decryptDataKey({ encryptedDataKey: edk!, context: {} });
    expect(opened).toEqual(key.plaintext);
    await session.close();
  });
});

describe("awsClients", () => {
  const env = { HOME: "/nonexistent", AWS_REGION: "us-east-1" };

  it("without an endpoint: a client in each key ARN's region, the home region's for aliases (as the ESDK's keyrings)", async () => {
    const session = new Session();
    const clients = await session.awsClients(resolveSettings({ provider: "aws" }, env), env);
    // One client in AWS_REGION called every region's keys there: NotFoundException for an eu-west-1 key ARN.
    expect("clientForRegion" in clients).toBe(true);
    const forRegion = (
      clients as { clientForRegion: (r: string | undefined) => import("@aws-sdk/client-kms").KMSClient }
    ).clientForRegion;
    expect(await forRegion("eu-west-1").config.region()).toBe("eu-west-1");
    expect(forRegion("eu-west-1")).toBe(forRegion("eu-west-1"));
    expect(await forRegion(undefined).config.region()).toBe("us-east-1");
    expect(forRegion("us-east-1")).toBe(forRegion(undefined));
    await session.close();
  });

  it("with an endpoint, from any source: one client, since an endpoint answers for one region", async () => {
    const session = new Session();
    const flag = await session.awsClients(resolveSettings({ endpoint: "http://127.0.0.1:1" }, env), env);
    expect("client" in flag).toBe(true);
    const fromSdkEnv = { ...env, AWS_ENDPOINT_URL_KMS: "http://127.0.0.1:1" };
    const sdk = await session.awsClients(resolveSettings({ provider: "aws" }, fromSdkEnv), fromSdkEnv);
    expect("client" in sdk).toBe(true);
    await session.close();
  });
});

describe("pkcs11KeyLabels", () => {
  it("finds the key labels of the configured token, whose label may carry PKCS#11's blank padding", () => {
    const ids = ["pkcs11:token=hsm1;object=master", "pkcs11:token=hsm2;object=other", "raw-key"];
    expect(pkcs11KeyLabels(ids, "hsm1")).toEqual(["master"]);
    // kms-cloudhsm writes "hsm1" for a configured "hsm1 " (blanks are padding): the key is still this token's.
    expect(pkcs11KeyLabels(ids, "hsm1   ")).toEqual(["master"]);
    expect(pkcs11KeyLabels(ids, undefined)).toEqual(["master", "other"]);
    expect(pkcs11KeyLabels(ids, "hsm3")).toEqual([]);
  });
});
