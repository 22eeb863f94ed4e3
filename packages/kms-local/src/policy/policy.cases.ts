// The key-policy case tables (data, so docs/RELIABILITY.md can count them): evaluation, malformed, lockout.

import type { PolicyDecision, PolicyRequest } from "./types.js";

export const ACCOUNT = "111122223333";
export const OTHER_ACCOUNT = "444455556666";
export const KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
export const OTHER_KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/99999999-12ab-34cd-56ef-1234567890ab`;
export const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
export const BOB = `arn:aws:iam::${ACCOUNT}:user/bob`;
export const ADMIN_ROLE = `arn:aws:iam::${ACCOUNT}:role/KeyAdmin`;
export const ADMIN_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/KeyAdmin/session-1`;
export const MALLORY = `arn:aws:iam::${OTHER_ACCOUNT}:user/mallory`;
export const OTHER_ROOT = `arn:aws:iam::${OTHER_ACCOUNT}:root`;
export const ROOT = `arn:aws:iam::${ACCOUNT}:root`;

/** One evaluation case: a policy (statements), a request (defaults: alice, kms:Decrypt, KEY_ARN), the decision. */
export interface EvaluationCase {
  readonly name: string;
  readonly statements: readonly Record<string, unknown>[];
  readonly request?: Partial<PolicyRequest>;
  readonly expected: PolicyDecision;
}

const allowAlice = (condition?: Record<string, unknown>) => ({
  Sid: "AllowAlice",
  Effect: "Allow",
  Principal: { AWS: ALICE },
  Action: "kms:*",
  Resource: "*",
  ...(condition ? { Condition: condition } : {}),
});

const allowAccount = {
  Sid: "Root",
  Effect: "Allow",
  Principal: { AWS: ROOT },
  Action: "kms:*",
  Resource: "*",
};

const denyIf = (condition: Record<string, unknown>) => ({
  Sid: "DenyIf",
  Effect: "Deny",
  Principal: "*",
  Action: "kms:*",
  Resource: "*",
  Condition: condition,
});

type Conditions = PolicyRequest["conditions"];

/** A case where an Allow statement carries `condition`: allow when it holds, implicit-deny when not. */
function allowWhen(
  name: string,
  condition: Record<string, unknown>,
  conditions: Conditions,
  holds: boolean,
): EvaluationCase {
  return {
    name: `allow-if ${name}`,
    statements: [allowAlice(condition)],
    request: { conditions },
    expected: holds ? "allow" : "implicit-deny",
  };
}

/** A case where a Deny statement carries `condition` next to an account-wide Allow: deny when it holds. */
function denyWhen(
  name: string,
  condition: Record<string, unknown>,
  conditions: Conditions,
  holds: boolean,
): EvaluationCase {
  return {
    name: `deny-if ${name}`,
    statements: [allowAccount, denyIf(condition)],
    request: { conditions },
    expected: holds ? "deny" : "allow",
  };
}

const ctx = (pairs: Record<string, string>): Conditions => ({
  "kms:CallerAccount": ACCOUNT,
  ...Object.fromEntries(Object.entries(pairs).map(([k, v]) => [`kms:EncryptionContext:${k}`, v])),
  ...(Object.keys(pairs).length > 0 ? { "kms:EncryptionContextKeys": Object.keys(pairs) } : {}),
});

const TENANT = "kms:EncryptionContext:tenant";
const KEYS = "kms:EncryptionContextKeys";
const SRC = "aws:SourceIp";

export const EVALUATION_CASES: readonly EvaluationCase[] = [
  // ---- Principals, actions, resources, effects ----
  {
    name: "no statement matches: implicit deny",
    statements: [allowAlice()],
    request: { principal: BOB },
    expected: "implicit-deny",
  },
  { name: "principal ARN matches the caller", statements: [allowAlice()], expected: "allow" },
  {
    name: "account root allows a principal of that account",
    statements: [allowAccount],
    request: { principal: BOB },
    expected: "allow",
  },
  {
    name: "account root does not allow another account's principal",
    statements: [allowAccount],
    request: { principal: MALLORY, account: OTHER_ACCOUNT },
    expected: "implicit-deny",
  },
  {
    name: "bare account id is the account root",
    statements: [{ ...allowAccount, Principal: { AWS: ACCOUNT } }],
    request: { principal: BOB },
    expected: "allow",
  },
  {
    name: "bare account id of another account does not match",
    statements: [{ ...allowAccount, Principal: { AWS: OTHER_ACCOUNT } }],
    expected: "implicit-deny",
  },
  {
    name: "other account root grants cross-account access",
    statements: [{ ...allowAccount, Principal: { AWS: [ROOT, OTHER_ROOT] } }],
    request: { principal: MALLORY, account: OTHER_ACCOUNT },
    expected: "allow",
  },
  {
    name: 'Principal "*" matches anyone',
    statements: [{ ...allowAccount, Principal: "*" }],
    request: { principal: MALLORY, account: OTHER_ACCOUNT },
    expected: "allow",
  },
  {
    name: 'Principal {"AWS": "*"} matches anyone',
    statements: [{ ...allowAccount, Principal: { AWS: "*" } }],
    request: { principal: MALLORY, account: OTHER_ACCOUNT },
    expected: "allow",
  },
  {
    name: "role principal matches its assumed-role session",
    statements: [{ ...allowAccount, Principal: { AWS: ADMIN_ROLE } }],
    request: { principal: ADMIN_SESSION },
    expected: "allow",
  },
  {
    // IAM matches a role principal by the role (role names are unique in an account whatever their path); a
    // session ARN carries the role's name but not its path.
    name: "role principal with a path matches its assumed-role session",
    statements: [{ ...allowAccount, Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/admins/KeyAdmin` } }],
    request: { principal: ADMIN_SESSION },
    expected: "allow",
  },
  {
    name: "role principal with a path does not match a session of a role with a longer name",
    statements: [{ ...allowAccount, Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/admins/Admin` } }],
    request: { principal: ADMIN_SESSION },
    expected: "implicit-deny",
  },
  {
    name: "role principal does not match another role's session",
    statements: [{ ...allowAccount, Principal: { AWS: ADMIN_ROLE } }],
    request: { principal: `arn:aws:sts::${ACCOUNT}:assumed-role/Other/s` },
    expected: "implicit-deny",
  },
  {
    name: "service principal matches a request from that service",
    statements: [{ ...allowAccount, Principal: { Service: "logs.amazonaws.com" } }],
    request: { principal: "logs.amazonaws.com", account: "", service: "logs.amazonaws.com" },
    expected: "allow",
  },
  {
    // A user's request through a service (forward access sessions) is the user's, with kms:ViaService set: a
    // service principal in the policy does not match it (IAM User Guide, "Forward access sessions").
    name: "service principal does not match a user calling through that service (kms:ViaService)",
    statements: [{ ...allowAccount, Principal: { Service: "s3.amazonaws.com" } }],
    request: {
      principal: MALLORY,
      account: OTHER_ACCOUNT,
      conditions: { "kms:ViaService": "s3.amazonaws.com" },
    },
    expected: "implicit-deny",
  },
  {
    name: "service principal does not match a direct caller",
    statements: [{ ...allowAccount, Principal: { Service: "s3.amazonaws.com" } }],
    request: { principal: MALLORY, account: OTHER_ACCOUNT },
    expected: "implicit-deny",
  },
  {
    name: "explicit Deny overrides Allow",
    statements: [allowAccount, { ...allowAlice(), Effect: "Deny" }],
    expected: "deny",
  },
  {
    name: "explicit Deny before Allow still wins",
    statements: [{ ...allowAlice(), Effect: "Deny" }, allowAccount],
    expected: "deny",
  },
  {
    name: "Deny for another principal does not affect the caller",
    statements: [allowAccount, { ...allowAlice(), Effect: "Deny" }],
    request: { principal: BOB },
    expected: "allow",
  },
  {
    name: "a Deny alone is a deny, not implicit",
    statements: [{ ...allowAlice(), Effect: "Deny" }],
    expected: "deny",
  },
  {
    // IAM's NotPrincipal: an assumed-role session is exempted only when the session itself is named (no wildcard
    // session), best with its role and account, as the IAM User Guide's example does.
    name: "NotPrincipal in a Deny exempts the named principal",
    statements: [
      allowAccount,
      {
        Effect: "Deny",
        NotPrincipal: { AWS: [ADMIN_SESSION, ADMIN_ROLE, ROOT] },
        Action: "kms:PutKeyPolicy",
        Resource: "*",
      },
    ],
    request: { principal: ADMIN_SESSION, action: "kms:PutKeyPolicy" },
    expected: "allow",
  },
  {
    name: "NotPrincipal in a Deny naming an account root does not exempt the account's users",
    statements: [
      allowAccount,
      { Effect: "Deny", NotPrincipal: { AWS: [ALICE, ROOT] }, Action: "kms:PutKeyPolicy", Resource: "*" },
    ],
    request: { principal: BOB, action: "kms:PutKeyPolicy" },
    expected: "deny",
  },
  {
    name: "NotPrincipal in a Deny naming a bare account id does not exempt the account's users",
    statements: [
      allowAccount,
      { Effect: "Deny", NotPrincipal: { AWS: ACCOUNT }, Action: "kms:PutKeyPolicy", Resource: "*" },
    ],
    request: { principal: BOB, action: "kms:PutKeyPolicy" },
    expected: "deny",
  },
  {
    name: "NotPrincipal in a Deny naming an account root exempts that root user",
    statements: [
      allowAccount,
      { Effect: "Deny", NotPrincipal: { AWS: ROOT }, Action: "kms:PutKeyPolicy", Resource: "*" },
    ],
    request: { principal: ROOT, action: "kms:PutKeyPolicy" },
    expected: "allow",
  },
  {
    name: "NotPrincipal in a Deny naming a role does not exempt its sessions",
    statements: [
      allowAccount,
      {
        Effect: "Deny",
        NotPrincipal: { AWS: [ADMIN_ROLE, ROOT] },
        Action: "kms:PutKeyPolicy",
        Resource: "*",
      },
    ],
    request: { principal: ADMIN_SESSION, action: "kms:PutKeyPolicy" },
    expected: "deny",
  },
  {
    name: "NotPrincipal in a Deny naming a service does not exempt a user calling through it",
    statements: [
      allowAccount,
      {
        Effect: "Deny",
        NotPrincipal: { Service: "s3.amazonaws.com" },
        Action: "kms:Decrypt",
        Resource: "*",
      },
    ],
    request: { principal: BOB, conditions: { "kms:ViaService": "s3.amazonaws.com" } },
    expected: "deny",
  },
  {
    name: "NotPrincipal in a Deny denies everyone else",
    statements: [
      allowAccount,
      { Effect: "Deny", NotPrincipal: { AWS: ADMIN_ROLE }, Action: "kms:PutKeyPolicy", Resource: "*" },
    ],
    request: { principal: BOB, action: "kms:PutKeyPolicy" },
    expected: "deny",
  },
  {
    name: "NotPrincipal in an Allow allows everyone but the named",
    statements: [{ Effect: "Allow", NotPrincipal: { AWS: MALLORY }, Action: "kms:Decrypt", Resource: "*" }],
    request: { principal: BOB },
    expected: "allow",
  },
  {
    name: "NotPrincipal in an Allow naming an account root excludes the account's users",
    statements: [
      { Effect: "Allow", NotPrincipal: { AWS: OTHER_ROOT }, Action: "kms:Decrypt", Resource: "*" },
    ],
    request: { principal: MALLORY, account: OTHER_ACCOUNT },
    expected: "implicit-deny",
  },
  {
    name: "NotPrincipal in an Allow excludes the named",
    statements: [{ Effect: "Allow", NotPrincipal: { AWS: MALLORY }, Action: "kms:Decrypt", Resource: "*" }],
    request: { principal: MALLORY, account: OTHER_ACCOUNT },
    expected: "implicit-deny",
  },
  {
    name: "action matches exactly",
    statements: [{ ...allowAlice(), Action: "kms:Decrypt" }],
    expected: "allow",
  },
  {
    name: "action names are case-insensitive",
    statements: [{ ...allowAlice(), Action: "KMS:decrypt" }],
    expected: "allow",
  },
  {
    name: "another action does not match",
    statements: [{ ...allowAlice(), Action: "kms:Encrypt" }],
    expected: "implicit-deny",
  },
  {
    name: "action list",
    statements: [{ ...allowAlice(), Action: ["kms:Encrypt", "kms:Decrypt"] }],
    expected: "allow",
  },
  {
    name: "kms:GenerateDataKey* matches GenerateDataKeyWithoutPlaintext",
    statements: [{ ...allowAlice(), Action: "kms:GenerateDataKey*" }],
    request: { action: "kms:GenerateDataKeyWithoutPlaintext" },
    expected: "allow",
  },
  {
    name: "kms:GenerateDataKey* matches GenerateDataKey",
    statements: [{ ...allowAlice(), Action: "kms:GenerateDataKey*" }],
    request: { action: "kms:GenerateDataKey" },
    expected: "allow",
  },
  {
    name: "kms:GenerateDataKey* does not match Decrypt",
    statements: [{ ...allowAlice(), Action: "kms:GenerateDataKey*" }],
    expected: "implicit-deny",
  },
  {
    name: "kms:ReEncrypt? wildcard matches one character only",
    statements: [{ ...allowAlice(), Action: "kms:ReEncrypt?" }],
    request: { action: "kms:ReEncryptTo" },
    expected: "implicit-deny",
  },
  {
    name: "kms:ReEncrypt?? matches ReEncryptTo",
    statements: [{ ...allowAlice(), Action: "kms:ReEncrypt??" }],
    request: { action: "kms:ReEncryptTo" },
    expected: "allow",
  },
  {
    name: '"*" action matches anything',
    statements: [{ ...allowAlice(), Action: "*" }],
    request: { action: "kms:ScheduleKeyDeletion" },
    expected: "allow",
  },
  {
    name: "another service's action does not match",
    statements: [{ ...allowAlice(), Action: "s3:*" }],
    expected: "implicit-deny",
  },
  {
    name: "NotAction allows every other action",
    statements: [
      { ...allowAlice(), Action: undefined, NotAction: ["kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"] },
    ],
    expected: "allow",
  },
  {
    name: "NotAction does not allow the listed action",
    statements: [
      { ...allowAlice(), Action: undefined, NotAction: ["kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"] },
    ],
    request: { action: "kms:PutKeyPolicy" },
    expected: "implicit-deny",
  },
  {
    name: "Deny with NotAction denies everything but the listed",
    statements: [allowAccount, { Effect: "Deny", Principal: "*", NotAction: "kms:Decrypt", Resource: "*" }],
    request: { action: "kms:Encrypt" },
    expected: "deny",
  },
  {
    name: "Resource ARN matches the key",
    statements: [{ ...allowAlice(), Resource: KEY_ARN }],
    expected: "allow",
  },
  {
    name: "Resource ARN of another key does not match",
    statements: [{ ...allowAlice(), Resource: OTHER_KEY_ARN }],
    expected: "implicit-deny",
  },
  {
    name: "Resource wildcard ARN",
    statements: [{ ...allowAlice(), Resource: `arn:aws:kms:*:${ACCOUNT}:key/*` }],
    expected: "allow",
  },
  {
    name: "Resource ARNs are case-sensitive",
    statements: [{ ...allowAlice(), Resource: KEY_ARN.replace("1234abcd", "1234ABCD") }],
    expected: "implicit-deny",
  },
  {
    name: "NotResource excludes the key",
    statements: [{ ...allowAlice(), Resource: undefined, NotResource: KEY_ARN }],
    expected: "implicit-deny",
  },
  {
    name: "NotResource of another key",
    statements: [{ ...allowAlice(), Resource: undefined, NotResource: OTHER_KEY_ARN }],
    expected: "allow",
  },

  // ---- String operators on kms:EncryptionContext:<key> ----
  allowWhen(
    "StringEquals context matches",
    { StringEquals: { [TENANT]: "acme" } },
    ctx({ tenant: "acme" }),
    true,
  ),
  allowWhen(
    "StringEquals context differs",
    { StringEquals: { [TENANT]: "acme" } },
    ctx({ tenant: "globex" }),
    false,
  ),
  allowWhen(
    "StringEquals is case-sensitive in values",
    { StringEquals: { [TENANT]: "acme" } },
    ctx({ tenant: "ACME" }),
    false,
  ),
  allowWhen("StringEquals context key missing", { StringEquals: { [TENANT]: "acme" } }, ctx({}), false),
  allowWhen(
    "StringEquals multiple values are ORed",
    { StringEquals: { [TENANT]: ["acme", "globex"] } },
    ctx({ tenant: "globex" }),
    true,
  ),
  allowWhen(
    "condition key names are case-insensitive",
    { StringEquals: { "KMS:encryptioncontext:TENANT": "acme" } },
    ctx({ tenant: "acme" }),
    true,
  ),
  allowWhen(
    "several keys are ANDed (one fails)",
    { StringEquals: { [TENANT]: "acme", "kms:EncryptionContext:stage": "prod" } },
    ctx({ tenant: "acme", stage: "dev" }),
    false,
  ),
  allowWhen(
    "several keys are ANDed (both hold)",
    { StringEquals: { [TENANT]: "acme", "kms:EncryptionContext:stage": "prod" } },
    ctx({ tenant: "acme", stage: "prod" }),
    true,
  ),
  allowWhen(
    "several operators are ANDed",
    { StringEquals: { [TENANT]: "acme" }, StringLike: { "kms:EncryptionContext:stage": "pr*" } },
    ctx({ tenant: "acme", stage: "dev" }),
    false,
  ),
  denyWhen(
    "StringEquals deny matches",
    { StringEquals: { [TENANT]: "evil" } },
    ctx({ tenant: "evil" }),
    true,
  ),
  denyWhen(
    "StringEquals deny does not match",
    { StringEquals: { [TENANT]: "evil" } },
    ctx({ tenant: "acme" }),
    false,
  ),
  allowWhen(
    "StringEqualsIfExists present and equal",
    { StringEqualsIfExists: { [TENANT]: "acme" } },
    ctx({ tenant: "acme" }),
    true,
  ),
  allowWhen(
    "StringEqualsIfExists present and different",
    { StringEqualsIfExists: { [TENANT]: "acme" } },
    ctx({ tenant: "x" }),
    false,
  ),
  allowWhen(
    "StringEqualsIfExists missing key is true",
    { StringEqualsIfExists: { [TENANT]: "acme" } },
    ctx({}),
    true,
  ),
  denyWhen(
    "StringEqualsIfExists deny on missing key",
    { StringEqualsIfExists: { [TENANT]: "evil" } },
    ctx({}),
    true,
  ),

  allowWhen(
    "StringNotEquals different value",
    { StringNotEquals: { [TENANT]: "acme" } },
    ctx({ tenant: "globex" }),
    true,
  ),
  allowWhen(
    "StringNotEquals equal value",
    { StringNotEquals: { [TENANT]: "acme" } },
    ctx({ tenant: "acme" }),
    false,
  ),
  allowWhen("StringNotEquals missing key is true", { StringNotEquals: { [TENANT]: "acme" } }, ctx({}), true),
  allowWhen(
    "StringNotEquals multiple values: none may match",
    { StringNotEquals: { [TENANT]: ["a", "b"] } },
    ctx({ tenant: "b" }),
    false,
  ),
  denyWhen(
    "StringNotEquals deny: tenant must be acme",
    { StringNotEquals: { [TENANT]: "acme" } },
    ctx({ tenant: "evil" }),
    true,
  ),
  denyWhen(
    "StringNotEquals deny: acme passes",
    { StringNotEquals: { [TENANT]: "acme" } },
    ctx({ tenant: "acme" }),
    false,
  ),
  allowWhen(
    "StringNotEqualsIfExists missing",
    { StringNotEqualsIfExists: { [TENANT]: "acme" } },
    ctx({}),
    true,
  ),
  allowWhen(
    "StringNotEqualsIfExists present equal",
    { StringNotEqualsIfExists: { [TENANT]: "acme" } },
    ctx({ tenant: "acme" }),
    false,
  ),
  denyWhen(
    "StringNotEqualsIfExists deny present other",
    { StringNotEqualsIfExists: { [TENANT]: "acme" } },
    ctx({ tenant: "x" }),
    true,
  ),
  denyWhen(
    "StringNotEqualsIfExists deny missing",
    { StringNotEqualsIfExists: { [TENANT]: "acme" } },
    ctx({}),
    true,
  ),

  allowWhen(
    "StringEqualsIgnoreCase other case",
    { StringEqualsIgnoreCase: { [TENANT]: "ACME" } },
    ctx({ tenant: "acme" }),
    true,
  ),
  allowWhen(
    "StringEqualsIgnoreCase other value",
    { StringEqualsIgnoreCase: { [TENANT]: "ACME" } },
    ctx({ tenant: "globex" }),
    false,
  ),
  denyWhen(
    "StringEqualsIgnoreCase deny",
    { StringEqualsIgnoreCase: { [TENANT]: "Evil" } },
    ctx({ tenant: "EVIL" }),
    true,
  ),
  allowWhen(
    "StringEqualsIgnoreCaseIfExists missing",
    { StringEqualsIgnoreCaseIfExists: { [TENANT]: "acme" } },
    ctx({}),
    true,
  ),
  allowWhen(
    "StringEqualsIgnoreCaseIfExists present other",
    { StringEqualsIgnoreCaseIfExists: { [TENANT]: "acme" } },
    ctx({ tenant: "x" }),
    false,
  ),
  allowWhen(
    "StringNotEqualsIgnoreCase other case is equal",
    { StringNotEqualsIgnoreCase: { [TENANT]: "ACME" } },
    ctx({ tenant: "acme" }),
    false,
  ),
  allowWhen(
    "StringNotEqualsIgnoreCase other value",
    { StringNotEqualsIgnoreCase: { [TENANT]: "ACME" } },
    ctx({ tenant: "globex" }),
    true,
  ),
  denyWhen(
    "StringNotEqualsIgnoreCase deny other value",
    { StringNotEqualsIgnoreCase: { [TENANT]: "acme" } },
    ctx({ tenant: "x" }),
    true,
  ),
  denyWhen(
    "StringNotEqualsIgnoreCase deny same value other case",
    { StringNotEqualsIgnoreCase: { [TENANT]: "acme" } },
    ctx({ tenant: "AcMe" }),
    false,
  ),
  allowWhen(
    "StringNotEqualsIgnoreCaseIfExists missing",
    { StringNotEqualsIgnoreCaseIfExists: { [TENANT]: "acme" } },
    ctx({}),
    true,
  ),
  allowWhen(
    "StringNotEqualsIgnoreCaseIfExists present equal",
    { StringNotEqualsIgnoreCaseIfExists: { [TENANT]: "acme" } },
    ctx({ tenant: "ACME" }),
    false,
  ),

  allowWhen("StringLike * wildcard", { StringLike: { [TENANT]: "ac*" } }, ctx({ tenant: "acme" }), true),
  allowWhen("StringLike ? wildcard", { StringLike: { [TENANT]: "ac?e" } }, ctx({ tenant: "acme" }), true),
  allowWhen(
    "StringLike ? is exactly one character",
    { StringLike: { [TENANT]: "ac?" } },
    ctx({ tenant: "acme" }),
    false,
  ),
  allowWhen("StringLike no match", { StringLike: { [TENANT]: "glo*" } }, ctx({ tenant: "acme" }), false),
  allowWhen(
    "StringLike is case-sensitive",
    { StringLike: { [TENANT]: "AC*" } },
    ctx({ tenant: "acme" }),
    false,
  ),
  allowWhen(
    "StringLike regex characters are literal",
    { StringLike: { [TENANT]: "a.c*" } },
    ctx({ tenant: "abcd" }),
    false,
  ),
  denyWhen("StringLike deny", { StringLike: { [TENANT]: "ev*" } }, ctx({ tenant: "evil" }), true),
  allowWhen("StringLikeIfExists missing", { StringLikeIfExists: { [TENANT]: "ac*" } }, ctx({}), true),
  allowWhen(
    "StringLikeIfExists present mismatch",
    { StringLikeIfExists: { [TENANT]: "ac*" } },
    ctx({ tenant: "x" }),
    false,
  ),
  allowWhen(
    "StringNotLike non-matching value",
    { StringNotLike: { [TENANT]: "ev*" } },
    ctx({ tenant: "acme" }),
    true,
  ),
  allowWhen(
    "StringNotLike matching value",
    { StringNotLike: { [TENANT]: "ev*" } },
    ctx({ tenant: "evil" }),
    false,
  ),
  allowWhen("StringNotLike missing key is true", { StringNotLike: { [TENANT]: "ev*" } }, ctx({}), true),
  denyWhen("StringNotLike deny", { StringNotLike: { [TENANT]: "ac*" } }, ctx({ tenant: "evil" }), true),
  denyWhen(
    "StringNotLike deny passes",
    { StringNotLike: { [TENANT]: "ac*" } },
    ctx({ tenant: "acme" }),
    false,
  ),
  allowWhen("StringNotLikeIfExists missing", { StringNotLikeIfExists: { [TENANT]: "ev*" } }, ctx({}), true),
  allowWhen(
    "StringNotLikeIfExists present match",
    { StringNotLikeIfExists: { [TENANT]: "ev*" } },
    ctx({ tenant: "evil" }),
    false,
  ),

  // ---- kms:CallerAccount, kms:ViaService ----
  allowWhen(
    "kms:CallerAccount equals",
    { StringEquals: { "kms:CallerAccount": ACCOUNT } },
    { "kms:CallerAccount": ACCOUNT },
    true,
  ),
  allowWhen(
    "kms:CallerAccount other",
    { StringEquals: { "kms:CallerAccount": ACCOUNT } },
    { "kms:CallerAccount": OTHER_ACCOUNT },
    false,
  ),
  denyWhen(
    "kms:CallerAccount deny other account",
    { StringNotEquals: { "kms:CallerAccount": ACCOUNT } },
    { "kms:CallerAccount": OTHER_ACCOUNT },
    true,
  ),
  denyWhen(
    "kms:CallerAccount deny passes own account",
    { StringNotEquals: { "kms:CallerAccount": ACCOUNT } },
    { "kms:CallerAccount": ACCOUNT },
    false,
  ),
  allowWhen(
    "kms:ViaService equals",
    { StringEquals: { "kms:ViaService": "s3.us-east-1.amazonaws.com" } },
    { "kms:ViaService": "s3.us-east-1.amazonaws.com" },
    true,
  ),
  allowWhen(
    "kms:ViaService missing (direct call)",
    { StringEquals: { "kms:ViaService": "s3.us-east-1.amazonaws.com" } },
    {},
    false,
  ),
  allowWhen(
    "kms:ViaService StringLike region wildcard",
    { StringLike: { "kms:ViaService": "s3.*.amazonaws.com" } },
    { "kms:ViaService": "s3.eu-west-1.amazonaws.com" },
    true,
  ),
  allowWhen(
    "kms:ViaService StringLike other service",
    { StringLike: { "kms:ViaService": "s3.*.amazonaws.com" } },
    { "kms:ViaService": "ec2.eu-west-1.amazonaws.com" },
    false,
  ),
  denyWhen("kms:ViaService deny direct calls (Null)", { Null: { "kms:ViaService": "true" } }, {}, true),
  denyWhen(
    "kms:ViaService deny direct calls passes via service",
    { Null: { "kms:ViaService": "true" } },
    { "kms:ViaService": "s3.us-east-1.amazonaws.com" },
    false,
  ),
  denyWhen(
    "kms:ViaService deny other services (StringNotEqualsIfExists)",
    { StringNotEqualsIfExists: { "kms:ViaService": "s3.us-east-1.amazonaws.com" } },
    { "kms:ViaService": "ec2.us-east-1.amazonaws.com" },
    true,
  ),
  denyWhen(
    "kms:ViaService StringNotEqualsIfExists also denies direct calls (missing key)",
    { StringNotEqualsIfExists: { "kms:ViaService": "s3.us-east-1.amazonaws.com" } },
    {},
    true,
  ),

  // ---- kms:EncryptionContextKeys with set operators ----
  allowWhen(
    "ForAnyValue:StringEquals one key matches",
    { "ForAnyValue:StringEquals": { [KEYS]: ["tenant", "stage"] } },
    ctx({ tenant: "a", other: "b" }),
    true,
  ),
  allowWhen(
    "ForAnyValue:StringEquals no key matches",
    { "ForAnyValue:StringEquals": { [KEYS]: ["tenant"] } },
    ctx({ other: "b" }),
    false,
  ),
  allowWhen(
    "ForAnyValue:StringEquals empty context is false",
    { "ForAnyValue:StringEquals": { [KEYS]: ["tenant"] } },
    ctx({}),
    false,
  ),
  allowWhen(
    "ForAnyValue:StringEquals empty array is false",
    { "ForAnyValue:StringEquals": { [KEYS]: ["tenant"] } },
    { [KEYS]: [] },
    false,
  ),
  allowWhen(
    "ForAnyValue:StringEqualsIfExists empty context is still false (as AWS)",
    { "ForAnyValue:StringEqualsIfExists": { [KEYS]: ["tenant"] } },
    ctx({}),
    false,
  ),
  allowWhen(
    "ForAnyValue:StringEqualsIfExists present and matching",
    { "ForAnyValue:StringEqualsIfExists": { [KEYS]: ["tenant"] } },
    ctx({ tenant: "a" }),
    true,
  ),
  allowWhen(
    "ForAnyValue:StringEquals keys are case-sensitive",
    { "ForAnyValue:StringEquals": { [KEYS]: ["Tenant"] } },
    ctx({ tenant: "a" }),
    false,
  ),
  denyWhen(
    "ForAnyValue:StringEquals deny a forbidden key",
    { "ForAnyValue:StringEquals": { [KEYS]: ["debug"] } },
    ctx({ tenant: "a", debug: "1" }),
    true,
  ),
  denyWhen(
    "ForAnyValue:StringEquals deny no forbidden key",
    { "ForAnyValue:StringEquals": { [KEYS]: ["debug"] } },
    ctx({ tenant: "a" }),
    false,
  ),
  allowWhen(
    "ForAllValues:StringEquals all keys allowed",
    { "ForAllValues:StringEquals": { [KEYS]: ["tenant", "stage"] } },
    ctx({ tenant: "a", stage: "b" }),
    true,
  ),
  allowWhen(
    "ForAllValues:StringEquals an extra key",
    { "ForAllValues:StringEquals": { [KEYS]: ["tenant", "stage"] } },
    ctx({ tenant: "a", other: "b" }),
    false,
  ),
  allowWhen(
    "ForAllValues:StringEquals empty context is true",
    { "ForAllValues:StringEquals": { [KEYS]: ["tenant"] } },
    ctx({}),
    true,
  ),
  allowWhen(
    "ForAllValues:StringEquals empty array is true",
    { "ForAllValues:StringEquals": { [KEYS]: ["tenant"] } },
    { [KEYS]: [] },
    true,
  ),
  denyWhen(
    "ForAllValues:StringEquals deny when all keys are in the list",
    { "ForAllValues:StringEquals": { [KEYS]: ["debug"] } },
    ctx({ debug: "1" }),
    true,
  ),
  denyWhen(
    "ForAllValues:StringEquals deny not when one key is outside",
    { "ForAllValues:StringEquals": { [KEYS]: ["debug"] } },
    ctx({ debug: "1", tenant: "a" }),
    false,
  ),
  allowWhen(
    "ForAllValues:StringLike all keys match patterns",
    { "ForAllValues:StringLike": { [KEYS]: ["app:*"] } },
    ctx({ "app:a": "1", "app:b": "2" }),
    true,
  ),
  allowWhen(
    "ForAllValues:StringLike one key does not",
    { "ForAllValues:StringLike": { [KEYS]: ["app:*"] } },
    ctx({ "app:a": "1", x: "2" }),
    false,
  ),
  allowWhen(
    "ForAnyValue:StringLike some key matches",
    { "ForAnyValue:StringLike": { [KEYS]: ["app:*"] } },
    ctx({ x: "1", "app:b": "2" }),
    true,
  ),
  allowWhen(
    "ForAnyValue:StringLike no key matches",
    { "ForAnyValue:StringLike": { [KEYS]: ["app:*"] } },
    ctx({ x: "1" }),
    false,
  ),
  allowWhen(
    "ForAllValues:StringNotEquals no key is forbidden",
    { "ForAllValues:StringNotEquals": { [KEYS]: ["debug", "trace"] } },
    ctx({ tenant: "a" }),
    true,
  ),
  allowWhen(
    "ForAllValues:StringNotEquals a forbidden key",
    { "ForAllValues:StringNotEquals": { [KEYS]: ["debug", "trace"] } },
    ctx({ tenant: "a", trace: "1" }),
    false,
  ),
  allowWhen(
    "ForAllValues:StringNotEquals empty context is true",
    { "ForAllValues:StringNotEquals": { [KEYS]: ["debug"] } },
    ctx({}),
    true,
  ),
  allowWhen(
    "ForAnyValue:StringNotEquals some key is not listed",
    { "ForAnyValue:StringNotEquals": { [KEYS]: ["tenant"] } },
    ctx({ tenant: "a", x: "1" }),
    true,
  ),
  allowWhen(
    "ForAnyValue:StringNotEquals every key is listed",
    { "ForAnyValue:StringNotEquals": { [KEYS]: ["tenant"] } },
    ctx({ tenant: "a" }),
    false,
  ),
  allowWhen(
    "ForAnyValue:StringNotEquals empty context is false",
    { "ForAnyValue:StringNotEquals": { [KEYS]: ["tenant"] } },
    ctx({}),
    false,
  ),
  allowWhen(
    "ForAllValues:StringEqualsIgnoreCase",
    { "ForAllValues:StringEqualsIgnoreCase": { [KEYS]: ["TENANT"] } },
    ctx({ tenant: "a" }),
    true,
  ),
  allowWhen(
    "ForAnyValue:StringNotLike",
    { "ForAnyValue:StringNotLike": { [KEYS]: ["app:*"] } },
    ctx({ "app:a": "1" }),
    false,
  ),
  allowWhen(
    "ForAllValues:StringEqualsIfExists missing",
    { "ForAllValues:StringEqualsIfExists": { [KEYS]: ["tenant"] } },
    {},
    true,
  ),
  allowWhen(
    "require exactly the keys tenant and stage (ForAllValues + ForAnyValue)",
    {
      "ForAllValues:StringEquals": { [KEYS]: ["tenant", "stage"] },
      "ForAnyValue:StringEquals": { [KEYS]: ["tenant"] },
    },
    ctx({ tenant: "a" }),
    true,
  ),
  allowWhen(
    "require exactly the keys: empty context fails ForAnyValue",
    {
      "ForAllValues:StringEquals": { [KEYS]: ["tenant", "stage"] },
      "ForAnyValue:StringEquals": { [KEYS]: ["tenant"] },
    },
    ctx({}),
    false,
  ),
  allowWhen(
    "set operator on a single-valued key",
    { "ForAnyValue:StringEquals": { [TENANT]: ["acme", "globex"] } },
    ctx({ tenant: "acme" }),
    true,
  ),
  allowWhen(
    "single-valued operator on several values in an Allow needs all",
    { StringEquals: { [KEYS]: "tenant" } },
    ctx({ tenant: "a", x: "b" }),
    false,
  ),
  denyWhen(
    "single-valued operator on several values in a Deny needs one",
    { StringEquals: { [KEYS]: "debug" } },
    ctx({ tenant: "a", debug: "b" }),
    true,
  ),

  // ---- Bool, Null ----
  allowWhen(
    "Bool true matches true",
    { Bool: { "kms:GrantIsForAWSResource": "true" } },
    { "kms:GrantIsForAWSResource": true },
    true,
  ),
  allowWhen(
    "Bool true vs false",
    { Bool: { "kms:GrantIsForAWSResource": "true" } },
    { "kms:GrantIsForAWSResource": false },
    false,
  ),
  allowWhen(
    "Bool JSON boolean in the policy",
    { Bool: { "kms:GrantIsForAWSResource": true } },
    { "kms:GrantIsForAWSResource": "true" },
    true,
  ),
  allowWhen("Bool missing key is false", { Bool: { "kms:GrantIsForAWSResource": "true" } }, {}, false),
  allowWhen(
    "Bool non-boolean request value never matches",
    { Bool: { "kms:GrantIsForAWSResource": "true" } },
    { "kms:GrantIsForAWSResource": "yes" },
    false,
  ),
  denyWhen(
    "Bool deny false",
    { Bool: { "aws:SecureTransport": "false" } },
    { "aws:SecureTransport": false },
    true,
  ),
  denyWhen(
    "Bool deny passes true",
    { Bool: { "aws:SecureTransport": "false" } },
    { "aws:SecureTransport": true },
    false,
  ),
  allowWhen(
    "IpAddress in an IPv4 range",
    { IpAddress: { [SRC]: "10.0.0.0/8" } },
    { [SRC]: "10.1.2.3" },
    true,
  ),
  allowWhen(
    "IpAddress outside an IPv4 range",
    { IpAddress: { [SRC]: "10.0.0.0/8" } },
    { [SRC]: "11.0.0.1" },
    false,
  ),
  allowWhen(
    "IpAddress prefix boundary",
    { IpAddress: { [SRC]: "192.0.2.64/26" } },
    { [SRC]: "192.0.2.128" },
    false,
  ),
  allowWhen(
    "IpAddress one of several ranges",
    { IpAddress: { [SRC]: ["10.0.0.0/8", "192.0.2.7"] } },
    { [SRC]: "192.0.2.7" },
    true,
  ),
  allowWhen(
    "IpAddress bare address is a /32",
    { IpAddress: { [SRC]: "192.0.2.7" } },
    { [SRC]: "192.0.2.8" },
    false,
  ),
  allowWhen(
    "IpAddress host bits in the range are ignored",
    { IpAddress: { [SRC]: "10.9.9.9/8" } },
    { [SRC]: "10.0.0.1" },
    true,
  ),
  allowWhen(
    "IpAddress IPv6 range",
    { IpAddress: { [SRC]: "2001:db8::/32" } },
    { [SRC]: "2001:db8:ffff::1" },
    true,
  ),
  allowWhen(
    "IpAddress IPv6 outside",
    { IpAddress: { [SRC]: "2001:db8::/32" } },
    { [SRC]: "2001:db9::1" },
    false,
  ),
  allowWhen(
    "IpAddress IPv4 range matches an IPv4-mapped client",
    { IpAddress: { [SRC]: "127.0.0.0/8" } },
    { [SRC]: "::ffff:127.0.0.1" },
    true,
  ),
  allowWhen(
    "IpAddress IPv4 range does not match a plain IPv6 client",
    { IpAddress: { [SRC]: "0.0.0.0/0" } },
    { [SRC]: "::1" },
    false,
  ),
  allowWhen("IpAddress missing key is false", { IpAddress: { [SRC]: "0.0.0.0/0" } }, {}, false),
  allowWhen(
    "IpAddress unparsable request value never matches",
    { IpAddress: { [SRC]: "0.0.0.0/0" } },
    { [SRC]: "localhost" },
    false,
  ),
  allowWhen("IpAddressIfExists missing key", { IpAddressIfExists: { [SRC]: "10.0.0.0/8" } }, {}, true),
  denyWhen(
    "NotIpAddress deny outside the range",
    { NotIpAddress: { [SRC]: "10.0.0.0/8" } },
    { [SRC]: "203.0.113.9" },
    true,
  ),
  denyWhen(
    "NotIpAddress inside the range passes",
    { NotIpAddress: { [SRC]: ["10.0.0.0/8", "::1/128"] } },
    { [SRC]: "::1" },
    false,
  ),
  denyWhen("NotIpAddress missing key denies", { NotIpAddress: { [SRC]: "10.0.0.0/8" } }, {}, true),
  allowWhen("BoolIfExists missing", { BoolIfExists: { "kms:GrantIsForAWSResource": "true" } }, {}, true),
  allowWhen(
    "BoolIfExists present false",
    { BoolIfExists: { "kms:GrantIsForAWSResource": "true" } },
    { "kms:GrantIsForAWSResource": false },
    false,
  ),
  denyWhen(
    "BoolIfExists deny on missing key",
    { BoolIfExists: { "aws:SecureTransport": "false" } },
    {},
    true,
  ),
  allowWhen("Null true: key absent", { Null: { [TENANT]: "true" } }, ctx({}), true),
  allowWhen("Null true: key present", { Null: { [TENANT]: "true" } }, ctx({ tenant: "a" }), false),
  allowWhen("Null false: key present", { Null: { [TENANT]: "false" } }, ctx({ tenant: "a" }), true),
  allowWhen("Null false: key absent", { Null: { [TENANT]: "false" } }, ctx({}), false),
  allowWhen(
    "Null false: empty EncryptionContextKeys counts as absent",
    { Null: { [KEYS]: "false" } },
    { [KEYS]: [] },
    false,
  ),
  denyWhen("Null deny requests without a tenant", { Null: { [TENANT]: "true" } }, ctx({ stage: "x" }), true),
  denyWhen("Null deny passes with a tenant", { Null: { [TENANT]: "true" } }, ctx({ tenant: "a" }), false),

  // ---- ARN operators ----
  allowWhen("ArnEquals", { ArnEquals: { "aws:PrincipalArn": ALICE } }, { "aws:PrincipalArn": ALICE }, true),
  allowWhen(
    "ArnEquals other",
    { ArnEquals: { "aws:PrincipalArn": ALICE } },
    { "aws:PrincipalArn": BOB },
    false,
  ),
  allowWhen(
    "ArnLike wildcard resource part",
    { ArnLike: { "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT}:user/*` } },
    { "aws:PrincipalArn": BOB },
    true,
  ),
  allowWhen(
    "ArnLike wildcard does not cross a colon",
    { ArnLike: { "aws:PrincipalArn": "arn:aws:iam::*:user/alice" } },
    { "aws:PrincipalArn": "arn:aws:iam::1:2:user/alice" },
    false,
  ),
  allowWhen(
    "ArnLike other account",
    { ArnLike: { "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT}:*` } },
    { "aws:PrincipalArn": MALLORY },
    false,
  ),
  denyWhen(
    "ArnNotLike deny outside the account",
    { ArnNotLike: { "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT}:*` } },
    { "aws:PrincipalArn": MALLORY },
    true,
  ),
  denyWhen(
    "ArnNotLike deny passes inside",
    { ArnNotLike: { "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT}:*` } },
    { "aws:PrincipalArn": BOB },
    false,
  ),
  allowWhen(
    "ArnNotEquals",
    { ArnNotEquals: { "aws:PrincipalArn": ALICE } },
    { "aws:PrincipalArn": BOB },
    true,
  ),
  allowWhen(
    "ArnNotEquals same",
    { ArnNotEquals: { "aws:PrincipalArn": ALICE } },
    { "aws:PrincipalArn": ALICE },
    false,
  ),
  allowWhen(
    "ArnLikeIfExists missing",
    { ArnLikeIfExists: { "aws:SourceArn": "arn:aws:s3:::bucket/*" } },
    {},
    true,
  ),
  allowWhen(
    "ArnLikeIfExists present mismatch",
    { ArnLikeIfExists: { "aws:SourceArn": "arn:aws:s3:::bucket/*" } },
    { "aws:SourceArn": "arn:aws:s3:::other/x" },
    false,
  ),

  // ---- Numeric and Date operators ----
  allowWhen(
    "NumericLessThanEquals holds",
    { NumericLessThanEquals: { "kms:ScheduleKeyDeletionPendingWindowInDays": "10" } },
    { "kms:ScheduleKeyDeletionPendingWindowInDays": "7" },
    true,
  ),
  allowWhen(
    "NumericLessThanEquals fails",
    { NumericLessThanEquals: { "kms:ScheduleKeyDeletionPendingWindowInDays": "10" } },
    { "kms:ScheduleKeyDeletionPendingWindowInDays": "30" },
    false,
  ),
  allowWhen(
    "NumericEquals",
    { NumericEquals: { "kms:RotationPeriodInDays": 365 } },
    { "kms:RotationPeriodInDays": "365" },
    true,
  ),
  allowWhen(
    "NumericNotEquals",
    { NumericNotEquals: { "kms:RotationPeriodInDays": "365" } },
    { "kms:RotationPeriodInDays": "365" },
    false,
  ),
  allowWhen(
    "NumericGreaterThan",
    { NumericGreaterThan: { "kms:RotationPeriodInDays": "90" } },
    { "kms:RotationPeriodInDays": "91" },
    true,
  ),
  allowWhen(
    "NumericGreaterThanEquals fails",
    { NumericGreaterThanEquals: { "kms:RotationPeriodInDays": "90" } },
    { "kms:RotationPeriodInDays": "89" },
    false,
  ),
  allowWhen(
    "NumericLessThan non-number never matches",
    { NumericLessThan: { "kms:RotationPeriodInDays": "90" } },
    { "kms:RotationPeriodInDays": "ten" },
    false,
  ),
  denyWhen(
    "NumericLessThan deny short windows",
    { NumericLessThan: { "kms:ScheduleKeyDeletionPendingWindowInDays": "30" } },
    { "kms:ScheduleKeyDeletionPendingWindowInDays": "7" },
    true,
  ),
  allowWhen(
    "DateLessThan holds",
    { DateLessThan: { "aws:CurrentTime": "2030-01-01T00:00:00Z" } },
    { "aws:CurrentTime": "2026-11-29T07:00:00Z" },
    true,
  ),
  allowWhen(
    "DateLessThan expired",
    { DateLessThan: { "aws:CurrentTime": "2020-01-01T00:00:00Z" } },
    { "aws:CurrentTime": "2026-11-29T07:00:00Z" },
    false,
  ),
  allowWhen(
    "DateGreaterThanEquals epoch seconds",
    { DateGreaterThanEquals: { "aws:EpochTime": "1700000000" } },
    { "aws:EpochTime": "1800000000" },
    true,
  ),
  denyWhen(
    "DateGreaterThan deny after a date",
    { DateGreaterThan: { "aws:CurrentTime": "2026-01-01T00:00:00Z" } },
    { "aws:CurrentTime": "2026-11-29T07:00:00Z" },
    true,
  ),
];

/** A policy that parsePolicy must reject, and a fragment its MalformedPolicyDocumentException message must contain. */
export interface MalformedCase {
  readonly name: string;
  /** The document: a string is used as is, anything else is JSON.stringify'd. */
  readonly document: unknown;
  readonly message: string;
}

const ok = { Effect: "Allow", Principal: { AWS: ALICE }, Action: "kms:Decrypt", Resource: "*" };
const doc = (...statements: unknown[]) => ({ Version: "2012-10-17", Statement: statements });

export const MALFORMED_CASES: readonly MalformedCase[] = [
  {
    name: "duplicate field (JSON.parse would keep the last)",
    document:
      '{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Effect":"Allow"}}',
    message: 'Duplicate field "Effect"',
  },
  {
    name: "duplicate top-level field",
    document:
      '{"Statement":[],"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}',
    message: 'Duplicate field "Statement"',
  },
  {
    name: "duplicate field spelled with an escape",
    document:
      '{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Eff\\u0065ct":"Deny"}}',
    message: 'Duplicate field "Effect"',
  },
  { name: "empty document", document: "", message: "empty" },
  { name: "not JSON", document: "{Version: 2012}", message: "not valid JSON" },
  { name: "truncated JSON", document: '{"Version":"2012-10-17","Statement":[', message: "not valid JSON" },
  { name: "a JSON array", document: [ok], message: "must be a JSON object" },
  { name: "a JSON string", document: '"policy"', message: "must be a JSON object" },
  {
    name: "a character above U+00FF",
    document: JSON.stringify(doc({ ...ok, Sid: "s\u2603" })),
    message: "character outside",
  },
  {
    name: "unknown top-level field",
    document: { ...doc(ok), Statements: [] },
    message: 'Unknown field "Statements"',
  },
  {
    name: "unsupported version",
    document: { ...doc(ok), Version: "2012-10-18" },
    message: 'Version must be "2012-10-17" or "2008-10-17", got "2012-10-18"',
  },
  { name: "numeric version", document: { ...doc(ok), Version: 2012 }, message: "Version must be" },
  { name: "non-string Id", document: { ...doc(ok), Id: 7 }, message: "Id must be a string" },
  { name: "no Statement", document: { Version: "2012-10-17" }, message: "has no Statement" },
  { name: "empty Statement list", document: doc(), message: "Statement must not be an empty list" },
  {
    name: "statement not an object",
    document: doc("Allow"),
    message: "Statement 1: a statement must be an object",
  },
  {
    name: "unknown statement field",
    document: doc({ ...ok, Actions: "kms:*" }),
    message: 'Statement 1: unknown field "Actions"',
  },
  {
    name: "unknown field names the Sid",
    document: doc(ok, { ...ok, Sid: "Two", Conditions: {} }),
    message: 'Statement 2 (Sid "Two"): unknown field "Conditions"',
  },
  { name: "non-string Sid", document: doc({ ...ok, Sid: 1 }), message: "Sid must be a string" },
  { name: "missing Effect", document: doc({ ...ok, Effect: undefined }), message: "Effect is missing" },
  {
    name: "bad Effect",
    document: doc({ ...ok, Effect: "Permit" }),
    message: 'Effect must be "Allow" or "Deny", got "Permit"',
  },
  {
    name: "lower-case Effect",
    document: doc({ ...ok, Effect: "allow" }),
    message: 'Effect must be "Allow" or "Deny"',
  },
  {
    name: "missing Principal",
    document: doc({ ...ok, Principal: undefined }),
    message: "Principal is missing",
  },
  {
    name: "Principal and NotPrincipal",
    document: doc({ ...ok, NotPrincipal: { AWS: BOB } }),
    message: "both Principal and NotPrincipal",
  },
  {
    name: "Principal as a bare ARN string",
    document: doc({ ...ok, Principal: ALICE }),
    message: 'Principal must be "*" or an object',
  },
  { name: "empty Principal object", document: doc({ ...ok, Principal: {} }), message: "names no principal" },
  {
    name: "invalid principal ARN",
    document: doc({ ...ok, Principal: { AWS: "alice" } }),
    message: 'one or more invalid principals: "alice"',
  },
  {
    name: "wildcard inside a principal ARN",
    document: doc({ ...ok, Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/*` } }),
    message: "invalid principals",
  },
  {
    name: "non-string principal",
    document: doc({ ...ok, Principal: { AWS: [ALICE, 5] } }),
    message: "Principal.AWS must contain strings, got number",
  },
  {
    name: "empty principal list",
    document: doc({ ...ok, Principal: { AWS: [] } }),
    message: "Principal.AWS must not be an empty list",
  },
  {
    name: "unknown principal type",
    document: doc({ ...ok, Principal: { IAM: ALICE } }),
    message: 'unknown principal type "IAM"',
  },
  {
    name: "Federated principal unsupported",
    document: doc({ ...ok, Principal: { Federated: "cognito-identity.amazonaws.com" } }),
    message: 'type "Federated" is not supported',
  },
  {
    name: "invalid service principal",
    document: doc({ ...ok, Principal: { Service: "S3 Service" } }),
    message: 'invalid service principal "S3 Service"',
  },
  {
    name: "Action and NotAction",
    document: doc({ ...ok, NotAction: "kms:Encrypt" }),
    message: "both Action and NotAction",
  },
  {
    name: "invalid action",
    document: doc({ ...ok, Action: "Decrypt" }),
    message: 'invalid action "Decrypt"',
  },
  {
    name: "non-string action",
    document: doc({ ...ok, Action: ["kms:Decrypt", null] }),
    message: "Action must contain strings, got null",
  },
  {
    name: "empty action list",
    document: doc({ ...ok, Action: [] }),
    message: "Action must not be an empty list",
  },
  {
    name: "Resource and NotResource",
    document: doc({ ...ok, NotResource: KEY_ARN }),
    message: "both Resource and NotResource",
  },
  {
    name: "invalid resource",
    document: doc({ ...ok, Resource: "key/1234" }),
    message: 'invalid resource "key/1234"',
  },
  {
    name: "non-string resource",
    document: doc({ ...ok, Resource: { arn: KEY_ARN } }),
    message: "Resource must contain strings, got object",
  },
  {
    name: "Condition not an object",
    document: doc({ ...ok, Condition: "StringEquals" }),
    message: "Condition must be an object",
  },
  {
    name: "unknown condition operator",
    document: doc({ ...ok, Condition: { StringEqual: { [TENANT]: "a" } } }),
    message: 'unknown condition operator "StringEqual"',
  },
  {
    name: "unknown set prefix",
    document: doc({ ...ok, Condition: { "ForSomeValues:StringEquals": { [KEYS]: "a" } } }),
    message: 'unknown condition operator "ForSomeValues:StringEquals"',
  },
  {
    name: "unsupported BinaryEquals",
    document: doc({ ...ok, Condition: { BinaryEquals: { "aws:SourceIp": "AAAA" } } }),
    message: 'condition operator "BinaryEquals" is not supported',
  },
  ...[
    "10.0.0.0/33",
    "10.0.0.256",
    "10.0.0.01",
    "10.0.0.0/",
    "2001:db8::/129",
    "2001:db8:::1",
    "fe80::1%eth0",
    "10/8",
  ].map((range) => ({
    name: `IpAddress with a bad range ${range}`,
    document: doc({ ...ok, Condition: { IpAddress: { "aws:SourceIp": range } } }),
    message: `IpAddress expects an IP address or CIDR range such as "203.0.113.0/24", got "${range}"`,
  })),
  {
    name: "NullIfExists is not an operator",
    document: doc({ ...ok, Condition: { NullIfExists: { [TENANT]: "true" } } }),
    message: "Null takes no IfExists suffix",
  },
  {
    name: "condition block not an object",
    document: doc({ ...ok, Condition: { StringEquals: ["a"] } }),
    message: 'operator "StringEquals" must map condition keys to values',
  },
  {
    name: "empty condition block",
    document: doc({ ...ok, Condition: { StringEquals: {} } }),
    message: "has no condition keys",
  },
  {
    name: "condition key without prefix",
    document: doc({ ...ok, Condition: { StringEquals: { tenant: "a" } } }),
    message: 'condition key "tenant" is not valid',
  },
  {
    name: "numeric value for StringEquals",
    document: doc({ ...ok, Condition: { StringEquals: { [TENANT]: 5 } } }),
    message: "condition values must be strings, got number",
  },
  {
    name: "object value",
    document: doc({ ...ok, Condition: { StringEquals: { [TENANT]: { a: 1 } } } }),
    message: "condition values must be strings, got object",
  },
  {
    name: "empty value list",
    document: doc({ ...ok, Condition: { StringEquals: { [TENANT]: [] } } }),
    message: "empty list of values",
  },
  {
    name: "Bool with a non-boolean",
    document: doc({ ...ok, Condition: { Bool: { "aws:SecureTransport": "yes" } } }),
    message: 'Bool expects "true" or "false", got "yes"',
  },
  {
    name: "Null with a non-boolean",
    document: doc({ ...ok, Condition: { Null: { [TENANT]: "maybe" } } }),
    message: 'Null expects "true" or "false"',
  },
  {
    name: "Numeric with a non-number",
    document: doc({ ...ok, Condition: { NumericLessThan: { "kms:RotationPeriodInDays": "ten" } } }),
    message: 'expects a number, got "ten"',
  },
  {
    name: "Date with a non-date",
    document: doc({ ...ok, Condition: { DateLessThan: { "aws:CurrentTime": "tomorrow" } } }),
    message: 'expects a date, got "tomorrow"',
  },
  {
    name: "policy variable in 2012-10-17",
    document: doc({ ...ok, Condition: { StringEquals: { [TENANT]: "$" + "{aws:username}" } } }),
    message: "policy variables",
  },
];

/** A lockout-check case: could `caller` still call PutKeyPolicy under the policy? */
export interface LockoutCase {
  readonly name: string;
  readonly statements: readonly Record<string, unknown>[];
  readonly caller: string;
  readonly account: string;
  readonly keyArn?: string;
  readonly expected: boolean;
}

export const LOCKOUT_CASES: readonly LockoutCase[] = [
  {
    name: "default policy keeps the account's principals",
    statements: [allowAccount],
    caller: ALICE,
    account: ACCOUNT,
    expected: true,
  },
  {
    name: "default policy locks out another account",
    statements: [allowAccount],
    caller: MALLORY,
    account: OTHER_ACCOUNT,
    expected: false,
  },
  {
    name: "policy for users only (no PutKeyPolicy) locks the caller out",
    statements: [{ ...allowAlice(), Action: ["kms:Encrypt", "kms:Decrypt"] }],
    caller: ALICE,
    account: ACCOUNT,
    expected: false,
  },
  {
    name: "admin role keeps PutKeyPolicy for its session",
    statements: [
      {
        Effect: "Allow",
        Principal: { AWS: ADMIN_ROLE },
        Action: ["kms:Put*", "kms:Describe*"],
        Resource: "*",
      },
    ],
    caller: ADMIN_SESSION,
    account: ACCOUNT,
    expected: true,
  },
  {
    name: "granting PutKeyPolicy to someone else locks the caller out",
    statements: [{ Effect: "Allow", Principal: { AWS: BOB }, Action: "kms:*", Resource: "*" }],
    caller: ALICE,
    account: ACCOUNT,
    expected: false,
  },
  {
    name: "explicit Deny of PutKeyPolicy locks out",
    statements: [allowAccount, { Effect: "Deny", Principal: "*", Action: "kms:PutKeyPolicy", Resource: "*" }],
    caller: ALICE,
    account: ACCOUNT,
    expected: false,
  },
  {
    name: "Resource naming the key keeps access when the ARN is given",
    statements: [{ ...allowAccount, Resource: KEY_ARN }],
    caller: ALICE,
    account: ACCOUNT,
    keyArn: KEY_ARN,
    expected: true,
  },
  {
    name: "Resource naming another key locks out",
    statements: [{ ...allowAccount, Resource: OTHER_KEY_ARN }],
    caller: ALICE,
    account: ACCOUNT,
    keyArn: KEY_ARN,
    expected: false,
  },
  {
    name: "without a key ARN, Resource elements are assumed to match",
    statements: [{ ...allowAccount, Resource: KEY_ARN }],
    caller: ALICE,
    account: ACCOUNT,
    expected: true,
  },
  {
    name: "CallerAccount condition on the caller's account keeps access",
    statements: [
      { ...allowAccount, Principal: "*", Condition: { StringEquals: { "kms:CallerAccount": ACCOUNT } } },
    ],
    caller: ALICE,
    account: ACCOUNT,
    expected: true,
  },
  {
    name: "a condition the later request cannot meet locks out",
    statements: [
      { ...allowAccount, Condition: { StringEquals: { "kms:ViaService": "s3.us-east-1.amazonaws.com" } } },
    ],
    caller: ALICE,
    account: ACCOUNT,
    expected: false,
  },
];
