import { describe, expect, it } from "vitest";
import { KmsError } from "../errors.js";
import { evaluatePolicy, type Policy, parsePolicy } from "./index.js";
import { ACCOUNT, ADMIN_ROLE, ALICE, KEY_ARN, MALLORY, OTHER_ACCOUNT } from "./policy.cases.js";

/** A small deterministic PRNG so every run mutates the same way. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const SEED_POLICY = {
  Version: "2012-10-17",
  Id: "fuzz",
  Statement: [
    {
      Sid: "Root",
      Effect: "Allow",
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
      Action: "kms:*",
      Resource: "*",
    },
    {
      Sid: "Users",
      Effect: "Allow",
      Principal: { AWS: [ALICE, ADMIN_ROLE] },
      Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
      Resource: KEY_ARN,
      Condition: {
        StringEquals: { "kms:EncryptionContext:tenant": ["acme", "globex"] },
        "ForAllValues:StringLike": { "kms:EncryptionContextKeys": ["tenant", "app:*"] },
        BoolIfExists: { "kms:GrantIsForAWSResource": "true" },
        Null: { "kms:ViaService": "false" },
      },
    },
    {
      Sid: "Deny",
      Effect: "Deny",
      NotPrincipal: { AWS: ALICE, Service: "s3.amazonaws.com" },
      NotAction: "kms:Describe*",
      NotResource: `arn:aws:kms:*:${OTHER_ACCOUNT}:key/*`,
      Condition: {
        StringNotEqualsIfExists: { "kms:CallerAccount": ACCOUNT },
        ArnNotLike: { "aws:PrincipalArn": "arn:aws:iam::*:role/*" },
      },
    },
  ],
};

const ODD_VALUES: unknown[] = [
  null,
  0,
  -1,
  1.5,
  true,
  false,
  "",
  "*",
  "x",
  [],
  {},
  [null],
  { AWS: 1 },
  "kms:*",
  "$" + "{x}",
];

/** Replaces one random node of a JSON value, or deletes a random object key. */
function mutateTree(value: unknown, rand: () => number): unknown {
  if (Array.isArray(value)) {
    if (value.length === 0 || rand() < 0.2) return ODD_VALUES[Math.floor(rand() * ODD_VALUES.length)];
    const copy = [...value];
    const i = Math.floor(rand() * copy.length);
    copy[i] = mutateTree(copy[i], rand);
    return copy;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0 || rand() < 0.15) return ODD_VALUES[Math.floor(rand() * ODD_VALUES.length)];
    const i = Math.floor(rand() * entries.length);
    if (rand() < 0.2) entries.splice(i, 1);
    else entries[i] = [entries[i]![0], mutateTree(entries[i]![1], rand)];
    return Object.fromEntries(entries);
  }
  return ODD_VALUES[Math.floor(rand() * ODD_VALUES.length)];
}

/** Flips, deletes or inserts a few JSON-significant characters. */
function mutateText(text: string, rand: () => number): string {
  const chars = '{}[]":,\\ *?$a0\u00ff';
  let out = text;
  const edits = 1 + Math.floor(rand() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * out.length);
    const c = chars[Math.floor(rand() * chars.length)]!;
    const kind = rand();
    if (kind < 0.33) out = out.slice(0, at) + c + out.slice(at + 1);
    else if (kind < 0.66) out = out.slice(0, at) + out.slice(at + 1);
    else out = out.slice(0, at) + c + out.slice(at);
  }
  return out;
}

const REQUESTS = [
  {
    principal: ALICE,
    account: ACCOUNT,
    action: "kms:Decrypt",
    resource: KEY_ARN,
    conditions: { "kms:EncryptionContext:tenant": "acme" },
  },
  {
    principal: MALLORY,
    account: OTHER_ACCOUNT,
    action: "kms:PutKeyPolicy",
    resource: KEY_ARN,
    conditions: { "kms:ViaService": "s3.amazonaws.com" },
  },
  {
    principal: ADMIN_ROLE,
    account: ACCOUNT,
    action: "kms:DescribeKey",
    resource: KEY_ARN,
    conditions: { "kms:EncryptionContextKeys": [] },
  },
];

function check(text: string, outcome: { parsed: number; refused: number }): void {
  let policy: Policy;
  try {
    policy = parsePolicy(text);
  } catch (e) {
    // Anything that does not parse is refused with the one documented error, never a crash or another type.
    expect(KmsError.isInstance(e, "MalformedPolicyDocumentException"), `${text}\n${String(e)}`).toBe(true);
    outcome.refused++;
    return;
  }
  outcome.parsed++;
  for (const request of REQUESTS)
    expect(["allow", "deny", "implicit-deny"]).toContain(evaluatePolicy(policy, request));
}

describe("parsePolicy under mutation", () => {
  it("2,000 structural mutations either parse (and evaluate) or are MalformedPolicyDocumentException", () => {
    const rand = prng(11);
    const outcome = { parsed: 0, refused: 0 };
    for (let i = 0; i < 2000; i++) check(JSON.stringify(mutateTree(SEED_POLICY, rand)), outcome);
    expect(outcome.parsed).toBeGreaterThan(100);
    expect(outcome.refused).toBeGreaterThan(800);
  }, 60_000);

  it("2,000 text mutations either parse (and evaluate) or are MalformedPolicyDocumentException", () => {
    const rand = prng(12);
    const outcome = { parsed: 0, refused: 0 };
    const text = JSON.stringify(SEED_POLICY, null, 1);
    for (let i = 0; i < 2000; i++) check(mutateText(text, rand), outcome);
    expect(outcome.parsed).toBeGreaterThan(100);
    expect(outcome.refused).toBeGreaterThan(800);
  }, 60_000);
});
