import { decrypt, encrypt } from "@sealkit/cipher";
import { SealkitError } from "@sealkit/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AWS_KMS_PROVIDER_ID, localKmsProvider } from "./provider.js";
import { ALICE, MALLORY, openTemp, ROOT } from "./test-helpers.js";

// Real SQLite, fsyncs and Argon2 on a shared 2-core machine: generous timeouts.
vi.setConfig({ testTimeout: 60_000 });

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe("localKmsProvider", () => {
  it("round-trips an envelope through @sealkit/cipher with two master keys, recording key ARNs as aws-kms", async () => {
    const t = await openTemp();
    cleanup = t.cleanup;
    const { kms } = t;
    const a = (await kms.createKey(ROOT, {})).KeyMetadata;
    const b = (await kms.createKey(ROOT, {})).KeyMetadata;
    await kms.createAlias(ROOT, { AliasName: "alias/app", TargetKeyId: a.KeyId });
    const provider = localKmsProvider({
      kms,
      keyId: "alias/app",
      additionalKeyIds: [b.KeyId],
      caller: ALICE,
    });
    const plaintext = new TextEncoder().encode("hello, local KMS");
    const sealed = await encrypt(plaintext, { providers: [provider], context: { tenant: "acme" } });
    const opened = await decrypt(sealed, { providers: [provider], expectContext: { tenant: "acme" } });
    expect(opened.plaintext).toEqual(plaintext);
    const keys = opened.header.encryptedDataKeys;
    expect(keys.map((k) => [k.providerId, k.keyId])).toEqual([
      [AWS_KMS_PROVIDER_ID, a.Arn],
      [AWS_KMS_PROVIDER_ID, b.Arn],
    ]);
    // Only the second key is enough to open it.
    const onlyB = localKmsProvider({ kms, keyId: b.Arn, caller: ALICE });
    expect((await decrypt(sealed, { providers: [onlyB] })).plaintext).toEqual(plaintext);
    // Strict: a provider configured for another key does not try.
    const c = (await kms.createKey(ROOT, {})).KeyMetadata;
    const other = localKmsProvider({ kms, keyId: c.KeyId, caller: ALICE });
    expect(other.canDecrypt(keys[0]!)).toBe(false);
    await expect(decrypt(sealed, { providers: [other] })).rejects.toSatisfy((e) =>
      SealkitError.isInstance(e, "ERR_NO_DECRYPTABLE_KEY"),
    );
  });

  it("passes KMS refusals on with their Sealkit codes", async () => {
    const t = await openTemp();
    cleanup = t.cleanup;
    const { kms } = t;
    const a = (await kms.createKey(ROOT, {})).KeyMetadata;
    const denied = localKmsProvider({ kms, keyId: a.KeyId, caller: MALLORY });
    await expect(denied.generateDataKey({ length: 32, context: {} })).rejects.toSatisfy((e) =>
      SealkitError.isInstance(e, "ERR_ACCESS_DENIED"),
    );
    await kms.disableKey(ROOT, { KeyId: a.KeyId });
    const disabled = localKmsProvider({ kms, keyId: a.KeyId, caller: ALICE });
    await expect(disabled.generateDataKey({ length: 32, context: {} })).rejects.toSatisfy((e) =>
      SealkitError.isInstance(e, "ERR_KEY_DISABLED"),
    );
    await kms.enableKey(ROOT, { KeyId: a.KeyId });
    const dk = await disabled.generateDataKey({ length: 32, context: { x: "1" } });
    await expect(
      disabled.decryptDataKey({ encryptedDataKey: dk.encryptedDataKeys[0]!, context: { x: "2" } }),
    ).rejects.toSatisfy((e) => SealkitError.isInstance(e, "ERR_INVALID_CIPHERTEXT"));
    expect(
      await disabled.decryptDataKey({ encryptedDataKey: dk.encryptedDataKeys[0]!, context: { x: "1" } }),
    ).toEqual(dk.plaintext);
  });
});
