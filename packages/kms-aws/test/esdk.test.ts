// The AWS Encryption SDK (@aws-crypto/client-node) as a reference: its KMS keyring encrypts and decrypts through the
// same Sealkit KMS server, records the same key ARN our envelopes record, and our provider opens its data key.

import { buildClient, CommitmentPolicy, KmsKeyringNode } from "@aws-crypto/client-node";
import { CreateAliasCommand, KMS } from "@aws-sdk/client-kms";
import { encrypt } from "@sealkit/cipher";
import { parseHeader } from "@sealkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsKmsProvider } from "../src/index.js";
import { ALICE, type LocalServer, REGION, startLocalServer } from "./support.js";

const esdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

describe("the AWS Encryption SDK's KMS keyring on the same server", () => {
  let server: LocalServer;
  let kms: KMS;
  beforeAll(async () => {
    server = await startLocalServer();
    kms = new KMS({
      endpoint: server.url,
      region: REGION,
      credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
    });
  }, 60_000);
  afterAll(async () => {
    kms?.destroy();
    await server?.close();
  });

  it("both stacks record the key ARN KMS returns for the same alias, and our provider opens the ESDK's data key", async () => {
    const keyArn = await server.createKey();
    await server
      .client()
      .send(new CreateAliasCommand({ AliasName: "alias/kms-aws-esdk", TargetKeyId: keyArn }));
    const context = { tenant: "acme" };

    const keyring = new KmsKeyringNode({ generatorKeyId: "alias/kms-aws-esdk", clientProvider: () => kms });
    const before = await server.count("GenerateDataKey");
    const { result, messageHeader } = await esdk.encrypt(keyring, "from the ESDK", {
      encryptionContext: context,
    });
    expect(await server.count("GenerateDataKey")).toBe(before + 1);
    // The ESDK's strict keyring decrypts only with key ARNs (an alias never matches an encrypted data key).
    const byArn = new KmsKeyringNode({ generatorKeyId: keyArn, clientProvider: () => kms });
    const decrypts = await server.count("Decrypt");
    const { plaintext } = await esdk.decrypt(byArn, result);
    expect(await server.count("Decrypt")).toBe(decrypts + 1);
    expect(plaintext.toString()).toBe("from the ESDK");

    const provider = awsKmsProvider({ client: kms, generatorKeyId: "alias/kms-aws-esdk" });
    const sealed = await encrypt(new TextEncoder().encode("from Sealkit"), {
      providers: [provider],
      context,
    });
    const ours = parseHeader(sealed).encryptedDataKeys;
    const theirs = messageHeader.encryptedDataKeys;
    expect(theirs).toHaveLength(1);
    expect(ours).toHaveLength(1);
    expect(theirs[0]!.providerId).toBe("aws-kms");
    expect(ours[0]!.providerId).toBe(theirs[0]!.providerId);
    expect(ours[0]!.keyId).toBe(theirs[0]!.providerInfo);
    expect(ours[0]!.keyId).toBe(keyArn);

    // Our provider (strict, listing the alias) opens the ESDK's encrypted data key under the ESDK's context
    // (which carries its signing public key as well as ours): the same KMS ciphertext blob format and binding.
    const dataKey = await provider.decryptDataKey({
      encryptedDataKey: {
        providerId: "aws-kms",
        keyId: theirs[0]!.providerInfo,
        ciphertext: theirs[0]!.encryptedDataKey,
      },
      context: messageHeader.encryptionContext,
    });
    expect(dataKey).toHaveLength(32);
  });
});
