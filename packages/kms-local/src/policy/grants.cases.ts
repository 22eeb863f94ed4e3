// The grant case tables (data, so docs/RELIABILITY.md can count them): grantAllows and RetireGrant rights.

import type { Grant, GrantRequest } from "./grants.js";
import {
  ACCOUNT,
  ADMIN_ROLE,
  ADMIN_SESSION,
  ALICE,
  BOB,
  KEY_ARN,
  MALLORY,
  OTHER_ACCOUNT,
  ROOT,
} from "./policy.cases.js";

export const BASE_GRANT: Grant = {
  GrantId: "0c237476b39f8bc44e45212e08498fbe3151305030726c0590dd8d3e9f3d6a60",
  KeyId: KEY_ARN,
  GranteePrincipal: ALICE,
  Operations: ["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"],
  IssuingAccount: ROOT,
  CreationDate: new Date("2026-11-29T07:00:00Z"),
};

/** One grantAllows case: grant fields over BASE_GRANT, a request (defaults: alice, Decrypt, no context). */
export interface GrantCase {
  readonly name: string;
  readonly grant?: Partial<Grant>;
  readonly request?: Partial<GrantRequest>;
  readonly expected: boolean;
}

const equals = (pairs: Record<string, string>) => ({ Constraints: { EncryptionContextEquals: pairs } });
const subset = (pairs: Record<string, string>) => ({ Constraints: { EncryptionContextSubset: pairs } });

export const GRANT_CASES: readonly GrantCase[] = [
  { name: "grantee and operation match, no constraints", expected: true },
  { name: "grantee mismatch", request: { grantee: BOB }, expected: false },
  { name: "grantee in another account", request: { grantee: MALLORY }, expected: false },
  { name: "operation not granted", request: { operation: "ReEncryptFrom" }, expected: false },
  { name: "operation names are case-sensitive", request: { operation: "decrypt" }, expected: false },
  {
    name: "GenerateDataKey does not imply GenerateDataKeyWithoutPlaintext",
    request: { operation: "GenerateDataKeyWithoutPlaintext" },
    expected: false,
  },
  {
    name: "role grantee matches its session",
    grant: { GranteePrincipal: ADMIN_ROLE },
    request: { grantee: ADMIN_SESSION },
    expected: true,
  },
  {
    // IAM role names are unique in an account whatever their path, and a session ARN carries the name only.
    name: "role grantee with a path matches its session",
    grant: { GranteePrincipal: `arn:aws:iam::${ACCOUNT}:role/service-role/KeyAdmin` },
    request: { grantee: ADMIN_SESSION },
    expected: true,
  },
  {
    name: "role grantee with a path does not match another role's session of the same account",
    grant: { GranteePrincipal: `arn:aws:iam::${ACCOUNT}:role/service-role/KeyAdmin` },
    request: { grantee: `arn:aws:sts::${ACCOUNT}:assumed-role/KeyAdmin2/s` },
    expected: false,
  },
  {
    name: "role grantee with a path does not match a same-named role's session in another account",
    grant: { GranteePrincipal: `arn:aws:iam::${ACCOUNT}:role/service-role/KeyAdmin` },
    request: { grantee: `arn:aws:sts::${OTHER_ACCOUNT}:assumed-role/KeyAdmin/s`, account: OTHER_ACCOUNT },
    expected: false,
  },
  {
    name: "account-root grantee matches a principal of that account",
    grant: { GranteePrincipal: ROOT },
    request: { grantee: BOB },
    expected: true,
  },
  {
    name: "account-root grantee does not match another account",
    grant: { GranteePrincipal: ROOT },
    request: { grantee: MALLORY },
    expected: false,
  },
  {
    name: "cross-account grantee",
    grant: { GranteePrincipal: MALLORY },
    request: { grantee: MALLORY, account: OTHER_ACCOUNT },
    expected: true,
  },

  {
    name: "Equals: exact context",
    grant: equals({ tenant: "acme" }),
    request: { context: { tenant: "acme" } },
    expected: true,
  },
  {
    name: "Equals: superset context",
    grant: equals({ tenant: "acme" }),
    request: { context: { tenant: "acme", stage: "prod" } },
    expected: false,
  },
  {
    name: "Equals: subset context",
    grant: equals({ tenant: "acme", stage: "prod" }),
    request: { context: { tenant: "acme" } },
    expected: false,
  },
  {
    name: "Equals: different value",
    grant: equals({ tenant: "acme" }),
    request: { context: { tenant: "globex" } },
    expected: false,
  },
  {
    name: "Equals: value case differs",
    grant: equals({ tenant: "acme" }),
    request: { context: { tenant: "ACME" } },
    expected: false,
  },
  {
    name: "Equals: key case differs (keys are case-insensitive)",
    grant: equals({ tenant: "acme" }),
    request: { context: { Tenant: "acme" } },
    expected: true,
  },
  {
    name: "Equals: no context",
    grant: equals({ tenant: "acme" }),
    request: { context: {} },
    expected: false,
  },
  { name: "Equals: context absent", grant: equals({ tenant: "acme" }), expected: false },
  {
    name: "Equals: pair order does not matter",
    grant: equals({ a: "1", b: "2" }),
    request: { context: { b: "2", a: "1" } },
    expected: true,
  },
  {
    name: "Equals: empty map is no constraint",
    grant: equals({}),
    request: { context: { x: "1" } },
    expected: true,
  },
  {
    name: "Equals: keys differing only by case never match",
    grant: equals({ tenant: "acme" }),
    request: { context: { tenant: "acme", TENANT: "acme" } },
    expected: false,
  },

  {
    name: "Subset: exact context",
    grant: subset({ tenant: "acme" }),
    request: { context: { tenant: "acme" } },
    expected: true,
  },
  {
    name: "Subset: superset context",
    grant: subset({ tenant: "acme" }),
    request: { context: { tenant: "acme", stage: "prod" } },
    expected: true,
  },
  {
    name: "Subset: subset context",
    grant: subset({ tenant: "acme", stage: "prod" }),
    request: { context: { tenant: "acme" } },
    expected: false,
  },
  {
    name: "Subset: different value",
    grant: subset({ tenant: "acme" }),
    request: { context: { tenant: "globex", stage: "prod" } },
    expected: false,
  },
  {
    name: "Subset: value case differs",
    grant: subset({ tenant: "acme" }),
    request: { context: { tenant: "Acme" } },
    expected: false,
  },
  {
    name: "Subset: key case differs",
    grant: subset({ tenant: "acme" }),
    request: { context: { TENANT: "acme", x: "y" } },
    expected: true,
  },
  {
    name: "Subset: no context",
    grant: subset({ tenant: "acme" }),
    request: { context: {} },
    expected: false,
  },

  {
    name: "constraints do not apply to DescribeKey",
    grant: equals({ tenant: "acme" }),
    request: { operation: "DescribeKey" },
    expected: true,
  },
  {
    name: "constraints do not apply to RetireGrant",
    grant: { ...equals({ tenant: "acme" }), Operations: ["Decrypt", "RetireGrant"] },
    request: { operation: "RetireGrant" },
    expected: true,
  },
  {
    name: "constraints apply to Encrypt",
    grant: subset({ tenant: "acme" }),
    request: { operation: "Encrypt", context: { tenant: "x" } },
    expected: false,
  },
  {
    name: "constraints apply to ReEncryptFrom",
    grant: { ...subset({ tenant: "acme" }), Operations: ["ReEncryptFrom"] },
    request: { operation: "ReEncryptFrom", context: { tenant: "acme" } },
    expected: true,
  },
];

/** Who may retire a grant. */
export interface RetireCase {
  readonly name: string;
  readonly grant?: Partial<Grant>;
  readonly principal: string;
  readonly account?: string;
  readonly expected: boolean;
}

export const RETIRE_CASES: readonly RetireCase[] = [
  {
    name: "retiring principal may retire",
    grant: { RetiringPrincipal: BOB, IssuingAccount: `arn:aws:iam::${OTHER_ACCOUNT}:root` },
    principal: BOB,
    expected: true,
  },
  {
    name: "grantee without RetireGrant may not retire",
    grant: { GranteePrincipal: MALLORY, IssuingAccount: ROOT },
    principal: MALLORY,
    expected: false,
  },
  {
    name: "grantee with RetireGrant may retire",
    grant: { GranteePrincipal: MALLORY, Operations: ["Decrypt", "RetireGrant"] },
    principal: MALLORY,
    expected: true,
  },
  { name: "a principal of the issuing account may retire", principal: BOB, account: ACCOUNT, expected: true },
  { name: "an unrelated principal of another account may not", principal: MALLORY, expected: false },
  {
    name: "retiring principal role matches its session",
    grant: { RetiringPrincipal: ADMIN_ROLE, IssuingAccount: `arn:aws:iam::${OTHER_ACCOUNT}:root` },
    principal: ADMIN_SESSION,
    expected: true,
  },
];
