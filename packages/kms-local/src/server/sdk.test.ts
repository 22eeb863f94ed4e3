// Every operation and error mapping through the real @aws-sdk/client-kms, over HTTP, against the real LocalKms.

import { join } from "node:path";
import * as K from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalKms } from "../local-kms.js";
import { loadCredentialsFile } from "./credentials.js";
import { createKmsServer } from "./server.js";
import { ALICE, BOB, type SdkServer, sdkFailure, startSdkServer } from "./test-support.js";

const te = new TextEncoder();

/** Puts a key policy that gives Alice the key and denies kms:Encrypt to everyone when `condition` holds. */
function putDenyEncryptPolicy(client: K.KMSClient, keyId: string, condition: Record<string, unknown>) {
  return client.send(
    new K.PutKeyPolicyCommand({
      KeyId: keyId,
      PolicyName: "default",
      Policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "admin",
            Effect: "Allow",
            Principal: { AWS: ALICE.principal },
            Action: "kms:*",
            Resource: "*",
          },
          {
            Sid: "deny",
            Effect: "Deny",
            Principal: "*",
            Action: "kms:Encrypt",
            Resource: "*",
            Condition: condition,
          },
        ],
      }),
    }),
  );
}

describe("KMS server with @aws-sdk/client-kms", { timeout: 30_000 }, () => {
  let fixture: SdkServer;
  let dir: string;
  let kms: LocalKms;
  let alice: K.KMSClient;
  let bob: K.KMSClient;
  let mallory: K.KMSClient;

  beforeAll(async () => {
    fixture = await startSdkServer("sealkit-kms-sdk-");
    ({ dir, kms, alice, bob, mallory } = fixture);
  });
  afterAll(() => fixture?.close());

  const failure = sdkFailure;

  it("creates, describes, lists and updates keys; dates come back as Dates", async () => {
    const created = await alice.send(
      new K.CreateKeyCommand({ Description: "orders", Tags: [{ TagKey: "team", TagValue: "payments" }] }),
    );
    const meta = created.KeyMetadata!;
    expect(meta.Arn).toBe(`arn:aws:kms:us-east-1:111122223333:key/${meta.KeyId}`);
    expect(meta.CreationDate).toBeInstanceOf(Date);
    expect(Math.abs(meta.CreationDate!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(meta).toMatchObject({
      KeyState: "Enabled",
      KeySpec: "SYMMETRIC_DEFAULT",
      KeyManager: "CUSTOMER",
      Description: "orders",
    });
    const described = await alice.send(new K.DescribeKeyCommand({ KeyId: meta.KeyId }));
    expect(described.KeyMetadata?.Arn).toBe(meta.Arn);
    await alice.send(new K.CreateKeyCommand({ Description: "second" }));
    const page = await alice.send(new K.ListKeysCommand({ Limit: 1 }));
    expect(page.Keys).toHaveLength(1);
    expect(page.Truncated).toBe(true);
    const next = await alice.send(new K.ListKeysCommand({ Limit: 10, Marker: page.NextMarker }));
    expect(next.Keys?.length).toBeGreaterThanOrEqual(1);
    await alice.send(new K.UpdateKeyDescriptionCommand({ KeyId: meta.KeyId, Description: "orders v2" }));
    expect((await alice.send(new K.DescribeKeyCommand({ KeyId: meta.Arn }))).KeyMetadata?.Description).toBe(
      "orders v2",
    );
  });

  it("manages aliases and refuses a duplicate with AlreadyExistsException (409)", async () => {
    const { KeyMetadata: a } = await alice.send(new K.CreateKeyCommand({}));
    const { KeyMetadata: b } = await alice.send(new K.CreateKeyCommand({}));
    await alice.send(new K.CreateAliasCommand({ AliasName: "alias/sdk-app", TargetKeyId: a!.KeyId }));
    expect(
      await failure(
        alice.send(new K.CreateAliasCommand({ AliasName: "alias/sdk-app", TargetKeyId: b!.KeyId })),
      ),
    ).toMatchObject({
      name: "AlreadyExistsException",
      status: 409,
    });
    const listed = await alice.send(new K.ListAliasesCommand({ KeyId: a!.KeyId }));
    expect(listed.Aliases?.map((x) => x.AliasName)).toContain("alias/sdk-app");
    await alice.send(new K.UpdateAliasCommand({ AliasName: "alias/sdk-app", TargetKeyId: b!.KeyId }));
    expect((await alice.send(new K.DescribeKeyCommand({ KeyId: "alias/sdk-app" }))).KeyMetadata?.KeyId).toBe(
      b!.KeyId,
    );
    await alice.send(new K.DeleteAliasCommand({ AliasName: "alias/sdk-app" }));
    expect(await failure(alice.send(new K.DescribeKeyCommand({ KeyId: "alias/sdk-app" })))).toMatchObject({
      name: "NotFoundException",
      status: 404,
    });
  });

  it("encrypts, decrypts, re-encrypts and generates data keys and random bytes", async () => {
    const { KeyMetadata: k1 } = await alice.send(new K.CreateKeyCommand({}));
    const { KeyMetadata: k2 } = await alice.send(new K.CreateKeyCommand({}));
    const context = { tenant: "acme", purpose: "tést ✓ 日本" };
    const enc = await alice.send(
      new K.EncryptCommand({ KeyId: k1!.KeyId, Plaintext: te.encode("hello"), EncryptionContext: context }),
    );
    expect(enc.KeyId).toBe(k1!.Arn);
    expect(enc.CiphertextBlob).toBeInstanceOf(Uint8Array);
    const dec = await alice.send(
      new K.DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context }),
    );
    expect(new TextDecoder().decode(dec.Plaintext)).toBe("hello");
    expect(dec.KeyId).toBe(k1!.Arn);
    expect(
      await failure(
        alice.send(
          new K.DecryptCommand({
            CiphertextBlob: enc.CiphertextBlob,
            EncryptionContext: { tenant: "other" },
          }),
        ),
      ),
    ).toMatchObject({ name: "InvalidCiphertextException", status: 400 });
    expect(
      await failure(
        alice.send(
          new K.DecryptCommand({
            CiphertextBlob: enc.CiphertextBlob,
            EncryptionContext: context,
            KeyId: k2!.KeyId,
          }),
        ),
      ),
    ).toMatchObject({ name: "IncorrectKeyException", status: 400 });
    const re = await alice.send(
      new K.ReEncryptCommand({
        CiphertextBlob: enc.CiphertextBlob,
        SourceEncryptionContext: context,
        DestinationKeyId: k2!.KeyId,
        DestinationEncryptionContext: { moved: "yes" },
      }),
    );
    expect(re.SourceKeyId).toBe(k1!.Arn);
    expect(re.KeyId).toBe(k2!.Arn);
    const dec2 = await alice.send(
      new K.DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { moved: "yes" } }),
    );
    expect(new TextDecoder().decode(dec2.Plaintext)).toBe("hello");
    const dk = await alice.send(
      new K.GenerateDataKeyCommand({ KeyId: k1!.KeyId, KeySpec: "AES_256", EncryptionContext: context }),
    );
    expect(dk.Plaintext).toHaveLength(32);
    const opened = await alice.send(
      new K.DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: context }),
    );
    expect(Buffer.from(opened.Plaintext!).equals(Buffer.from(dk.Plaintext!))).toBe(true);
    const wp = await alice.send(
      new K.GenerateDataKeyWithoutPlaintextCommand({ KeyId: k1!.KeyId, NumberOfBytes: 16 }),
    );
    expect((wp as { Plaintext?: unknown }).Plaintext).toBeUndefined();
    expect(
      (await alice.send(new K.DecryptCommand({ CiphertextBlob: wp.CiphertextBlob }))).Plaintext,
    ).toHaveLength(16);
    const random = await alice.send(new K.GenerateRandomCommand({ NumberOfBytes: 64 }));
    expect(random.Plaintext).toHaveLength(64);
    expect(await failure(alice.send(new K.GenerateRandomCommand({ NumberOfBytes: 2000 })))).toMatchObject({
      name: "ValidationException",
      status: 400,
    });
    expect(
      await failure(alice.send(new K.EncryptCommand({ KeyId: k1!.KeyId, Plaintext: new Uint8Array(4097) }))),
    ).toMatchObject({
      name: "ValidationException",
    });
    expect(
      await failure(
        alice.send(new K.DecryptCommand({ CiphertextBlob: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]) })),
      ),
    ).toMatchObject({ name: "InvalidCiphertextException", status: 400 });
    const used = await alice.send(new K.GenerateDataKeyCommand({ KeyId: k1!.KeyId, NumberOfBytes: 32 }));
    const usage = await alice.send(new K.GetKeyLastUsageCommand({ KeyId: k1!.KeyId }));
    expect(usage.KeyId).toBe(k1!.Arn);
    // The request id is the one the SDK read from x-amzn-RequestId.
    expect(usage.KeyLastUsage).toMatchObject({
      Operation: "GenerateDataKey",
      KmsRequestId: used.$metadata.requestId,
      CloudTrailEventId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });

  it("rotates keys; old ciphertexts still decrypt", async () => {
    const { KeyMetadata: k } = await alice.send(new K.CreateKeyCommand({}));
    const enc = await alice.send(new K.EncryptCommand({ KeyId: k!.KeyId, Plaintext: te.encode("before") }));
    await alice.send(new K.EnableKeyRotationCommand({ KeyId: k!.KeyId, RotationPeriodInDays: 90 }));
    const status = await alice.send(new K.GetKeyRotationStatusCommand({ KeyId: k!.KeyId }));
    expect(status.KeyRotationEnabled).toBe(true);
    expect(status.RotationPeriodInDays).toBe(90);
    expect(status.NextRotationDate).toBeInstanceOf(Date);
    await alice.send(new K.RotateKeyOnDemandCommand({ KeyId: k!.KeyId }));
    const rotations = await alice.send(new K.ListKeyRotationsCommand({ KeyId: k!.KeyId }));
    expect(rotations.Rotations).toHaveLength(1);
    expect(rotations.Rotations?.[0]?.RotationDate).toBeInstanceOf(Date);
    expect(rotations.Rotations?.[0]?.RotationType).toBe("ON_DEMAND");
    expect(
      new TextDecoder().decode(
        (await alice.send(new K.DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).Plaintext,
      ),
    ).toBe("before");
    await alice.send(new K.DisableKeyRotationCommand({ KeyId: k!.KeyId }));
    expect(
      (await alice.send(new K.GetKeyRotationStatusCommand({ KeyId: k!.KeyId }))).KeyRotationEnabled,
    ).toBe(false);
  });

  it("moves keys through Disabled and PendingDeletion with DisabledException and KMSInvalidStateException (409)", async () => {
    const { KeyMetadata: k } = await alice.send(new K.CreateKeyCommand({}));
    await alice.send(new K.DisableKeyCommand({ KeyId: k!.KeyId }));
    expect(
      await failure(alice.send(new K.EncryptCommand({ KeyId: k!.KeyId, Plaintext: te.encode("x") }))),
    ).toMatchObject({
      name: "DisabledException",
      status: 409,
    });
    await alice.send(new K.EnableKeyCommand({ KeyId: k!.KeyId }));
    const scheduled = await alice.send(
      new K.ScheduleKeyDeletionCommand({ KeyId: k!.KeyId, PendingWindowInDays: 7 }),
    );
    expect(scheduled.DeletionDate).toBeInstanceOf(Date);
    expect(scheduled.KeyState).toBe("PendingDeletion");
    expect(
      await failure(alice.send(new K.EncryptCommand({ KeyId: k!.KeyId, Plaintext: te.encode("x") }))),
    ).toMatchObject({
      name: "KMSInvalidStateException",
      status: 409,
    });
    expect((await alice.send(new K.CancelKeyDeletionCommand({ KeyId: k!.KeyId }))).KeyId).toBe(k!.Arn);
    expect((await alice.send(new K.DescribeKeyCommand({ KeyId: k!.KeyId }))).KeyMetadata?.KeyState).toBe(
      "Disabled",
    );
    expect(
      await failure(alice.send(new K.DescribeKeyCommand({ KeyId: "11111111-2222-3333-4444-555555555555" }))),
    ).toMatchObject({ name: "NotFoundException", status: 404 });
  });

  it("tags and untags keys", async () => {
    const { KeyMetadata: k } = await alice.send(new K.CreateKeyCommand({}));
    await alice.send(
      new K.TagResourceCommand({
        KeyId: k!.KeyId,
        Tags: [
          { TagKey: "env", TagValue: "dev" },
          { TagKey: "x", TagValue: "1" },
        ],
      }),
    );
    await alice.send(new K.UntagResourceCommand({ KeyId: k!.KeyId, TagKeys: ["x"] }));
    const tags = await alice.send(new K.ListResourceTagsCommand({ KeyId: k!.KeyId }));
    expect(tags.Tags).toEqual([{ TagKey: "env", TagValue: "dev" }]);
  });

  it("enforces key policies: another account is denied, and PutKeyPolicy changes who may use the key", async () => {
    const { KeyMetadata: k } = await alice.send(new K.CreateKeyCommand({}));
    expect(
      await failure(mallory.send(new K.EncryptCommand({ KeyId: k!.Arn, Plaintext: te.encode("x") }))),
    ).toMatchObject({
      name: "AccessDeniedException",
      status: 400,
    });
    const policies = await alice.send(new K.ListKeyPoliciesCommand({ KeyId: k!.KeyId }));
    expect(policies.PolicyNames).toEqual(["default"]);
    const current = await alice.send(new K.GetKeyPolicyCommand({ KeyId: k!.KeyId, PolicyName: "default" }));
    expect(JSON.parse(current.Policy!).Statement[0].Principal.AWS).toBe("arn:aws:iam::111122223333:root");
    const policy = {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "admin",
          Effect: "Allow",
          Principal: { AWS: ALICE.principal },
          Action: "kms:*",
          Resource: "*",
        },
        {
          Sid: "no-bob",
          Effect: "Deny",
          Principal: { AWS: BOB.principal },
          Action: "kms:Decrypt",
          Resource: "*",
        },
      ],
    };
    await alice.send(
      new K.PutKeyPolicyCommand({ KeyId: k!.KeyId, PolicyName: "default", Policy: JSON.stringify(policy) }),
    );
    expect(
      await failure(bob.send(new K.EncryptCommand({ KeyId: k!.Arn, Plaintext: te.encode("x") }))),
    ).toMatchObject({
      name: "AccessDeniedException",
    });
    expect(
      await failure(
        alice.send(
          new K.PutKeyPolicyCommand({ KeyId: k!.KeyId, PolicyName: "default", Policy: "{not json" }),
        ),
      ),
    ).toMatchObject({ name: "MalformedPolicyDocumentException", status: 400 });
  });

  it("sets aws:SourceIp from the connection and aws:SecureTransport false (plain HTTP) for key policies", async () => {
    const { KeyMetadata: k } = await alice.send(new K.CreateKeyCommand({}));
    const denyEncryptWhen = (condition: Record<string, unknown>) =>
      putDenyEncryptPolicy(alice, k!.KeyId!, condition);
    const encrypt = () => alice.send(new K.EncryptCommand({ KeyId: k!.Arn, Plaintext: te.encode("x") }));
    await denyEncryptWhen({ NotIpAddress: { "aws:SourceIp": ["127.0.0.0/8", "::1/128"] } });
    await expect(encrypt()).resolves.toMatchObject({ KeyId: k!.Arn });
    await denyEncryptWhen({ IpAddress: { "aws:SourceIp": "127.0.0.1" } });
    expect(await failure(encrypt())).toMatchObject({ name: "AccessDeniedException" });
    await denyEncryptWhen({ Bool: { "aws:SecureTransport": "false" } });
    expect(await failure(encrypt())).toMatchObject({ name: "AccessDeniedException" });
    await denyEncryptWhen({ Bool: { "aws:SecureTransport": "true" } });
    await expect(encrypt()).resolves.toMatchObject({ KeyId: k!.Arn });
  });

  it("sees an IPv4 client of a dual-stack listener as its IPv4 address, in policies and the audit log", async () => {
    // A server of its own, as closing a server closes its LocalKms.
    const dualKms = await LocalKms.open({
      dataDir: join(dir, "dual"),
      region: "us-east-1",
      account: "111122223333",
    });
    const dual = createKmsServer({
      kms: dualKms,
      credentials: loadCredentialsFile(join(dir, "creds.json")),
      region: "us-east-1",
    });
    await dual.listen(0, "::");
    const c = new K.KMSClient({
      endpoint: `http://127.0.0.1:${new URL(dual.url).port}`,
      region: "us-east-1",
      credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
      maxAttempts: 1,
    });
    try {
      const { KeyMetadata: k } = await c.send(new K.CreateKeyCommand({ Description: "dual-stack" }));
      await putDenyEncryptPolicy(c, k!.KeyId!, { StringNotLike: { "aws:SourceIp": "127.*" } });
      await c.send(new K.EncryptCommand({ KeyId: k!.Arn, Plaintext: te.encode("x") }));
      const events = dualKms.auditLog!.query({ eventName: "Encrypt", principal: ALICE.principal });
      expect(events.map((e) => e.sourceIPAddress)).toEqual(["127.0.0.1"]);
    } finally {
      c.destroy();
      await dual.close();
    }
  });

  it("grants: a grantee may use the key with the grant token, and is denied once the grant is revoked or retired", async () => {
    const policy = {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "admin",
          Effect: "Allow",
          Principal: { AWS: ALICE.principal },
          Action: "kms:*",
          Resource: "*",
        },
      ],
    };
    const { KeyMetadata: k } = await alice.send(new K.CreateKeyCommand({ Policy: JSON.stringify(policy) }));
    expect(
      await failure(bob.send(new K.GenerateDataKeyCommand({ KeyId: k!.Arn, KeySpec: "AES_256" }))),
    ).toMatchObject({
      name: "AccessDeniedException",
    });
    const grant = await alice.send(
      new K.CreateGrantCommand({
        KeyId: k!.KeyId,
        GranteePrincipal: BOB.principal,
        RetiringPrincipal: ALICE.principal,
        Operations: ["GenerateDataKey", "Decrypt"],
        Constraints: { EncryptionContextSubset: { tenant: "acme" } },
        Name: "bob-orders",
      }),
    );
    expect(grant.GrantToken).toBeTruthy();
    const dk = await bob.send(
      new K.GenerateDataKeyCommand({
        KeyId: k!.Arn,
        KeySpec: "AES_256",
        EncryptionContext: { tenant: "acme" },
        GrantTokens: [grant.GrantToken!],
      }),
    );
    expect(dk.Plaintext).toHaveLength(32);
    // The constraint: another context is not covered by the grant.
    expect(
      await failure(
        bob.send(
          new K.GenerateDataKeyCommand({
            KeyId: k!.Arn,
            KeySpec: "AES_256",
            EncryptionContext: { tenant: "evil" },
          }),
        ),
      ),
    ).toMatchObject({ name: "AccessDeniedException" });
    const listed = await alice.send(new K.ListGrantsCommand({ KeyId: k!.KeyId }));
    expect(listed.Grants?.[0]).toMatchObject({
      GrantId: grant.GrantId,
      GranteePrincipal: BOB.principal,
      Name: "bob-orders",
    });
    expect(listed.Grants?.[0]?.CreationDate).toBeInstanceOf(Date);
    await alice.send(new K.RevokeGrantCommand({ KeyId: k!.KeyId, GrantId: grant.GrantId }));
    expect(
      await failure(
        bob.send(
          new K.DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: { tenant: "acme" } }),
        ),
      ),
    ).toMatchObject({ name: "AccessDeniedException", status: 400 });
    const second = await alice.send(
      new K.CreateGrantCommand({
        KeyId: k!.KeyId,
        GranteePrincipal: BOB.principal,
        RetiringPrincipal: ALICE.principal,
        Operations: ["Decrypt"],
      }),
    );
    await alice.send(new K.RetireGrantCommand({ GrantToken: second.GrantToken }));
    expect((await alice.send(new K.ListGrantsCommand({ KeyId: k!.KeyId }))).Grants).toHaveLength(0);
  });

  it("answers DryRun requests that would succeed with DryRunOperationException (412), and does nothing", async () => {
    const { KeyMetadata: k } = await alice.send(new K.CreateKeyCommand({}));
    const KeyId = k!.KeyId!;
    const { CiphertextBlob } = await alice.send(new K.EncryptCommand({ KeyId, Plaintext: te.encode("x") }));
    for (const command of [
      new K.EncryptCommand({ KeyId, Plaintext: te.encode("x"), DryRun: true }),
      new K.DecryptCommand({ CiphertextBlob, DryRun: true }),
      new K.GenerateDataKeyCommand({ KeyId, KeySpec: "AES_256", DryRun: true }),
      new K.CreateGrantCommand({
        KeyId,
        GranteePrincipal: BOB.principal,
        Operations: ["Decrypt"],
        DryRun: true,
      }),
    ]) {
      expect(await failure(alice.send(command as never))).toMatchObject({
        name: "DryRunOperationException",
        status: 412,
      });
    }
    expect((await alice.send(new K.ListGrantsCommand({ KeyId }))).Grants).toEqual([]);
    // One that would fail answers its own error.
    expect(
      await failure(mallory.send(new K.EncryptCommand({ KeyId, Plaintext: te.encode("x"), DryRun: true }))),
    ).toMatchObject({ name: "AccessDeniedException", status: 400 });
  });

  it("answers an operation it does not implement with UnsupportedOperationException", async () => {
    expect(
      await failure(alice.send(new K.CreateCustomKeyStoreCommand({ CustomKeyStoreName: "x" }))),
    ).toMatchObject({
      name: "UnsupportedOperationException",
      status: 400,
    });
  });

  it("surfaces ThrottlingException to the SDK when quotas are on", async () => {
    const throttled = createKmsServer({
      // The same LocalKms (closed by the main server), its audit log recording the throttled request.
      kms: {
        close() {},
        auditLog: kms.auditLog,
        generateRandom: (c: unknown, r: unknown) => kms.generateRandom(c as never, r as never),
      },
      credentials: [ALICE],
      region: "us-east-1",
      throttle: { quotas: { cryptographic: 2 } },
    });
    await throttled.listen(0, "127.0.0.1");
    const client = new K.KMSClient({
      endpoint: throttled.url,
      region: "us-east-1",
      credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
      maxAttempts: 1,
    });
    try {
      await client.send(new K.GenerateRandomCommand({ NumberOfBytes: 8 }));
      await client.send(new K.GenerateRandomCommand({ NumberOfBytes: 8 }));
      expect(await failure(client.send(new K.GenerateRandomCommand({ NumberOfBytes: 8 })))).toMatchObject({
        name: "ThrottlingException",
        status: 400,
      });
      expect(kms.auditLog!.query({ errorsOnly: true }).map((e) => e.errorCode)).toContain(
        "ThrottlingException",
      );
    } finally {
      client.destroy();
      await throttled.close();
    }
  });

  it("audits every SDK call with the authenticated principal", async () => {
    const { KeyMetadata: k } = await bob.send(new K.CreateKeyCommand({ Description: "bob's" }));
    const events = kms.auditLog!.query({ eventName: "CreateKey", principal: BOB.principal });
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.at(-1)?.userIdentity.accessKeyId).toBe(BOB.accessKeyId);
    expect(events.at(-1)?.resources.map((r) => r.ARN)).toContain(k!.Arn);
  });
});
