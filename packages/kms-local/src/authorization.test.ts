// Authorization review through LocalKms: each case is something the local KMS allowed where AWS KMS, as its
// documentation describes it, refuses (or the reverse), with the source cited.

import { describe, expect, it, vi } from "vitest";
import type { LocalKms } from "./local-kms.js";
import { ACCOUNT, ALICE, BOB, cleanupsAfterEach, MALLORY, openTemp, ROOT, rejects } from "./test-helpers.js";
import type { Caller } from "./types.js";

vi.setConfig({ testTimeout: 60_000 });

const cleanups = cleanupsAfterEach();

async function setup(): Promise<LocalKms> {
  const t = await openTemp();
  cleanups.push(t.cleanup);
  return t.kms;
}

const policyJson = (statements: unknown[]) =>
  JSON.stringify({ Version: "2012-10-17", Statement: statements });
const rootAdmin = {
  Sid: "Admin",
  Effect: "Allow",
  Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
  Action: "kms:*",
  Resource: "*",
};

async function keyWith(kms: LocalKms, statements: unknown[]): Promise<string> {
  return (
    await kms.createKey(ROOT, {
      Policy: policyJson([rootAdmin, ...statements]),
      BypassPolicyLockoutSafetyCheck: true,
    })
  ).KeyMetadata.KeyId;
}

/** A user of another account: the key policy's account-root statement (every principal of the account) does not cover her. */
const CAROL: Caller = { principal: "arn:aws:iam::444455556666:user/carol", account: "444455556666" };

const bytes = (n: number) => new Uint8Array(n).fill(7);

describe("Principal and NotPrincipal (IAM User Guide: Principal, NotPrincipal, forward access sessions)", () => {
  it("a {Service} principal does not match a user calling through that service (it matched by kms:ViaService)", async () => {
    const kms = await setup();
    const KeyId = await keyWith(kms, [
      {
        Sid: "S3ServiceItself",
        Effect: "Allow",
        Principal: { Service: "s3.amazonaws.com" },
        Action: ["kms:Encrypt", "kms:Decrypt"],
        Resource: "*",
      },
    ]);
    // Another account's user whose request comes through S3 is authorized as that user (FAS): no statement names it.
    const viaS3: Caller = { ...MALLORY, viaService: "s3.amazonaws.com" };
    await rejects(kms.encrypt(viaS3, { KeyId, Plaintext: bytes(4) }), "AccessDeniedException");
    // The service acting as itself still matches.
    const s3: Caller = { principal: "s3.amazonaws.com", account: ACCOUNT };
    const { CiphertextBlob } = await kms.encrypt(s3, { KeyId, Plaintext: bytes(4) });
    expect((await kms.decrypt(s3, { CiphertextBlob })).Plaintext).toEqual(bytes(4));
  });

  it("a Deny with NotPrincipal naming the account root and one user denies the account's other users", async () => {
    const kms = await setup();
    const KeyId = await keyWith(kms, [
      {
        Sid: "OnlyAliceDecrypts",
        Effect: "Deny",
        NotPrincipal: { AWS: [ALICE.principal, ROOT.principal] },
        Action: "kms:Decrypt",
        Resource: "*",
      },
    ]);
    const { CiphertextBlob } = await kms.encrypt(BOB, { KeyId, Plaintext: bytes(3) });
    expect((await kms.decrypt(ALICE, { CiphertextBlob })).Plaintext).toEqual(bytes(3));
    await rejects(kms.decrypt(BOB, { CiphertextBlob }), "AccessDeniedException");
    const session: Caller = { principal: `arn:aws:sts::${ACCOUNT}:assumed-role/Ops/s1`, account: ACCOUNT };
    await rejects(kms.decrypt(session, { CiphertextBlob }), "AccessDeniedException");
  });
});

describe("roles with a path (IAM: role names are unique in an account; a session ARN has no path)", () => {
  const session: Caller = {
    principal: `arn:aws:sts::${ACCOUNT}:assumed-role/Deployer/run-1`,
    account: ACCOUNT,
  };

  it("a key policy naming a role with its path allows the role's sessions (it refused them)", async () => {
    const kms = await setup();
    const KeyId = (
      await kms.createKey(ROOT, {
        Policy: policyJson([
          {
            Sid: "Admin",
            Effect: "Allow",
            Principal: { AWS: ROOT.principal },
            Action: "kms:*",
            Resource: "*",
            // Not every principal of the account: only the root user, so the role's statement decides.
            Condition: { StringEquals: { "aws:PrincipalType": "Account" } },
          },
          {
            Sid: "Deployer",
            Effect: "Allow",
            Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/ci/Deployer` },
            Action: ["kms:Encrypt", "kms:Decrypt"],
            Resource: "*",
          },
        ]),
      })
    ).KeyMetadata.KeyId;
    const { CiphertextBlob } = await kms.encrypt(session, { KeyId, Plaintext: bytes(2) });
    expect((await kms.decrypt(session, { CiphertextBlob })).Plaintext).toEqual(bytes(2));
    const other: Caller = {
      principal: `arn:aws:sts::${ACCOUNT}:assumed-role/Deployer2/run-1`,
      account: ACCOUNT,
    };
    await rejects(kms.decrypt(other, { CiphertextBlob }), "AccessDeniedException");
  });

  it("a grant to a role with its path is usable by, and retirable by, the role's sessions", async () => {
    const kms = await setup();
    const KeyId = await keyWith(kms, []);
    const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(2) });
    // Another account's role, so that no key policy statement allows it and the grant decides.
    const foreign: Caller = {
      principal: "arn:aws:sts::444455556666:assumed-role/Deployer/run-2",
      account: "444455556666",
    };
    const foreignGrant = await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: "arn:aws:iam::444455556666:role/ci/Deployer",
      Operations: ["Decrypt", "RetireGrant"],
    });
    const other = await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: "arn:aws:iam::444455556666:role/ci/Deployer2",
      Operations: ["Decrypt", "RetireGrant"],
    });
    expect((await kms.decrypt(foreign, { CiphertextBlob })).Plaintext).toEqual(bytes(2));
    await kms.retireGrant(foreign, { KeyId, GrantId: foreignGrant.GrantId });
    await rejects(kms.decrypt(foreign, { CiphertextBlob }), "AccessDeniedException");
    // The session of a role with another name neither uses nor retires the other grant.
    await rejects(kms.retireGrant(foreign, { KeyId, GrantId: other.GrantId }), "AccessDeniedException");
    expect((await kms.listGrants(ROOT, { KeyId })).Grants.map((g) => g.GrantId)).toEqual([other.GrantId]);
  });
});

describe("CreateGrant's kms:EncryptionContext:<key> and kms:EncryptionContextKeys (AWS KMS condition keys)", () => {
  const grant = (constraints?: Record<string, Record<string, string>>) => ({
    GranteePrincipal: BOB.principal,
    Operations: ["Decrypt"],
    ...(constraints ? { Constraints: constraints } : {}),
  });

  it("a Deny on the constraint's encryption context stops CreateGrant (the keys were absent, so it never matched)", async () => {
    const kms = await setup();
    const KeyId = await keyWith(kms, [
      {
        Sid: "NoGrantsForRestricted",
        Effect: "Deny",
        Principal: { AWS: "*" },
        Action: "kms:CreateGrant",
        Resource: "*",
        Condition: { StringEquals: { "kms:EncryptionContext:stage": "restricted" } },
      },
    ]);
    await rejects(
      kms.createGrant(ALICE, { KeyId, ...grant({ EncryptionContextSubset: { stage: "restricted" } }) }),
      "AccessDeniedException",
    );
    await rejects(
      kms.createGrant(ALICE, { KeyId, ...grant({ EncryptionContextEquals: { Stage: "restricted" } }) }),
      "AccessDeniedException",
    );
    await kms.createGrant(ALICE, { KeyId, ...grant({ EncryptionContextSubset: { stage: "test" } }) });
    await kms.createGrant(ALICE, { KeyId, ...grant() });
  });

  it("an Allow of CreateGrant conditioned on the constraint's context allows exactly such grants", async () => {
    const kms = await setup();
    const KeyId = await keyWith(kms, [
      {
        Sid: "CarolGrantsForAcmeOnly",
        Effect: "Allow",
        Principal: { AWS: CAROL.principal },
        Action: "kms:CreateGrant",
        Resource: "*",
        Condition: {
          StringEquals: { "kms:EncryptionContext:tenant": "acme" },
          "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": ["tenant"] },
        },
      },
    ]);
    const carol = CAROL;
    await kms.createGrant(carol, { KeyId, ...grant({ EncryptionContextEquals: { tenant: "acme" } }) });
    await rejects(
      kms.createGrant(carol, { KeyId, ...grant({ EncryptionContextEquals: { tenant: "other" } }) }),
      "AccessDeniedException",
    );
    await rejects(
      kms.createGrant(carol, {
        KeyId,
        ...grant({ EncryptionContextSubset: { tenant: "acme", extra: "x" } }),
      }),
      "AccessDeniedException",
    );
    await rejects(kms.createGrant(carol, { KeyId, ...grant() }), "AccessDeniedException");
  });
});

describe("CreateGrant's condition keys and grants that create grants (already right; AWS KMS condition keys, grants)", () => {
  it("kms:GrantOperations (ForAllValues), kms:GranteePrincipal, kms:RetiringPrincipal and kms:GrantConstraintType", async () => {
    const kms = await setup();
    const KeyId = await keyWith(kms, [
      {
        Sid: "CarolGrantsEncryptOnly",
        Effect: "Allow",
        Principal: { AWS: CAROL.principal },
        Action: "kms:CreateGrant",
        Resource: "*",
        Condition: {
          "ForAllValues:StringEquals": { "kms:GrantOperations": ["Encrypt", "ReEncryptTo"] },
          StringEquals: {
            "kms:GranteePrincipal": BOB.principal,
            "kms:RetiringPrincipal": CAROL.principal,
            "kms:GrantConstraintType": "EncryptionContextEquals",
          },
        },
      },
    ]);
    const ok = {
      KeyId,
      GranteePrincipal: BOB.principal,
      RetiringPrincipal: CAROL.principal,
      Operations: ["Encrypt"],
      Constraints: { EncryptionContextEquals: { tenant: "acme" } },
    };
    await kms.createGrant(CAROL, ok);
    for (const wrong of [
      { ...ok, Operations: ["Encrypt", "Decrypt"] },
      { ...ok, GranteePrincipal: ALICE.principal },
      { ...ok, RetiringPrincipal: BOB.principal },
      { KeyId, GranteePrincipal: BOB.principal, Operations: ["Encrypt"], Constraints: ok.Constraints },
      { ...ok, Constraints: { EncryptionContextSubset: { tenant: "acme" } } },
      { ...ok, Constraints: undefined },
    ])
      await rejects(kms.createGrant(CAROL, wrong), "AccessDeniedException");
  });

  it("a grant's CreateGrant creates only narrower grants, and a key policy Deny still applies to it", async () => {
    const kms = await setup();
    const KeyId = await keyWith(kms, [
      {
        Sid: "OnlyRootGrantsCreateGrant",
        Effect: "Deny",
        NotPrincipal: { AWS: ROOT.principal },
        Action: "kms:CreateGrant",
        Resource: "*",
        Condition: { "ForAnyValue:StringEquals": { "kms:GrantOperations": "CreateGrant" } },
      },
    ]);
    // Carol (another account: no key policy statement allows her) gets CreateGrant only from the grant.
    await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: CAROL.principal,
      Operations: ["Decrypt", "DescribeKey", "CreateGrant"],
      Constraints: { EncryptionContextSubset: { tenant: "acme" } },
    });
    const child = (Operations: string[], Constraints?: Record<string, Record<string, string>>) => ({
      KeyId,
      GranteePrincipal: MALLORY.principal,
      Operations,
      ...(Constraints ? { Constraints } : {}),
    });
    await kms.createGrant(
      CAROL,
      child(["Decrypt"], { EncryptionContextSubset: { tenant: "acme", app: "x" } }),
    );
    await kms.createGrant(CAROL, child(["Decrypt"], { EncryptionContextEquals: { tenant: "acme" } }));
    await rejects(kms.createGrant(CAROL, child(["Decrypt"])), "AccessDeniedException");
    await rejects(
      kms.createGrant(CAROL, child(["Decrypt"], { EncryptionContextSubset: { app: "x" } })),
      "AccessDeniedException",
    );
    await rejects(
      kms.createGrant(CAROL, child(["Encrypt"], { EncryptionContextSubset: { tenant: "acme" } })),
      "AccessDeniedException",
    );
    // The key policy's Deny (everyone but the root user): a child that could itself create grants is refused,
    // although Carol's grant would allow it.
    const denied = await rejects(
      kms.createGrant(
        CAROL,
        child(["Decrypt", "CreateGrant"], { EncryptionContextEquals: { tenant: "acme" } }),
      ),
      "AccessDeniedException",
    );
    expect(denied.message).toContain("explicit deny");
  });

  it("a grant allows only its operations, and not on a disabled or pending-deletion key", async () => {
    const kms = await setup();
    const KeyId = await keyWith(kms, []);
    await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: CAROL.principal,
      Operations: ["GenerateDataKey"],
    });
    const dk = await kms.generateDataKey(CAROL, { KeyId, KeySpec: "AES_256" });
    await rejects(kms.decrypt(CAROL, { CiphertextBlob: dk.CiphertextBlob }), "AccessDeniedException");
    await rejects(
      kms.generateDataKeyWithoutPlaintext(CAROL, { KeyId, KeySpec: "AES_256" }),
      "AccessDeniedException",
    );
    await rejects(
      kms.reEncrypt(CAROL, { CiphertextBlob: dk.CiphertextBlob, DestinationKeyId: KeyId }),
      "AccessDeniedException",
    );
    await rejects(kms.describeKey(CAROL, { KeyId }), "AccessDeniedException");
    await kms.disableKey(ROOT, { KeyId });
    await rejects(kms.generateDataKey(CAROL, { KeyId, KeySpec: "AES_256" }), "DisabledException");
    await kms.enableKey(ROOT, { KeyId });
    await kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 7 });
    await rejects(kms.generateDataKey(CAROL, { KeyId, KeySpec: "AES_256" }), "KMSInvalidStateException");
  });
});
