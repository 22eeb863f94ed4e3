// LocalKms against AWS KMS's documented behaviour where users notice: key states, grants, policies, pagination.
// Each case cites the AWS documentation it follows (developer guide "Key states of AWS KMS keys", the API reference).

import { rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { KmsError } from "./errors.js";
import { LocalKms } from "./local-kms.js";
import {
  checkLockout,
  conditionKeysFor,
  decodeGrantToken,
  evaluatePolicy,
  parsePolicy,
  policyUsesConditionKey,
} from "./policy/index.js";
import {
  ACCOUNT,
  ALICE,
  BOB,
  cleanupsAfterEach,
  openTemp,
  ROOT,
  rejects,
  testClock,
} from "./test-helpers.js";

vi.setConfig({ testTimeout: 60_000 });

const cleanups = cleanupsAfterEach();

async function setup(): Promise<LocalKms> {
  const t = await openTemp();
  cleanups.push(t.cleanup);
  return t.kms;
}

async function newKey(kms: LocalKms): Promise<string> {
  return (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
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

describe("key states (developer guide, key state table)", () => {
  it("GetKeyRotationStatus succeeds on a key pending deletion, reporting false, and CancelKeyDeletion restores it", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    await kms.enableKeyRotation(ROOT, { KeyId, RotationPeriodInDays: 180 });
    await kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 7 });
    const pending = await kms.getKeyRotationStatus(ROOT, { KeyId });
    expect(pending.KeyRotationEnabled).toBe(false);
    expect(pending.RotationPeriodInDays).toBeUndefined();
    await kms.cancelKeyDeletion(ROOT, { KeyId });
    const restored = await kms.getKeyRotationStatus(ROOT, { KeyId });
    expect(restored.KeyRotationEnabled).toBe(true);
    expect(restored.RotationPeriodInDays).toBe(180);
    // Disabled (CancelKeyDeletion leaves the key Disabled): the status does not change.
    expect((await kms.describeKey(ROOT, { KeyId })).KeyMetadata.KeyState).toBe("Disabled");
    await kms.enableKey(ROOT, { KeyId });
    await kms.disableKey(ROOT, { KeyId });
    expect((await kms.getKeyRotationStatus(ROOT, { KeyId })).KeyRotationEnabled).toBe(true);
  });

  it("PutKeyPolicy succeeds on a key pending deletion (a locked-out admin can fix the policy, then cancel)", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    await kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 7 });
    const policy = policyJson([rootAdmin]);
    await kms.putKeyPolicy(ROOT, { KeyId, Policy: policy });
    expect((await kms.getKeyPolicy(ROOT, { KeyId })).Policy).toBe(policy);
  });

  it("CreateGrant on a disabled key is DisabledException; pending deletion is KMSInvalidStateException", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const grant = { KeyId, GranteePrincipal: ALICE.principal, Operations: ["Decrypt"] };
    await kms.disableKey(ROOT, { KeyId });
    await rejects(kms.createGrant(ROOT, grant), "DisabledException");
    await kms.enableKey(ROOT, { KeyId });
    await kms.createGrant(ROOT, grant);
    await kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 7 });
    await rejects(kms.createGrant(ROOT, grant), "KMSInvalidStateException");
  });

  it("allows what the table allows on Disabled and PendingDeletion keys (already right)", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const other = await newKey(kms);
    const { GrantId } = await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: ALICE.principal,
      Operations: ["Decrypt", "RetireGrant"],
    });
    const { GrantId: second } = await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: BOB.principal,
      Operations: ["Decrypt"],
    });
    // Disabled: aliases, tags and description work; rotation changes do not (DisabledException).
    await kms.disableKey(ROOT, { KeyId });
    await kms.createAlias(ROOT, { AliasName: "alias/disabled", TargetKeyId: KeyId });
    await kms.tagResource(ROOT, { KeyId, Tags: [{ TagKey: "a", TagValue: "b" }] });
    await kms.updateKeyDescription(ROOT, { KeyId, Description: "d" });
    await rejects(kms.enableKeyRotation(ROOT, { KeyId }), "DisabledException");
    await rejects(kms.disableKeyRotation(ROOT, { KeyId }), "DisabledException");
    // PendingDeletion: reads, grant removal, alias deletion and moving an alias away work.
    await kms.enableKey(ROOT, { KeyId });
    await kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 7 });
    await kms.describeKey(ROOT, { KeyId });
    await kms.getKeyPolicy(ROOT, { KeyId });
    await kms.listKeyPolicies(ROOT, { KeyId });
    expect((await kms.listGrants(ROOT, { KeyId })).Grants).toHaveLength(2);
    expect((await kms.listResourceTags(ROOT, { KeyId })).Tags).toHaveLength(1);
    await kms.retireGrant(ALICE, { KeyId, GrantId });
    await kms.revokeGrant(ROOT, { KeyId, GrantId: second });
    // UpdateAlias: the source key pending deletion is fine, a destination pending deletion is not.
    await kms.updateAlias(ROOT, { AliasName: "alias/disabled", TargetKeyId: other });
    await rejects(
      kms.updateAlias(ROOT, { AliasName: "alias/disabled", TargetKeyId: KeyId }),
      "KMSInvalidStateException",
    );
    await kms.createAlias(ROOT, { AliasName: "alias/other", TargetKeyId: other });
    for (const call of [
      kms.tagResource(ROOT, { KeyId, Tags: [{ TagKey: "c", TagValue: "d" }] }),
      kms.untagResource(ROOT, { KeyId, TagKeys: ["a"] }),
      kms.updateKeyDescription(ROOT, { KeyId, Description: "x" }),
      kms.createAlias(ROOT, { AliasName: "alias/late", TargetKeyId: KeyId }),
      kms.enableKeyRotation(ROOT, { KeyId }),
      kms.disableKeyRotation(ROOT, { KeyId }),
      kms.enableKey(ROOT, { KeyId }),
      kms.disableKey(ROOT, { KeyId }),
      kms.scheduleKeyDeletion(ROOT, { KeyId }),
    ]) {
      await rejects(call, "KMSInvalidStateException");
    }
    const { KeyState } = (await kms.describeKey(ROOT, { KeyId })).KeyMetadata;
    expect(KeyState).toBe("PendingDeletion");
    await kms.cancelKeyDeletion(ROOT, { KeyId });
    expect((await kms.describeKey(ROOT, { KeyId })).KeyMetadata.KeyState).toBe("Disabled");
  });
});

describe("key policies (developer guide, AWS KMS condition keys)", () => {
  it("sets kms:BypassPolicyLockoutSafetyCheck on PutKeyPolicy, so a policy can forbid bypassing the check", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const guarded = policyJson([
      rootAdmin,
      {
        Sid: "NoBypass",
        Effect: "Deny",
        Principal: "*",
        Action: "kms:PutKeyPolicy",
        Resource: "*",
        Condition: { Bool: { "kms:BypassPolicyLockoutSafetyCheck": true } },
      },
    ]);
    await kms.putKeyPolicy(ROOT, { KeyId, Policy: guarded });
    await rejects(
      kms.putKeyPolicy(ROOT, { KeyId, Policy: guarded, BypassPolicyLockoutSafetyCheck: true }),
      "AccessDeniedException",
    );
    // Without the parameter (or with false) the Deny does not apply.
    await kms.putKeyPolicy(ROOT, { KeyId, Policy: guarded });
    await kms.putKeyPolicy(ROOT, { KeyId, Policy: guarded, BypassPolicyLockoutSafetyCheck: false });
  });

  it("sets kms:ScheduleKeyDeletionPendingWindowInDays and kms:RotationPeriodInDays from the request's parameters", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const limits = policyJson([
      rootAdmin,
      {
        Sid: "AtLeast14Days",
        Effect: "Deny",
        Principal: "*",
        Action: "kms:ScheduleKeyDeletion",
        Resource: "*",
        Condition: { NumericLessThan: { "kms:ScheduleKeyDeletionPendingWindowInDays": 14 } },
      },
      {
        Sid: "AtMostAYear",
        Effect: "Deny",
        Principal: "*",
        Action: "kms:EnableKeyRotation",
        Resource: "*",
        Condition: { NumericGreaterThan: { "kms:RotationPeriodInDays": 365 } },
      },
    ]);
    await kms.putKeyPolicy(ROOT, { KeyId, Policy: limits });
    await rejects(kms.enableKeyRotation(ROOT, { KeyId, RotationPeriodInDays: 400 }), "AccessDeniedException");
    await kms.enableKeyRotation(ROOT, { KeyId, RotationPeriodInDays: 180 });
    await rejects(kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 7 }), "AccessDeniedException");
    await kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 14 });
  });

  it("sets the key-property keys, kms:EncryptionAlgorithm and kms:ReEncryptOnSameKey as AWS KMS does", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const other = await newKey(kms);
    const carol = { principal: "arn:aws:iam::444455556666:user/carol", account: "444455556666" };
    const policy = policyJson([
      rootAdmin,
      // The developer guide's "AllowOnlySymmetricAlgorithm" example: a Deny that must not catch symmetric calls.
      {
        Sid: "AllowOnlySymmetricAlgorithm",
        Effect: "Deny",
        Principal: "*",
        Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        Resource: "*",
        Condition: { StringNotEquals: { "kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT" } },
      },
      {
        Sid: "OnlySameKeyReEncrypt",
        Effect: "Deny",
        Principal: "*",
        Action: "kms:ReEncrypt*",
        Resource: "*",
        Condition: { Bool: { "kms:ReEncryptOnSameKey": false } },
      },
      {
        Sid: "CarolOnSymmetricKeysMadeByKms",
        Effect: "Allow",
        Principal: { AWS: carol.principal },
        Action: ["kms:DescribeKey", "kms:Encrypt"],
        Resource: "*",
        Condition: {
          StringEquals: {
            "kms:KeySpec": "SYMMETRIC_DEFAULT",
            "kms:KeyUsage": "ENCRYPT_DECRYPT",
            "kms:KeyOrigin": "AWS_KMS",
            "kms:CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
          },
          Bool: { "kms:MultiRegion": false },
        },
      },
      {
        Sid: "CarolNeverOnSigningKeys",
        Effect: "Deny",
        Principal: { AWS: carol.principal },
        Action: "kms:Encrypt",
        Resource: "*",
        Condition: { StringEquals: { "kms:KeyUsage": "SIGN_VERIFY" } },
      },
    ]);
    await kms.putKeyPolicy(ROOT, { KeyId, Policy: policy });
    const arn = (await kms.describeKey(ROOT, { KeyId })).KeyMetadata.Arn;
    await kms.describeKey(carol, { KeyId: arn });
    await kms.encrypt(carol, { KeyId: arn, Plaintext: new Uint8Array([1]) });
    const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId, Plaintext: new Uint8Array([2]) });
    await kms.generateDataKey(ROOT, { KeyId, KeySpec: "AES_256" });
    await kms.reEncrypt(ROOT, { CiphertextBlob, DestinationKeyId: KeyId });
    await rejects(kms.reEncrypt(ROOT, { CiphertextBlob, DestinationKeyId: other }), "AccessDeniedException");
  });

  it("sets kms:RequestAlias from an alias name or alias ARN in the request, not from a key id", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    await kms.createAlias(ROOT, { AliasName: "alias/finance-key", TargetKeyId: KeyId });
    const carol = { principal: "arn:aws:iam::444455556666:user/carol", account: "444455556666" };
    await kms.putKeyPolicy(ROOT, {
      KeyId,
      Policy: policyJson([
        rootAdmin,
        {
          Sid: "Key policy using a request alias condition",
          Effect: "Allow",
          Principal: { AWS: carol.principal },
          Action: ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
          Resource: "*",
          Condition: { StringEquals: { "kms:RequestAlias": "alias/finance-key" } },
        },
      ]),
    });
    const { KeyMetadata } = await kms.describeKey(ROOT, { KeyId });
    const aliasArn = KeyMetadata.Arn.replace(/key\/.*$/, "alias/finance-key");
    await kms.generateDataKey(carol, { KeyId: aliasArn, KeySpec: "AES_256" });
    await kms.describeKey(carol, { KeyId: aliasArn });
    const { CiphertextBlob } = await kms.encrypt(carol, { KeyId: aliasArn, Plaintext: new Uint8Array([1]) });
    await kms.decrypt(carol, { CiphertextBlob, KeyId: aliasArn });
    await rejects(kms.decrypt(carol, { CiphertextBlob }), "AccessDeniedException");
    await rejects(
      kms.generateDataKey(carol, { KeyId: KeyMetadata.Arn, KeySpec: "AES_256" }),
      "AccessDeniedException",
    );
  });

  it("sets aws:CurrentTime, aws:EpochTime and aws:RequestedRegion, which AWS includes in every request", async () => {
    const c = testClock(Date.UTC(2026, 0, 15));
    const t = await openTemp({ clock: c.clock, region: "eu-west-1" });
    cleanups.push(t.cleanup);
    const kms = t.kms;
    const KeyId = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    const carol = { principal: "arn:aws:iam::444455556666:user/carol", account: "444455556666" };
    await kms.putKeyPolicy(ROOT, {
      KeyId,
      Policy: policyJson([
        rootAdmin,
        {
          Sid: "UntilFebruary",
          Effect: "Allow",
          Principal: { AWS: carol.principal },
          Action: "kms:DescribeKey",
          Resource: "*",
          Condition: { DateLessThan: { "aws:CurrentTime": "2026-02-01T00:00:00Z" } },
        },
        {
          Sid: "EpochToo",
          Effect: "Allow",
          Principal: { AWS: carol.principal },
          Action: "kms:GetKeyPolicy",
          Resource: "*",
          Condition: { NumericLessThan: { "aws:EpochTime": Date.UTC(2026, 1, 1) / 1000 } },
        },
        {
          Sid: "OnlyEurope",
          Effect: "Deny",
          Principal: "*",
          Action: "kms:Encrypt",
          Resource: "*",
          Condition: { StringNotLike: { "aws:RequestedRegion": "eu-*" } },
        },
      ]),
    });
    const arn = (await kms.describeKey(ROOT, { KeyId })).KeyMetadata.Arn;
    await kms.describeKey(carol, { KeyId: arn });
    await kms.getKeyPolicy(carol, { KeyId: arn });
    await kms.encrypt(ROOT, { KeyId, Plaintext: new Uint8Array([1]) });
    c.advanceDays(20);
    await rejects(kms.describeKey(carol, { KeyId: arn }), "AccessDeniedException");
    await rejects(kms.getKeyPolicy(carol, { KeyId: arn }), "AccessDeniedException");
  });

  it("sets kms:GrantIsForAWSResource when an AWS service calls CreateGrant for the principal", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const carol = { principal: "arn:aws:iam::444455556666:user/carol", account: "444455556666" };
    // The console default policy's "Allow attachment of persistent resources" statement.
    await kms.putKeyPolicy(ROOT, {
      KeyId,
      Policy: policyJson([
        rootAdmin,
        {
          Sid: "Allow attachment of persistent resources",
          Effect: "Allow",
          Principal: { AWS: carol.principal },
          Action: ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
          Resource: "*",
          Condition: { Bool: { "kms:GrantIsForAWSResource": true } },
        },
      ]),
    });
    const arn = (await kms.describeKey(ROOT, { KeyId })).KeyMetadata.Arn;
    const grant = { KeyId: arn, GranteePrincipal: "ec2.amazonaws.com", Operations: ["Decrypt"] };
    await rejects(kms.createGrant(carol, grant), "AccessDeniedException");
    await rejects(kms.listGrants(carol, { KeyId: arn }), "AccessDeniedException");
    const viaEc2 = { ...carol, viaService: "ec2.us-east-1.amazonaws.com" };
    const { GrantId } = await kms.createGrant(viaEc2, grant);
    expect((await kms.listGrants(viaEc2, { KeyId: arn })).Grants).toHaveLength(1);
    await kms.revokeGrant(viaEc2, { KeyId: arn, GrantId });
  });

  it("refuses ForAllValues with kms:EncryptionContext:<key> (OverlyPermissiveCondition)", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const overly = policyJson([
      rootAdmin,
      {
        Effect: "Allow",
        Principal: { AWS: ALICE.principal },
        Action: "kms:Decrypt",
        Resource: "*",
        Condition: { "ForAllValues:StringEquals": { "kms:EncryptionContext:Department": "IT" } },
      },
    ]);
    const e = await rejects(
      kms.putKeyPolicy(ROOT, { KeyId, Policy: overly }),
      "MalformedPolicyDocumentException",
    );
    expect(e.message).toContain("OverlyPermissiveCondition");
    const condition = (c: unknown) => policyJson([{ ...rootAdmin, Condition: c }]);
    // Also aws:RequestTag/<key>, and whatever the case of the operator and key.
    expect(() =>
      parsePolicy(condition({ "forallvalues:StringLike": { "KMS:ENCRYPTIONCONTEXT:dept": "I*" } })),
    ).toThrow(/OverlyPermissiveCondition/);
    expect(() =>
      parsePolicy(condition({ "ForAllValues:StringEquals": { "aws:RequestTag/env": "dev" } })),
    ).toThrow(/OverlyPermissiveCondition/);
    // Still accepted: ForAllValues with the multi-valued kms:EncryptionContextKeys, and the single-valued key
    // without a set operator or with ForAnyValue (which AWS discourages but accepts).
    parsePolicy(condition({ "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": ["Department"] } }));
    parsePolicy(condition({ StringEquals: { "kms:EncryptionContext:Department": "IT" } }));
    parsePolicy(condition({ "ForAnyValue:StringEquals": { "kms:EncryptionContext:Department": "IT" } }));
  });

  it("accepts a statement without Action or Resource, which then has no effect (PutKeyPolicy API reference)", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const arn = (await kms.describeKey(ROOT, { KeyId })).KeyMetadata.Arn;
    const carol = { principal: "arn:aws:iam::444455556666:user/carol", account: "444455556666" };
    const statement = {
      Effect: "Allow",
      Principal: { AWS: carol.principal },
      Action: "kms:DescribeKey",
      Resource: "*",
    };
    const { Action: _a, ...noAction } = statement;
    const { Resource: _r, ...noResource } = statement;
    const { Resource: _r2, ...denyAllNoResource } = { ...rootAdmin, Effect: "Deny" };
    for (const ineffective of [noAction, noResource]) {
      await kms.putKeyPolicy(ROOT, { KeyId, Policy: policyJson([rootAdmin, ineffective]) });
      await rejects(kms.describeKey(carol, { KeyId: arn }), "AccessDeniedException");
    }
    // An ineffective Deny denies nothing, in requests and in the lockout check.
    await kms.putKeyPolicy(ROOT, { KeyId, Policy: policyJson([rootAdmin, statement, denyAllNoResource]) });
    await kms.describeKey(carol, { KeyId: arn });
    expect(checkLockout(policyJson([rootAdmin, denyAllNoResource]), ROOT.principal, ACCOUNT)).toBe(true);
    // Without a key ARN the lockout check assumes Resource elements match, but a missing one still never does.
    const { Resource: _r3, ...carolAdminNoResource } = { ...rootAdmin, Principal: { AWS: carol.principal } };
    expect(checkLockout(policyJson([carolAdminNoResource]), carol.principal, carol.account)).toBe(false);
    // Both Action and NotAction (or Resource and NotResource) stay malformed.
    expect(() => parsePolicy(policyJson([{ ...statement, NotAction: "kms:Encrypt" }]))).toThrow(
      /both Action and NotAction/,
    );
  });

  it("a key whose stored policy predates the OverlyPermissiveCondition rule keeps working and can be fixed", async () => {
    const t = await openTemp();
    const KeyId = (await t.kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    await t.kms.close();
    const stored = policyJson([
      rootAdmin,
      {
        Effect: "Allow",
        Principal: { AWS: ALICE.principal },
        Action: "kms:Decrypt",
        Resource: "*",
        Condition: { "ForAllValues:StringEquals": { "kms:EncryptionContext:Department": "IT" } },
      },
    ]);
    const Database = (await import("better-sqlite3")).default;
    const db = new Database(join(t.dir, "kms.db"));
    db.prepare("UPDATE policies SET document = ? WHERE key_id = ?").run(stored, KeyId);
    db.close();
    const { LocalKms } = await import("./local-kms.js");
    const kms = await LocalKms.open({ dataDir: t.dir });
    cleanups.push(async () => {
      await kms.close();
      rmSync(t.dir, { recursive: true, force: true });
    });
    expect((await kms.getKeyPolicy(ROOT, { KeyId })).Policy).toBe(stored);
    await kms.encrypt(ROOT, { KeyId, Plaintext: new Uint8Array([1]) });
    await rejects(kms.putKeyPolicy(ROOT, { KeyId, Policy: stored }), "MalformedPolicyDocumentException");
    await kms.putKeyPolicy(ROOT, { KeyId, Policy: policyJson([rootAdmin]) });
    expect(() => parsePolicy(stored)).toThrow(/OverlyPermissiveCondition/);
    expect(parsePolicy(stored, { stored: true }).statements).toHaveLength(2);
  });

  it("builds a request's condition keys lazily: not for a policy without conditions, once otherwise", () => {
    let calls = 0;
    const conditions = () => {
      calls++;
      return conditionKeysFor({
        principal: ALICE.principal,
        account: ACCOUNT,
        context: { Department: "IT" },
      });
    };
    const request = {
      principal: ALICE.principal,
      account: ACCOUNT,
      action: "kms:Decrypt",
      resource: `arn:aws:kms:us-east-1:${ACCOUNT}:key/k`,
      conditions,
    };
    expect(evaluatePolicy(parsePolicy(policyJson([rootAdmin])), request)).toBe("allow");
    expect(calls).toBe(0);
    const conditional = (value: string) => ({
      Effect: "Allow",
      Principal: { AWS: ALICE.principal },
      Action: "kms:Decrypt",
      Resource: "*",
      Condition: { StringEquals: { "kms:EncryptionContext:Department": value } },
    });
    const two = parsePolicy(policyJson([conditional("HR"), conditional("IT")]));
    expect(evaluatePolicy(two, request)).toBe("allow");
    expect(calls).toBe(1);
  });

  it("the lockout check sees an assumed-role caller's aws:PrincipalArn as its role's ARN, as requests do", () => {
    const role = `arn:aws:iam::${ACCOUNT}:role/KeyAdmin`;
    const session = `arn:aws:sts::${ACCOUNT}:assumed-role/KeyAdmin/alice-session`;
    const policy = policyJson([
      {
        Effect: "Allow",
        Principal: { AWS: "*" },
        Action: "kms:PutKeyPolicy",
        Resource: "*",
        Condition: { ArnEquals: { "aws:PrincipalArn": role } },
      },
    ]);
    expect(conditionKeysFor({ principal: session, account: ACCOUNT })["aws:PrincipalArn"]).toBe(role);
    expect(checkLockout(policy, session, ACCOUNT)).toBe(true);
    expect(checkLockout(policy, `arn:aws:sts::${ACCOUNT}:assumed-role/Other/s`, ACCOUNT)).toBe(false);
  });
});

describe("principal keys and kms:ResourceAliases (IAM global condition keys; AWS KMS condition keys)", () => {
  const session = `arn:aws:sts::${ACCOUNT}:assumed-role/Ops/alice-session`;
  const federated = `arn:aws:sts::${ACCOUNT}:federated-user/carol`;
  const pathUser = `arn:aws:iam::${ACCOUNT}:user/division/dave`;
  const as = (principal: string) => ({ principal, account: ACCOUNT });

  it("sets aws:PrincipalType (Account, User, AssumedRole, FederatedUser) from the caller", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const allowType = (type: string) => ({
      Sid: type,
      Effect: "Allow",
      Principal: { AWS: "*" },
      Action: "kms:DescribeKey",
      Resource: "*",
      Condition: { StringEquals: { "aws:PrincipalType": type, "kms:CallerAccount": ACCOUNT } },
    });
    await kms.putKeyPolicy(ROOT, {
      KeyId,
      Policy: policyJson([
        { ...rootAdmin, Action: "kms:PutKeyPolicy" },
        allowType("User"),
        allowType("AssumedRole"),
      ]),
    });
    await kms.describeKey(ALICE, { KeyId });
    await kms.describeKey(as(session), { KeyId });
    await rejects(kms.describeKey(as(federated), { KeyId }), "AccessDeniedException");
    await rejects(kms.describeKey(ROOT, { KeyId }), "AccessDeniedException");
    await kms.putKeyPolicy(ROOT, {
      KeyId,
      Policy: policyJson([
        { ...rootAdmin, Action: "kms:PutKeyPolicy" },
        allowType("Account"),
        allowType("FederatedUser"),
      ]),
    });
    await kms.describeKey(ROOT, { KeyId });
    await kms.describeKey(as(federated), { KeyId });
    await rejects(kms.describeKey(ALICE, { KeyId }), "AccessDeniedException");
    await rejects(kms.describeKey(as(session), { KeyId }), "AccessDeniedException");
  });

  it("sets aws:username for IAM users (the name, without the path) and aws:userid where the ARN tells it", () => {
    const keys = (principal: string) => conditionKeysFor({ principal, account: ACCOUNT });
    expect(keys(pathUser)).toMatchObject({ "aws:PrincipalType": "User", "aws:username": "dave" });
    expect(keys(pathUser)["aws:userid"]).toBeUndefined();
    expect(keys(ROOT.principal)).toMatchObject({ "aws:PrincipalType": "Account", "aws:userid": ACCOUNT });
    expect(keys(ROOT.principal)["aws:username"]).toBeUndefined();
    expect(keys(federated)).toMatchObject({
      "aws:PrincipalType": "FederatedUser",
      "aws:userid": `${ACCOUNT}:carol`,
    });
    expect(keys(session)).toMatchObject({
      "aws:PrincipalType": "AssumedRole",
      "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT}:role/Ops`,
    });
    expect(keys(session)["aws:username"]).toBeUndefined();
    expect(keys(session)["aws:userid"]).toBeUndefined();
    expect(keys(ALICE.principal)).toMatchObject({
      "aws:PrincipalIsAWSService": false,
      "aws:ViaAWSService": false,
    });
    expect(
      conditionKeysFor({
        principal: ALICE.principal,
        account: ACCOUNT,
        viaService: "s3.us-east-1.amazonaws.com",
      })["aws:ViaAWSService"],
    ).toBe(true);
  });

  it("aws:username in a key policy matches the user's name; the lockout check sees the same keys", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const admins = policyJson([
      {
        Effect: "Allow",
        Principal: { AWS: "*" },
        Action: "kms:*",
        Resource: "*",
        Condition: { StringEquals: { "aws:username": "dave", "aws:PrincipalAccount": ACCOUNT } },
      },
    ]);
    // ROOT has no aws:username: the lockout check refuses a policy that would lock it out.
    await rejects(kms.putKeyPolicy(ROOT, { KeyId, Policy: admins }), "MalformedPolicyDocumentException");
    await kms.putKeyPolicy(ROOT, { KeyId, Policy: admins, BypassPolicyLockoutSafetyCheck: true });
    await kms.describeKey(as(pathUser), { KeyId });
    await rejects(kms.describeKey(ALICE, { KeyId }), "AccessDeniedException");
    expect(checkLockout(admins, pathUser, ACCOUNT)).toBe(true);
  });

  it("sets kms:ResourceAliases to the key's aliases, for ForAnyValue and ForAllValues conditions", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    await kms.putKeyPolicy(ROOT, {
      KeyId,
      Policy: policyJson([
        {
          ...rootAdmin,
          Action: ["kms:PutKeyPolicy", "kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
        },
        {
          Sid: "Only keys all of whose aliases are Test aliases, and that have one",
          Effect: "Allow",
          Principal: { AWS: ALICE.principal },
          Action: ["kms:Encrypt", "kms:DescribeKey"],
          Resource: "*",
          Condition: {
            "ForAllValues:StringLike": { "kms:ResourceAliases": "alias/*Test*" },
            "ForAnyValue:StringLike": { "kms:ResourceAliases": "alias/*Test*" },
          },
        },
      ]),
    });
    const encrypt = () => kms.encrypt(ALICE, { KeyId, Plaintext: new Uint8Array([1]) });
    // No alias: ForAnyValue is false on the absent key.
    await rejects(encrypt(), "AccessDeniedException");
    await kms.createAlias(ROOT, { AliasName: "alias/ProjectTest", TargetKeyId: KeyId });
    await encrypt();
    await kms.describeKey(ALICE, { KeyId });
    // One alias that is not a Test alias: ForAllValues fails.
    await kms.createAlias(ROOT, { AliasName: "alias/finance", TargetKeyId: KeyId });
    await rejects(encrypt(), "AccessDeniedException");
    await kms.deleteAlias(ROOT, { AliasName: "alias/finance" });
    await encrypt();
    // Moving the alias to another key takes it away from this one.
    const other = await newKey(kms);
    await kms.updateAlias(ROOT, { AliasName: "alias/ProjectTest", TargetKeyId: other });
    await rejects(encrypt(), "AccessDeniedException");
  });

  it("sets aws:ResourceTag/<key> from the key's tags, and aws:RequestTag/<key> and aws:TagKeys from (Un)TagResource (ABAC)", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    await kms.putKeyPolicy(ROOT, {
      KeyId,
      Policy: policyJson([
        // The account root stands for every principal of the account here: only PutKeyPolicy for it.
        { ...rootAdmin, Action: "kms:PutKeyPolicy" },
        {
          Sid: "Bob administers",
          Effect: "Allow",
          Principal: { AWS: BOB.principal },
          Action: "kms:*",
          Resource: "*",
        },
        {
          Sid: "Use keys of project alpha",
          Effect: "Allow",
          Principal: { AWS: ALICE.principal },
          Action: "kms:Encrypt",
          Resource: "*",
          Condition: { StringEquals: { "aws:ResourceTag/Project": "alpha" } },
        },
        {
          Sid: "Tag only with Owner alice",
          Effect: "Allow",
          Principal: { AWS: ALICE.principal },
          Action: "kms:TagResource",
          Resource: "*",
          Condition: { StringEquals: { "aws:RequestTag/Owner": "alice" } },
        },
        {
          Sid: "Remove only Temp tags",
          Effect: "Allow",
          Principal: { AWS: ALICE.principal },
          Action: "kms:UntagResource",
          Resource: "*",
          Condition: {
            "ForAllValues:StringEquals": { "aws:TagKeys": ["Temp"] },
            "ForAnyValue:StringEquals": { "aws:TagKeys": ["Temp"] },
          },
        },
      ]),
    });
    const encrypt = () => kms.encrypt(ALICE, { KeyId, Plaintext: new Uint8Array([1]) });
    await rejects(encrypt(), "AccessDeniedException");
    await kms.tagResource(BOB, { KeyId, Tags: [{ TagKey: "Project", TagValue: "beta" }] });
    await rejects(encrypt(), "AccessDeniedException");
    await kms.tagResource(BOB, { KeyId, Tags: [{ TagKey: "Project", TagValue: "alpha" }] });
    await encrypt();
    await rejects(
      kms.tagResource(ALICE, { KeyId, Tags: [{ TagKey: "Owner", TagValue: "bob" }] }),
      "AccessDeniedException",
    );
    await kms.tagResource(ALICE, {
      KeyId,
      Tags: [
        { TagKey: "Owner", TagValue: "alice" },
        { TagKey: "Temp", TagValue: "x" },
      ],
    });
    await rejects(kms.untagResource(ALICE, { KeyId, TagKeys: ["Temp", "Owner"] }), "AccessDeniedException");
    await kms.untagResource(ALICE, { KeyId, TagKeys: ["Temp"] });
    const keys = conditionKeysFor({
      principal: ALICE.principal,
      account: ACCOUNT,
      requestTags: [{ TagKey: "Owner", TagValue: "alice" }],
      resourceTags: [{ TagKey: "Project", TagValue: "alpha" }],
    });
    expect(keys).toMatchObject({
      "aws:RequestTag/Owner": "alice",
      "aws:TagKeys": ["Owner"],
      "aws:ResourceTag/Project": "alpha",
    });
  });

  it("reads the key's aliases only for a policy whose conditions test kms:ResourceAliases", () => {
    const usesAliases = parsePolicy(
      policyJson([
        {
          Effect: "Allow",
          Principal: { AWS: "*" },
          Action: "kms:*",
          Resource: "*",
          Condition: { "ForAnyValue:StringEquals": { "KMS:resourcealiases": "alias/a" } },
        },
      ]),
    );
    expect(policyUsesConditionKey(usesAliases, "kms:ResourceAliases")).toBe(true);
    expect(policyUsesConditionKey(parsePolicy(policyJson([rootAdmin])), "kms:ResourceAliases")).toBe(false);
    const keys = conditionKeysFor({
      principal: ALICE.principal,
      account: ACCOUNT,
      resourceAliases: ["alias/a"],
    });
    expect(keys["kms:ResourceAliases"]).toEqual(["alias/a"]);
    expect(
      "kms:ResourceAliases" in
        conditionKeysFor({ principal: ALICE.principal, account: ACCOUNT, resourceAliases: [] }),
    ).toBe(false);
  });
});

describe("request validation (AWS's model validation lists every failed constraint)", () => {
  it("LocalKms reports every failed member of a request, in the model's order, in one ValidationException", async () => {
    const kms = await setup();
    const gdk = await rejects(
      kms.generateDataKey(ROOT, { NumberOfBytes: 0 } as unknown as { KeyId: string }),
      "ValidationException",
    );
    expect(gdk.message).toBe(
      "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null; " +
        "Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    const dec = await rejects(
      kms.decrypt(ROOT, { CiphertextBlob: new Uint8Array(0), KeyId: "" }),
      "ValidationException",
    );
    expect(dec.message).toBe(
      "2 validation errors detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
        "Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    // One failed member keeps the "1 validation error" form.
    const one = await rejects(
      kms.encrypt(ROOT, { KeyId: "alias/none", Plaintext: new Uint8Array(4097) }),
      "ValidationException",
    );
    expect(one.message).toMatch(/^1 validation error detected: Value at 'plaintext'/);
  });
});

describe("key policy size", () => {
  it("a document over the 32 KB quota is LimitExceededException even when its audit record would be huge", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    // 131,072 quotes: the longest Policy the model allows, two characters each as escaped JSON. (Control
    // characters other than tab, LF and CR are outside the model's pattern: a ValidationException.)
    for (const Policy of ['"'.repeat(131072), "é".repeat(20000)]) {
      await rejects(kms.putKeyPolicy(ROOT, { KeyId, Policy }), "LimitExceededException");
    }
    await rejects(kms.createKey(ROOT, { Policy: '"'.repeat(131072) }), "LimitExceededException");
    await rejects(kms.createKey(ROOT, { Policy: "\u0001".repeat(131072) }), "ValidationException");
  });
});

describe("grants (API reference: CreateGrant, RetireGrant, ListGrants)", () => {
  it("CreateGrant with a Name and the same parameters returns the same grant id, whatever the order of pairs", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const request = {
      KeyId,
      GranteePrincipal: ALICE.principal,
      Operations: ["Decrypt", "Encrypt"],
      Name: "retry-safe",
      Constraints: { EncryptionContextSubset: { Department: "IT" } },
    };
    const a = await kms.createGrant(ROOT, request);
    const b = await kms.createGrant(ROOT, { ...request, Operations: ["Encrypt", "Decrypt"] });
    expect(b.GrantId).toBe(a.GrantId);
    // "The returned grant token is unique with every CreateGrant request": both name the same grant.
    expect(b.GrantToken).not.toBe(a.GrantToken);
    expect(decodeGrantToken(b.GrantToken)).toBe(a.GrantId);
    await kms.encrypt(ROOT, {
      KeyId,
      Plaintext: new Uint8Array([1]),
      GrantTokens: [a.GrantToken, b.GrantToken],
    });
    // The constraint's pairs in another order are the same constraint.
    const pairs = {
      ...request,
      Constraints: { EncryptionContextSubset: { Department: "IT", Project: "X" } },
    };
    const d = await kms.createGrant(ROOT, pairs);
    const e = await kms.createGrant(ROOT, {
      ...pairs,
      Constraints: { EncryptionContextSubset: { Project: "X", Department: "IT" } },
    });
    expect(e.GrantId).toBe(d.GrantId);
    await kms.revokeGrant(ROOT, { KeyId, GrantId: d.GrantId });
    // Another parameter, same name: a new grant (names do not identify grants).
    const c = await kms.createGrant(ROOT, { ...request, Operations: ["Decrypt"] });
    expect(c.GrantId).not.toBe(a.GrantId);
    expect((await kms.listGrants(ROOT, { KeyId })).Grants).toHaveLength(2);
  });

  it("constraint keys compare case-insensitively, values case-sensitively; DescribeKey ignores constraints (already right)", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    await kms.putKeyPolicy(ROOT, { KeyId, Policy: policyJson([rootAdmin]) });
    await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: BOB.principal,
      Operations: ["Encrypt", "DescribeKey"],
      Constraints: { EncryptionContextEquals: { Department: "IT" } },
    });
    const plain = new Uint8Array([1]);
    // Bob is of the account, so the account-root statement would allow him: use another account's principal.
    const carol = { principal: "arn:aws:iam::444455556666:user/carol", account: "444455556666" };
    const k2 = await newKey(kms);
    await kms.createGrant(ROOT, {
      KeyId: k2,
      GranteePrincipal: carol.principal,
      Operations: ["Encrypt", "DescribeKey"],
      Constraints: { EncryptionContextEquals: { Department: "IT" } },
    });
    const arn = (await kms.describeKey(ROOT, { KeyId: k2 })).KeyMetadata.Arn;
    await kms.encrypt(carol, { KeyId: arn, Plaintext: plain, EncryptionContext: { department: "IT" } });
    await rejects(
      kms.encrypt(carol, { KeyId: arn, Plaintext: plain, EncryptionContext: { Department: "it" } }),
      "AccessDeniedException",
    );
    await rejects(kms.encrypt(carol, { KeyId: arn, Plaintext: plain }), "AccessDeniedException");
    await kms.describeKey(carol, { KeyId: arn });
  });

  it("RetireGrant: retiring principal and grantee with RetireGrant may, the grantee without it may not (already right)", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const carol = { principal: "arn:aws:iam::444455556666:user/carol", account: "444455556666" };
    const dave = { principal: "arn:aws:iam::777788889999:user/dave", account: "777788889999" };
    const g1 = await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: carol.principal,
      Operations: ["Decrypt"],
    });
    await rejects(kms.retireGrant(carol, { GrantToken: g1.GrantToken }), "AccessDeniedException");
    const g2 = await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: carol.principal,
      Operations: ["Decrypt", "RetireGrant"],
    });
    await kms.retireGrant(carol, { GrantToken: g2.GrantToken });
    const g3 = await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: carol.principal,
      RetiringPrincipal: dave.principal,
      Operations: ["Decrypt"],
    });
    await kms.retireGrant(dave, { GrantToken: g3.GrantToken });
    // The account that created the grant may always retire it.
    await kms.retireGrant(ALICE, { KeyId, GrantId: g1.GrantId });
    expect((await kms.listGrants(ROOT, { KeyId })).Grants).toHaveLength(0);
  });
});

describe("pagination (API reference: Limit ranges and InvalidMarkerException)", () => {
  it("enforces each operation's Limit range and refuses a marker it did not issue (already right)", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const calls: [string, number, (limit: number) => Promise<unknown>][] = [
      ["ListKeys", 1000, (Limit) => kms.listKeys(ROOT, { Limit })],
      ["ListAliases", 100, (Limit) => kms.listAliases(ROOT, { Limit })],
      ["ListGrants", 100, (Limit) => kms.listGrants(ROOT, { KeyId, Limit })],
      ["ListKeyPolicies", 1000, (Limit) => kms.listKeyPolicies(ROOT, { KeyId, Limit })],
      ["ListResourceTags", 50, (Limit) => kms.listResourceTags(ROOT, { KeyId, Limit })],
      ["ListKeyRotations", 1000, (Limit) => kms.listKeyRotations(ROOT, { KeyId, Limit })],
    ];
    for (const [, max, call] of calls) {
      await call(1);
      await call(max);
      await rejects(call(0), "ValidationException");
      await rejects(call(max + 1), "ValidationException");
    }
    await rejects(kms.listKeys(ROOT, { Marker: "not-a-marker" }), "InvalidMarkerException");
    await rejects(kms.listGrants(ROOT, { KeyId, Marker: "AAAA" }), "InvalidMarkerException");
  });
});

describe("pagination markers are positions (API reference: Marker, NextMarker)", () => {
  it("entries deleted before the marker do not make the next page skip any: revoking each page of ListGrants, deleting each page of ListAliases, untagging each page of ListResourceTags", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    for (let i = 0; i < 5; i++) {
      await kms.createGrant(ROOT, {
        KeyId,
        GranteePrincipal: `arn:aws:iam::${ACCOUNT}:user/u${i}`,
        Operations: ["Encrypt"],
      });
      await kms.createAlias(ROOT, { AliasName: `alias/page-${i}`, TargetKeyId: KeyId });
    }
    await kms.tagResource(ROOT, {
      KeyId,
      Tags: Array.from({ length: 5 }, (_, i) => ({ TagKey: `t${i}`, TagValue: "v" })),
    });
    // What a boto3 paginator or an SDK loop does: act on a page, then ask for the next one.
    let revoked = 0;
    let marker: string | undefined;
    do {
      const page = await kms.listGrants(ROOT, { KeyId, Limit: 2, ...(marker ? { Marker: marker } : {}) });
      for (const g of page.Grants) {
        await kms.revokeGrant(ROOT, { KeyId, GrantId: g.GrantId });
        revoked++;
      }
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    expect(revoked).toBe(5);
    expect((await kms.listGrants(ROOT, { KeyId })).Grants).toHaveLength(0);

    let deleted = 0;
    marker = undefined;
    do {
      const page = await kms.listAliases(ROOT, { KeyId, Limit: 2, ...(marker ? { Marker: marker } : {}) });
      for (const a of page.Aliases) {
        await kms.deleteAlias(ROOT, { AliasName: a.AliasName });
        deleted++;
      }
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    expect(deleted).toBe(5);

    let untagged = 0;
    marker = undefined;
    do {
      const page = await kms.listResourceTags(ROOT, {
        KeyId,
        Limit: 2,
        ...(marker ? { Marker: marker } : {}),
      });
      if (page.Tags.length > 0)
        await kms.untagResource(ROOT, { KeyId, TagKeys: page.Tags.map((t) => t.TagKey) });
      untagged += page.Tags.length;
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    expect(untagged).toBe(5);
  });

  it("pages through every list without repeats, and refuses a marker of another list or a forged one", async () => {
    const kms = await setup();
    const keys: string[] = [];
    for (let i = 0; i < 5; i++) keys.push(await newKey(kms));
    const KeyId = keys[0]!;
    for (let i = 0; i < 3; i++) await kms.rotateKeyOnDemand(ROOT, { KeyId });
    const seen: string[] = [];
    let marker: string | undefined;
    do {
      const page = await kms.listKeys(ROOT, { Limit: 2, ...(marker ? { Marker: marker } : {}) });
      seen.push(...page.Keys.map((k) => k.KeyId));
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    expect(seen).toEqual(keys);
    const r1 = await kms.listKeyRotations(ROOT, { KeyId, Limit: 2 });
    expect([r1.Rotations.length, r1.Truncated]).toEqual([2, true]);
    const r2 = await kms.listKeyRotations(ROOT, { KeyId, Limit: 2, Marker: r1.NextMarker! });
    expect([r2.Rotations.length, r2.Truncated]).toEqual([1, false]);
    const keysMarker = (await kms.listKeys(ROOT, { Limit: 1 })).NextMarker!;
    await rejects(kms.listAliases(ROOT, { Marker: keysMarker }), "InvalidMarkerException");
    await rejects(kms.listKeyRotations(ROOT, { KeyId, Marker: keysMarker }), "InvalidMarkerException");
    // ListKeyPolicies models no InvalidMarkerException (AWS's service model): ValidationException.
    await rejects(kms.listKeyPolicies(ROOT, { KeyId, Marker: keysMarker }), "ValidationException");
    await rejects(kms.listKeys(ROOT, { Marker: `${keysMarker.slice(0, -3)}` }), "InvalidMarkerException");
    await rejects(kms.listKeys(ROOT, { Marker: "skm1.2" }), "InvalidMarkerException");
  });
});

describe("DescribeKey of a key pending deletion (API reference: KeyMetadata)", () => {
  it("has DeletionDate, and no PendingDeletionWindowInDays (present only for a multi-Region primary in PendingReplicaDeletion)", async () => {
    const c = testClock();
    const t = await openTemp({ clock: c.clock });
    cleanups.push(t.cleanup);
    const KeyId = await newKey(t.kms);
    const scheduled = await t.kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 9 });
    expect(scheduled.PendingWindowInDays).toBe(9);
    const meta = (await t.kms.describeKey(ROOT, { KeyId })).KeyMetadata;
    expect(meta.KeyState).toBe("PendingDeletion");
    expect(meta.DeletionDate?.getTime()).toBe(c.now() + 9 * 86_400_000);
    expect(meta).not.toHaveProperty("PendingDeletionWindowInDays");
  });
});

describe("GetKeyLastUsage (API reference)", () => {
  it("answers AWS's shape: KeyLastUsage { Operation, Timestamp, KmsRequestId, CloudTrailEventId }, TrackingStartDate and KeyCreationDate; KeyLastUsage is empty for an unused key", async () => {
    const c = testClock();
    const t = await openTemp({ clock: c.clock });
    cleanups.push(t.cleanup);
    const kms = t.kms;
    const { KeyId, Arn, CreationDate } = (await kms.createKey(ROOT, {})).KeyMetadata;
    const unused = await kms.getKeyLastUsage(ROOT, { KeyId });
    expect(unused).toMatchObject({ KeyId: Arn, KeyLastUsage: {} });
    expect(unused.KeyLastUsage).toEqual({});
    expect(unused.TrackingStartDate).toEqual(CreationDate);
    expect(unused.KeyCreationDate).toEqual(CreationDate);
    c.advanceDays(1);
    await kms.encrypt(ROOT, { KeyId, Plaintext: new Uint8Array(4) });
    await kms.encrypt({ ...ROOT, requestId: "req-second-encrypt" }, { KeyId, Plaintext: new Uint8Array(4) });
    c.advanceDays(1);
    await kms.describeKey(ROOT, { KeyId });
    const used = await kms.getKeyLastUsage(ROOT, { KeyId: Arn });
    // DescribeKey is not a cryptographic operation: the last use stays the second Encrypt, whose request id and
    // audit event the answer names.
    const [encrypted] = t.kms.auditLog!.query({ eventName: "Encrypt", limit: 10 }).slice(-1);
    expect(encrypted!.requestID).toBe("req-second-encrypt");
    expect(used.KeyLastUsage).toEqual({
      Operation: "Encrypt",
      Timestamp: new Date(c.now() - 86_400_000),
      KmsRequestId: "req-second-encrypt",
      CloudTrailEventId: encrypted!.eventID,
    });
    // This KMS's addition: every operation called on the key, with its count.
    expect(used.Operations.map((o) => [o.Operation, o.RequestCount])).toEqual([
      ["CreateKey", 1],
      ["DescribeKey", 1],
      ["Encrypt", 2],
      // The first GetKeyLastUsage; this one is counted once it succeeded.
      ["GetKeyLastUsage", 1],
    ]);
    // "Alias names are not supported."
    await kms.createAlias(ROOT, { AliasName: "alias/used", TargetKeyId: KeyId });
    await rejects(kms.getKeyLastUsage(ROOT, { KeyId: "alias/used" }), "NotFoundException");
  });

  it("survives the wire: the server's codec keeps every member of AWS's GetKeyLastUsage output", async () => {
    const { encodeResponse } = await import("./server/codec.js");
    const { OPERATION_MODELS } = await import("./server/model.generated.js");
    const kms = await setup();
    const KeyId = await newKey(kms);
    await kms.generateDataKey(ROOT, { KeyId, KeySpec: "AES_256" });
    const body = JSON.parse(
      encodeResponse(OPERATION_MODELS.GetKeyLastUsage!, await kms.getKeyLastUsage(ROOT, { KeyId })),
    );
    expect(Object.keys(body).sort()).toEqual([
      "KeyCreationDate",
      "KeyId",
      "KeyLastUsage",
      "TrackingStartDate",
    ]);
    expect(Object.keys(body.KeyLastUsage).sort()).toEqual([
      "CloudTrailEventId",
      "KmsRequestId",
      "Operation",
      "Timestamp",
    ]);
    expect(body.KeyLastUsage.Operation).toBe("GenerateDataKey");
    expect(typeof body.KeyLastUsage.Timestamp).toBe("number");
  });

  it("records ReEncrypt for the source key and the destination key, each independently", async () => {
    const c = testClock();
    const t = await openTemp({ clock: c.clock });
    cleanups.push(t.cleanup);
    const kms = t.kms;
    const source = await newKey(kms);
    const destination = await newKey(kms);
    const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId: source, Plaintext: new Uint8Array(8) });
    c.advanceDays(1);
    await kms.reEncrypt(
      { ...ROOT, requestId: "req-reencrypt" },
      { CiphertextBlob, DestinationKeyId: destination },
    );
    const [event] = t.kms.auditLog!.query({ eventName: "ReEncrypt", limit: 10 });
    for (const KeyId of [source, destination]) {
      expect((await kms.getKeyLastUsage(ROOT, { KeyId })).KeyLastUsage).toEqual({
        Operation: "ReEncrypt",
        Timestamp: new Date(c.now()),
        KmsRequestId: "req-reencrypt",
        CloudTrailEventId: event!.eventID,
      });
    }
    // One request, billed once.
    const report = await kms.usageReport({ month: "2026-01" });
    expect(report.Requests.ByOperation.ReEncrypt).toBe(1);
    expect(Object.keys(report.Requests.ByOperation).sort()).toEqual([
      "CreateKey",
      "Encrypt",
      "GetKeyLastUsage",
      "ReEncrypt",
    ]);
    expect(report.Requests.Symmetric).toBe(1 + 1 + 2);
  });

  it("reads a data dir of schema version 1: its uses keep Operation and Timestamp, and later uses add the ids", async () => {
    const c = testClock();
    const t = await openTemp({ clock: c.clock });
    cleanups.push(t.cleanup);
    const KeyId = await newKey(t.kms);
    await t.kms.encrypt(ROOT, { KeyId, Plaintext: new Uint8Array(4) });
    await t.kms.getKeyLastUsage(ROOT, { KeyId });
    await t.kms.close();
    // Back to version 1 as an older release left it: no id columns (version 2), no indexes of versions 3 and 4.
    const raw = new Database(join(t.dir, "kms.db"));
    raw.exec(`ALTER TABLE usage DROP COLUMN last_request_id; ALTER TABLE usage DROP COLUMN last_event_id;
      DROP INDEX grants_retiring; DROP INDEX keys_created; UPDATE schema_version SET version = 1;`);
    raw.close();
    const again = await LocalKms.open({ dataDir: t.dir, clock: c.clock });
    try {
      expect((await again.getKeyLastUsage(ROOT, { KeyId })).KeyLastUsage).toEqual({
        Operation: "Encrypt",
        Timestamp: new Date(c.now()),
      });
      c.advanceDays(1);
      await again.generateDataKey({ ...ROOT, requestId: "req-after" }, { KeyId, NumberOfBytes: 32 });
      expect((await again.getKeyLastUsage(ROOT, { KeyId })).KeyLastUsage).toMatchObject({
        Operation: "GenerateDataKey",
        KmsRequestId: "req-after",
        CloudTrailEventId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      });
    } finally {
      await again.close();
    }
  });
});

describe("Decrypt's KeyId and ReEncrypt's SourceKeyId (API reference: IncorrectKeyException)", () => {
  it("name the key that is looked up, authorized and used: a blob of any other key, existing or not, is IncorrectKeyException", async () => {
    const kms = await setup();
    const a = await newKey(kms);
    const b = await newKey(kms);
    // Alice may use key a only, Bob key b only.
    const only = (who: string) =>
      policyJson([{ Effect: "Allow", Principal: { AWS: who }, Action: "kms:*", Resource: "*" }]);
    await kms.putKeyPolicy(ROOT, {
      KeyId: a,
      Policy: only(ALICE.principal),
      BypassPolicyLockoutSafetyCheck: true,
    });
    await kms.putKeyPolicy(ROOT, {
      KeyId: b,
      Policy: only(BOB.principal),
      BypassPolicyLockoutSafetyCheck: true,
    });
    const ofA = (await kms.encrypt(ALICE, { KeyId: a, Plaintext: new Uint8Array(8) })).CiphertextBlob;
    const ofB = (await kms.encrypt(BOB, { KeyId: b, Plaintext: new Uint8Array(8) })).CiphertextBlob;
    // A blob whose key id was damaged names no key at all.
    const damaged = new Uint8Array(ofA);
    damaged[5]! ^= 0x40;
    for (const CiphertextBlob of [ofB, damaged]) {
      await rejects(kms.decrypt(ALICE, { CiphertextBlob, KeyId: a }), "IncorrectKeyException");
      await rejects(
        kms.reEncrypt(ALICE, { CiphertextBlob, SourceKeyId: a, DestinationKeyId: a }),
        "IncorrectKeyException",
      );
    }
    // Without a KeyId the blob's own key decides: not found, or not Alice's to use.
    await rejects(kms.decrypt(ALICE, { CiphertextBlob: damaged }), "NotFoundException");
    await rejects(kms.decrypt(ALICE, { CiphertextBlob: ofB }), "AccessDeniedException");
    // A KeyId that names no key is NotFound, whatever the blob.
    await rejects(kms.decrypt(ALICE, { CiphertextBlob: ofA, KeyId: "alias/none" }), "NotFoundException");
    expect((await kms.decrypt(ALICE, { CiphertextBlob: ofA, KeyId: a })).Plaintext).toEqual(
      new Uint8Array(8),
    );
  });
});

describe("key materials (API reference: ListKeyRotations, KeyMetadata.CurrentKeyMaterialId)", () => {
  it("ListKeyRotations names each key material and its state, IncludeKeyMaterial ALL_KEY_MATERIAL adds the first; DescribeKey names the current one", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const first = (await kms.describeKey(ROOT, { KeyId })).KeyMetadata.CurrentKeyMaterialId;
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    await kms.rotateKeyOnDemand(ROOT, { KeyId });
    await kms.rotateKeyOnDemand(ROOT, { KeyId });
    const rotations = (await kms.listKeyRotations(ROOT, { KeyId })).Rotations;
    expect(rotations.map((r) => [r.KeyMaterialState, r.RotationType])).toEqual([
      ["NON_CURRENT", "ON_DEMAND"],
      ["CURRENT", "ON_DEMAND"],
    ]);
    const ids = rotations.map((r) => r.KeyMaterialId);
    expect(new Set([first, ...ids]).size).toBe(3);
    expect((await kms.describeKey(ROOT, { KeyId })).KeyMetadata.CurrentKeyMaterialId).toBe(ids[1]);
    expect(
      (await kms.listKeyRotations(ROOT, { KeyId, IncludeKeyMaterial: "ROTATIONS_ONLY" })).Rotations,
    ).toEqual(rotations);
    const all = await kms.listKeyRotations(ROOT, { KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL", Limit: 2 });
    // The first key material has no RotationDate or RotationType.
    expect(all.Rotations[0]).toEqual({
      KeyId: rotations[0]!.KeyId,
      KeyMaterialId: first,
      KeyMaterialState: "NON_CURRENT",
    });
    expect(all.Rotations[1]).toEqual(rotations[0]);
    const rest = await kms.listKeyRotations(ROOT, {
      KeyId,
      IncludeKeyMaterial: "ALL_KEY_MATERIAL",
      Marker: all.NextMarker!,
    });
    expect(rest.Rotations).toEqual([rotations[1]]);
    await rejects(
      kms.listKeyRotations(ROOT, { KeyId, IncludeKeyMaterial: "EVERYTHING" as never }),
      "ValidationException",
    );
  });
});

describe("races and damaged blobs get AWS's exceptions, never a crash (already right)", () => {
  const outcome = async (p: Promise<unknown>) => {
    try {
      await p;
      return "ok";
    } catch (e) {
      return KmsError.isInstance(e) ? e.awsName : `not a KmsError: ${String(e)}`;
    }
  };

  it("rotations racing encryptions, and deletion racing grants, data keys and DisableKey", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const encrypted = Array.from({ length: 40 }, (_, i) =>
      kms.encrypt(ROOT, { KeyId, Plaintext: new Uint8Array([i]) }),
    );
    const rotated = Array.from({ length: 4 }, () => kms.rotateKeyOnDemand(ROOT, { KeyId }));
    const blobs = await Promise.all(encrypted);
    await Promise.all(rotated);
    for (const [i, b] of blobs.entries()) {
      const out = await kms.decrypt(ROOT, { CiphertextBlob: b.CiphertextBlob });
      expect(out.Plaintext).toEqual(new Uint8Array([i]));
    }
    const grants = Array.from({ length: 6 }, (_, i) =>
      outcome(
        kms.createGrant(ROOT, {
          KeyId,
          GranteePrincipal: `arn:aws:iam::${ACCOUNT}:user/u${i}`,
          Operations: ["Encrypt"],
        }),
      ),
    );
    const deletion = outcome(kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 7 }));
    const dataKeys = Array.from({ length: 6 }, () =>
      outcome(kms.generateDataKey(ROOT, { KeyId, KeySpec: "AES_256" })),
    );
    const disable = outcome(kms.disableKey(ROOT, { KeyId }));
    const results = await Promise.all([...grants, deletion, ...dataKeys, disable]);
    expect(await deletion).toBe("ok");
    // Before the deletion was scheduled: done; after it: KMSInvalidStateException (pending deletion).
    for (const r of results) expect(["ok", "KMSInvalidStateException"]).toContain(r);
    expect(await disable).toBe("KMSInvalidStateException");
  });

  it("truncated, extended and bit-flipped blobs, and blobs of another key, in Decrypt and ReEncrypt", async () => {
    const kms = await setup();
    const a = await newKey(kms);
    const b = await newKey(kms);
    const blob = (await kms.encrypt(ROOT, { KeyId: a, Plaintext: new Uint8Array(20) })).CiphertextBlob;
    const seen = new Set<string>();
    const tryAll = async (CiphertextBlob: Uint8Array) => {
      seen.add(await outcome(kms.decrypt(ROOT, { CiphertextBlob })));
      seen.add(await outcome(kms.decrypt(ROOT, { CiphertextBlob, KeyId: a })));
      seen.add(await outcome(kms.reEncrypt(ROOT, { CiphertextBlob, DestinationKeyId: b })));
      seen.add(await outcome(kms.reEncrypt(ROOT, { CiphertextBlob, SourceKeyId: a, DestinationKeyId: b })));
    };
    for (let length = 0; length <= blob.length + 1; length += 7) {
      const cut = new Uint8Array(length);
      cut.set(blob.subarray(0, Math.min(length, blob.length)));
      await tryAll(cut);
    }
    for (let i = 0; i < blob.length; i++) {
      const flipped = new Uint8Array(blob);
      flipped[i]! ^= 1 << (i % 8);
      await tryAll(flipped);
    }
    seen.add(await outcome(kms.decrypt(ROOT, { CiphertextBlob: blob, KeyId: b })));
    expect([...seen].sort()).toEqual([
      "IncorrectKeyException",
      "InvalidCiphertextException",
      "NotFoundException",
      "ValidationException",
    ]);
  });
});

describe("ScheduleKeyDeletion's PendingWindowInDays (API reference: model range 1 to 365, then 7 to 30)", () => {
  it("checks the model's range before the key is looked up, then the 7 to 30 days of the service", async () => {
    const kms = await setup();
    const missing = "0b0b0b0b-1111-2222-3333-444444444444";
    const low = await rejects(
      kms.scheduleKeyDeletion(ROOT, { KeyId: missing, PendingWindowInDays: 0 }),
      "ValidationException",
    );
    expect(low.message).toBe(
      "1 validation error detected: Value '0' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    const high = await rejects(
      kms.scheduleKeyDeletion(ROOT, { KeyId: missing, PendingWindowInDays: 366 }),
      "ValidationException",
    );
    expect(high.message).toContain("Member must have value less than or equal to 365");
    await rejects(
      kms.scheduleKeyDeletion(ROOT, { KeyId: missing, PendingWindowInDays: 7 }),
      "NotFoundException",
    );
    const KeyId = await newKey(kms);
    for (const days of [6, 31]) {
      const e = await rejects(
        kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: days }),
        "ValidationException",
      );
      // As AWS KMS answered a 6-day window (observed).
      expect(e.message).toBe("PendingWindowInDays must be between 7 and 30");
    }
    expect((await kms.scheduleKeyDeletion(ROOT, { KeyId })).PendingWindowInDays).toBe(30);
  });
});

describe("alias names (API reference: AliasName pattern ^[a-zA-Z0-9:/_-]+$)", () => {
  it("a character outside the model's pattern is a model constraint (ValidationException), reported with the other members' before any lookup", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const spaced = await rejects(
      kms.createAlias(ROOT, { AliasName: "alias/my alias", TargetKeyId: KeyId }),
      "ValidationException",
    );
    expect(spaced.message).toBe(
      "1 validation error detected: Value 'alias/my alias' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
    );
    const both = await rejects(
      kms.createAlias(ROOT, { AliasName: "alias/ä", TargetKeyId: "" }),
      "ValidationException",
    );
    expect(both.message).toMatch(/^2 validation errors detected: .*'aliasName'.*; .*'targetKeyId'/);
    await rejects(
      kms.updateAlias(ROOT, { AliasName: "alias/x!", TargetKeyId: KeyId }),
      "ValidationException",
    );
    await rejects(kms.deleteAlias(ROOT, { AliasName: "alias/x!" }), "ValidationException");
    // Within the pattern, the service's rules: AWS's words for a missing prefix and for a colon.
    const prefix = await rejects(
      kms.createAlias(ROOT, { AliasName: "orders", TargetKeyId: KeyId }),
      "ValidationException",
    );
    expect(prefix.message).toBe("Invalid identifier");
    const colon = await rejects(
      kms.createAlias(ROOT, { AliasName: "alias/a:b", TargetKeyId: KeyId }),
      "ValidationException",
    );
    expect(colon.message).toBe("alias/a:b contains invalid characters for an alias");
  });
});
