import { describe, expect, it } from "vitest";
import { KmsError } from "../errors.js";
import {
  checkLockout,
  conditionKeysFor,
  defaultKeyPolicy,
  evaluatePolicy,
  operationToAction,
  type PolicyRequest,
  parsePolicy,
} from "./index.js";
import {
  ACCOUNT,
  ALICE,
  BOB,
  EVALUATION_CASES,
  KEY_ARN,
  LOCKOUT_CASES,
  MALFORMED_CASES,
  MALLORY,
  OTHER_ACCOUNT,
} from "./policy.cases.js";

const baseRequest: PolicyRequest = {
  principal: ALICE,
  account: ACCOUNT,
  action: "kms:Decrypt",
  resource: KEY_ARN,
};

const toJson = (statements: readonly unknown[]) =>
  JSON.stringify({ Version: "2012-10-17", Statement: statements });

describe("evaluatePolicy: case table", () => {
  it.each(EVALUATION_CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const policy = parsePolicy(toJson(c.statements));
    expect(evaluatePolicy(policy, { ...baseRequest, ...c.request })).toBe(c.expected);
  });

  it("covers every operator named in issue 4 with an allow and a deny outcome", () => {
    const ops = [
      "StringEquals",
      "StringNotEquals",
      "StringEqualsIgnoreCase",
      "StringNotEqualsIgnoreCase",
      "StringLike",
      "StringNotLike",
      "Bool",
      "Null",
      "ForAnyValue:",
      "ForAllValues:",
      "IfExists",
      "ArnLike",
      "IpAddress",
      "NotIpAddress",
    ];
    for (const op of ops) {
      const cases = EVALUATION_CASES.filter((c) => c.name.includes(op));
      const outcomes = new Set(cases.map((c) => c.expected));
      expect(outcomes.has("allow"), `${op} has an allow case`).toBe(true);
      expect(outcomes.has("deny") || outcomes.has("implicit-deny"), `${op} has a refusing case`).toBe(true);
    }
    for (const key of [
      "kms:EncryptionContext:",
      "kms:EncryptionContextKeys",
      "kms:CallerAccount",
      "kms:ViaService",
    ]) {
      const cases = EVALUATION_CASES.filter(
        (c) => JSON.stringify(c.statements).includes(key) || c.name.includes(key),
      );
      expect(new Set(cases.map((c) => c.expected)).size, key).toBeGreaterThanOrEqual(2);
    }
  });
});

describe("parsePolicy", () => {
  it("limits a document to 32,768 UTF-8 bytes (the key policy size quota), LimitExceededException beyond", () => {
    const base = JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Sid: "S", Effect: "Allow", Principal: { AWS: ALICE }, Action: "kms:Decrypt", Resource: "*" },
      ],
    });
    const padded = (n: number) => base.replace("{", `{${" ".repeat(n - base.length)}`);
    expect(parsePolicy(padded(32768)).json.length).toBe(32768);
    const over = (json: string) => {
      try {
        parsePolicy(json);
      } catch (e) {
        expect(KmsError.isInstance(e, "LimitExceededException"), String(e)).toBe(true);
        return (e as Error).message;
      }
      throw new Error("expected LimitExceededException");
    };
    expect(over(padded(32769))).toContain("32769 bytes");
    // U+00E9 is one character and two UTF-8 bytes: 18,000 of them are 36,000 bytes.
    const latin1 = base.replace('"S"', `"${"é".repeat(18000)}"`);
    expect(latin1.length).toBeLessThan(32768);
    expect(over(latin1)).toMatch(/is \d+ bytes long/);
    // Just under the quota in bytes although fewer characters: accepted.
    const fits = base.replace('"S"', `"${"é".repeat((32768 - base.length) / 2 - 1)}"`);
    expect(parsePolicy(fits).statements[0]!.sid).toMatch(/^é+$/);
  });

  it.each(MALFORMED_CASES.map((c) => [c.name, c] as const))("rejects %s", (_name, c) => {
    const json = typeof c.document === "string" ? c.document : JSON.stringify(c.document);
    let error: unknown;
    try {
      parsePolicy(json);
    } catch (e) {
      error = e;
    }
    expect(KmsError.isInstance(error, "MalformedPolicyDocumentException")).toBe(true);
    expect((error as KmsError).awsName).toBe("MalformedPolicyDocumentException");
    expect((error as Error).message).toContain(c.message);
  });

  it("throws TypeError for a non-string", () => {
    expect(() => parsePolicy(42 as unknown as string)).toThrow(TypeError);
  });

  it("accepts a single statement object, a missing Version, and keeps the text", () => {
    const json = JSON.stringify({
      Statement: { Effect: "Allow", Principal: "*", Action: "kms:*", Resource: "*" },
    });
    const policy = parsePolicy(json);
    expect(policy.version).toBe("2008-10-17");
    expect(policy.statements).toHaveLength(1);
    expect(policy.statements[0]).toMatchObject({
      effect: "Allow",
      principal: "*",
      action: ["kms:*"],
      resource: ["*"],
    });
    expect(policy.json).toBe(json);
  });

  it("accepts policy variables literally in 2008-10-17", () => {
    const json = JSON.stringify({
      Version: "2008-10-17",
      Statement: {
        Effect: "Allow",
        Principal: "*",
        Action: "kms:*",
        Resource: "*",
        Condition: { StringEquals: { "kms:EncryptionContext:u": "$" + "{x}" } },
      },
    });
    expect(
      evaluatePolicy(json, { ...baseRequest, conditions: { "kms:EncryptionContext:u": "$" + "{x}" } }),
    ).toBe("allow");
  });

  it("normalises statements and freezes the result", () => {
    const policy = parsePolicy(
      toJson([
        {
          Sid: "S",
          Effect: "Deny",
          NotPrincipal: { AWS: [ALICE], Service: "s3.amazonaws.com" },
          NotAction: "kms:Decrypt",
          NotResource: KEY_ARN,
          Condition: { Bool: { "aws:SecureTransport": false } },
        },
      ]),
    );
    expect(policy.statements[0]).toEqual({
      sid: "S",
      effect: "Deny",
      notPrincipal: { AWS: [ALICE], Service: ["s3.amazonaws.com"] },
      notAction: ["kms:Decrypt"],
      notResource: [KEY_ARN],
      condition: { Bool: { "aws:SecureTransport": ["false"] } },
    });
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.statements[0])).toBe(true);
  });

  it("caches by JSON text", () => {
    const json = defaultKeyPolicy(ACCOUNT);
    expect(parsePolicy(json)).toBe(parsePolicy(json));
  });

  it("evaluatePolicy refuses an object that did not come from parsePolicy", () => {
    expect(() => evaluatePolicy({ version: "2012-10-17", statements: [], json: "" }, baseRequest)).toThrow(
      TypeError,
    );
  });

  it("evaluatePolicy checks the request at the boundary", () => {
    const policy = parsePolicy(defaultKeyPolicy(ACCOUNT));
    expect(() => evaluatePolicy(policy, { ...baseRequest, action: undefined as unknown as string })).toThrow(
      '"request.action" expected a string',
    );
  });

  it("a wildcard is not a regular expression (no ReDoS-prone pattern leaks through)", () => {
    const policy = parsePolicy(
      toJson([
        {
          Effect: "Allow",
          Principal: "*",
          Action: "kms:*",
          Resource: "*",
          Condition: { StringLike: { "kms:EncryptionContext:k": "(a+)+$*" } },
        },
      ]),
    );
    expect(
      evaluatePolicy(policy, { ...baseRequest, conditions: { "kms:EncryptionContext:k": "(a+)+$xyz" } }),
    ).toBe("allow");
    expect(
      evaluatePolicy(policy, { ...baseRequest, conditions: { "kms:EncryptionContext:k": "aaaa" } }),
    ).toBe("implicit-deny");
  });
  it("a condition pattern with many stars stays fast on a long caller-chosen value", () => {
    const policy = parsePolicy(
      toJson([
        {
          Effect: "Allow",
          Principal: "*",
          Action: "kms:*",
          Resource: "*",
          Condition: {
            StringLike: { "kms:EncryptionContext:k": "*a*a*a*a*a*a*b" },
            ArnLike: { "aws:PrincipalArn": "arn:*:*:*:*:*a*a*a*a*a*b" },
          },
        },
      ]),
    );
    const long = "a".repeat(8192);
    const start = performance.now();
    const decision = evaluatePolicy(policy, {
      ...baseRequest,
      conditions: { "kms:EncryptionContext:k": long, "aws:PrincipalArn": `arn:aws:iam::1:${long}` },
    });
    expect(decision).toBe("implicit-deny");
    expect(performance.now() - start).toBeLessThan(100);
  });
});

describe("defaultKeyPolicy", () => {
  it("is AWS's default: the account root may do everything", () => {
    const json = defaultKeyPolicy(ACCOUNT);
    expect(JSON.parse(json)).toEqual({
      Version: "2012-10-17",
      Id: "key-default-1",
      Statement: [
        {
          Sid: "Enable IAM User Permissions",
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
          Action: "kms:*",
          Resource: "*",
        },
      ],
    });
    for (const action of ["kms:Decrypt", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"]) {
      expect(evaluatePolicy(json, { ...baseRequest, principal: BOB, action })).toBe("allow");
    }
    expect(evaluatePolicy(json, { ...baseRequest, principal: MALLORY, account: OTHER_ACCOUNT })).toBe(
      "implicit-deny",
    );
    expect(checkLockout(json, ALICE, ACCOUNT)).toBe(true);
  });

  it("takes a partition and checks its arguments", () => {
    expect(defaultKeyPolicy(ACCOUNT, "aws-cn")).toContain(`arn:aws-cn:iam::${ACCOUNT}:root`);
    expect(() => defaultKeyPolicy("1234")).toThrow(TypeError);
    expect(() => defaultKeyPolicy(ACCOUNT, "aws cn")).toThrow(TypeError);
  });
});

describe("checkLockout: case table", () => {
  it.each(LOCKOUT_CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const options = c.keyArn ? { keyArn: c.keyArn } : {};
    expect(checkLockout(parsePolicy(toJson(c.statements)), c.caller, c.account, options)).toBe(c.expected);
  });
});

describe("operations and condition keys", () => {
  it("maps operations to actions", () => {
    expect(operationToAction("Decrypt")).toBe("kms:Decrypt");
    expect(operationToAction("GenerateDataKeyWithoutPlaintext")).toBe("kms:GenerateDataKeyWithoutPlaintext");
    expect(() => operationToAction("kms:Decrypt")).toThrow(TypeError);
    expect(() => operationToAction("")).toThrow(TypeError);
  });

  it("builds the condition keys AWS KMS sets", () => {
    const keys = conditionKeysFor({
      principal: `arn:aws:sts::${ACCOUNT}:assumed-role/App/i-123`,
      account: ACCOUNT,
      context: { tenant: "acme", stage: "prod" },
      viaService: "s3.us-east-1.amazonaws.com",
    });
    expect(keys).toEqual({
      "kms:CallerAccount": ACCOUNT,
      "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT}:role/App`,
      "aws:PrincipalAccount": ACCOUNT,
      "aws:PrincipalType": "AssumedRole",
      "aws:PrincipalIsAWSService": false,
      "aws:ViaAWSService": true,
      "kms:EncryptionContext:tenant": "acme",
      "kms:EncryptionContext:stage": "prod",
      "kms:EncryptionContextKeys": ["tenant", "stage"],
      "kms:ViaService": "s3.us-east-1.amazonaws.com",
    });
    expect(conditionKeysFor({ principal: ALICE, account: ACCOUNT, context: {} })).not.toHaveProperty(
      "kms:EncryptionContextKeys",
    );
  });

  it("end to end: a tenant-scoped policy with condition keys from conditionKeysFor", () => {
    const policy = parsePolicy(
      toJson([
        {
          Sid: "Admins",
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
          Action: "kms:*",
          Resource: "*",
        },
        {
          Sid: "OnlyTenantAcmeForAlice",
          Effect: "Deny",
          Principal: { AWS: ALICE },
          Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
          Resource: "*",
          Condition: { StringNotEquals: { "kms:EncryptionContext:tenant": "acme" } },
        },
      ]),
    );
    const request = (context: Record<string, string>, action = "kms:Decrypt") => ({
      ...baseRequest,
      action,
      conditions: conditionKeysFor({ principal: ALICE, account: ACCOUNT, context }),
    });
    expect(evaluatePolicy(policy, request({ tenant: "acme" }))).toBe("allow");
    expect(evaluatePolicy(policy, request({ tenant: "globex" }))).toBe("deny");
    expect(evaluatePolicy(policy, request({}))).toBe("deny");
    expect(evaluatePolicy(policy, request({ tenant: "globex" }, "kms:GenerateDataKeyWithoutPlaintext"))).toBe(
      "deny",
    );
    expect(evaluatePolicy(policy, request({ tenant: "globex" }, "kms:Encrypt"))).toBe("allow");
    // A second pair differing only by case cannot slip past the Deny: one of the values is not "acme".
    expect(evaluatePolicy(policy, request({ tenant: "acme", TENANT: "globex" }))).toBe("deny");
  });
});
