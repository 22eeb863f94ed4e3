import { describe, expect, it } from "vitest";
import { KmsError } from "../errors.js";
import { BASE_GRANT, GRANT_CASES, RETIRE_CASES } from "./grants.cases.js";
import {
  canRetireGrant,
  constraintsAtLeastAsStrict,
  decodeGrantToken,
  decodeGrantTokens,
  encodeGrantToken,
  type Grant,
  grantAllows,
  grantAllowsCreateGrant,
  newGrantId,
  validateGrantConstraints,
  validateGrantName,
  validateGrantOperations,
  validateGrantPrincipal,
} from "./index.js";
import { ALICE, BOB } from "./policy.cases.js";

function thrown(fn: () => unknown): KmsError {
  try {
    fn();
  } catch (e) {
    if (KmsError.isInstance(e)) return e;
    throw e;
  }
  throw new Error("expected a KmsError");
}

describe("grantAllows: case table", () => {
  it.each(GRANT_CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const grant: Grant = { ...BASE_GRANT, ...c.grant };
    expect(grantAllows(grant, { grantee: ALICE, operation: "Decrypt", ...c.request })).toBe(c.expected);
  });
});

describe("canRetireGrant: case table", () => {
  it.each(RETIRE_CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(canRetireGrant({ ...BASE_GRANT, ...c.grant }, c.principal, c.account)).toBe(c.expected);
  });
});

describe("CreateGrant through a grant", () => {
  const parent: Grant = {
    ...BASE_GRANT,
    Operations: ["Decrypt", "Encrypt", "CreateGrant"],
    Constraints: { EncryptionContextSubset: { tenant: "acme" } },
  };

  it("allows a narrower grant with constraints at least as strict", () => {
    expect(
      grantAllowsCreateGrant(parent, {
        grantee: ALICE,
        operations: ["Decrypt"],
        constraints: { EncryptionContextSubset: { tenant: "acme", stage: "prod" } },
      }),
    ).toBe(true);
    expect(
      grantAllowsCreateGrant(parent, {
        grantee: ALICE,
        operations: ["Decrypt"],
        constraints: { EncryptionContextEquals: { TENANT: "acme" } },
      }),
    ).toBe(true);
  });

  it("refuses wider operations, weaker constraints, or another grantee", () => {
    const strict = { EncryptionContextSubset: { tenant: "acme" } };
    expect(
      grantAllowsCreateGrant(parent, {
        grantee: ALICE,
        operations: ["GenerateDataKey"],
        constraints: strict,
      }),
    ).toBe(false);
    expect(grantAllowsCreateGrant(parent, { grantee: ALICE, operations: ["Decrypt"] })).toBe(false);
    expect(
      grantAllowsCreateGrant(parent, {
        grantee: ALICE,
        operations: ["Decrypt"],
        constraints: { EncryptionContextSubset: { tenant: "x" } },
      }),
    ).toBe(false);
    expect(
      grantAllowsCreateGrant(parent, { grantee: BOB, operations: ["Decrypt"], constraints: strict }),
    ).toBe(false);
    expect(grantAllowsCreateGrant(BASE_GRANT, { grantee: ALICE, operations: ["Decrypt"] })).toBe(false);
  });

  it("compares constraint strictness", () => {
    const eq = { EncryptionContextEquals: { a: "1" } };
    expect(constraintsAtLeastAsStrict(undefined, undefined)).toBe(true);
    expect(constraintsAtLeastAsStrict(eq, eq)).toBe(true);
    expect(constraintsAtLeastAsStrict(eq, { EncryptionContextEquals: { a: "1", b: "2" } })).toBe(false);
    expect(constraintsAtLeastAsStrict(eq, { EncryptionContextSubset: { a: "1" } })).toBe(false);
    expect(constraintsAtLeastAsStrict({ EncryptionContextSubset: { a: "1" } }, eq)).toBe(true);
  });
});

describe("CreateGrant validation", () => {
  it("accepts AWS grant operations for a symmetric key", () => {
    expect(validateGrantOperations(["Decrypt", "GenerateDataKey", "RetireGrant"])).toEqual([
      "Decrypt",
      "GenerateDataKey",
      "RetireGrant",
    ]);
    expect(validateGrantOperations(["Sign"], "SIGN_VERIFY")).toEqual(["Sign"]);
  });

  it.each([
    ["a missing list", undefined, "Member must not be null or empty"],
    ["an empty list", [], "Member must not be null or empty"],
    [
      "an unknown operation",
      ["Decrypt", "Destroy"],
      "Value '[Destroy]' at 'operations' failed to satisfy constraint",
    ],
    ["a wrongly cased operation", ["decrypt"], "Value '[decrypt]'"],
    ["a non-string operation", [7], "Value '[7]'"],
    ["GenerateRandom (not a grant operation)", ["GenerateRandom"], "Value '[GenerateRandom]'"],
    [
      "an operation a symmetric key lacks",
      ["Decrypt", "Sign"],
      "[Sign] are not valid for a key with KeyUsage ENCRYPT_DECRYPT",
    ],
  ])("refuses %s with ValidationException", (_name, operations, message) => {
    const e = thrown(() => validateGrantOperations(operations));
    expect(e.awsName).toBe("ValidationException");
    expect(e.message).toContain(message);
  });

  it("normalises constraints", () => {
    expect(validateGrantConstraints(undefined, ["Decrypt"])).toBeUndefined();
    expect(validateGrantConstraints({ EncryptionContextEquals: {} }, ["Decrypt"])).toBeUndefined();
    expect(
      validateGrantConstraints({ EncryptionContextSubset: { a: "1" } }, [
        "Decrypt",
        "DescribeKey",
        "RetireGrant",
        "CreateGrant",
      ]),
    ).toEqual({
      EncryptionContextSubset: { a: "1" },
    });
  });

  it.each([
    ["not an object", "tenant=acme", "Constraints must be an object"],
    ["an unknown field", { EncryptionContextEqual: { a: "1" } }, 'unknown field "EncryptionContextEqual"'],
    ["a non-string value", { EncryptionContextEquals: { a: 1 } }, 'value of "a" must be a string'],
    ["a list instead of a map", { EncryptionContextSubset: ["a"] }, "must be a map of strings to strings"],
    ["both kinds", { EncryptionContextEquals: { a: "1" }, EncryptionContextSubset: { b: "2" } }, "not both"],
    [
      "nine pairs",
      { EncryptionContextSubset: Object.fromEntries([..."abcdefghi"].map((k) => [k, "v"])) },
      "at most 8",
    ],
    ["a 385-character value", { EncryptionContextSubset: { a: "x".repeat(385) } }, "longer than 384"],
    ["keys differing only by case", { EncryptionContextSubset: { a: "1", A: "2" } }, "differ only by case"],
  ])("refuses constraints with %s", (_name, constraints, message) => {
    const e = thrown(() => validateGrantConstraints(constraints, ["Decrypt"]));
    expect(e.awsName).toBe("ValidationException");
    expect(e.message).toContain(message);
  });

  it("refuses constraints on operations without an encryption context", () => {
    const e = thrown(() =>
      validateGrantConstraints({ EncryptionContextSubset: { a: "1" } }, ["Decrypt", "Sign", "GetPublicKey"]),
    );
    expect(e.awsName).toBe("ValidationException");
    expect(e.message).toContain("[Sign, GetPublicKey]");
  });

  it("validates principals", () => {
    expect(validateGrantPrincipal(ALICE)).toBe(ALICE);
    expect(validateGrantPrincipal("arn:aws:sts::111122223333:assumed-role/R/s")).toContain("assumed-role");
    expect(validateGrantPrincipal("ec2.amazonaws.com")).toBe("ec2.amazonaws.com");
    expect(thrown(() => validateGrantPrincipal("alice")).awsName).toBe("InvalidArnException");
    expect(thrown(() => validateGrantPrincipal("arn:aws:kms:us-east-1:111122223333:key/x")).awsName).toBe(
      "InvalidArnException",
    );
    expect(thrown(() => validateGrantPrincipal("not a principal")).awsName).toBe("ValidationException");
    expect(thrown(() => validateGrantPrincipal("")).awsName).toBe("ValidationException");
    expect(thrown(() => validateGrantPrincipal(`${ALICE}${"x".repeat(256)}`)).awsName).toBe(
      "ValidationException",
    );
    expect(thrown(() => validateGrantPrincipal(5, "RetiringPrincipal")).message).toContain(
      "RetiringPrincipal",
    );
  });

  it("words principal and name failures as AWS's model does, one violation per constraint", () => {
    const long = `${ALICE}${"x".repeat(256)}`;
    expect(thrown(() => validateGrantPrincipal(long)).message).toBe(
      `1 validation error detected: Value '${long}' at 'granteePrincipal' failed to satisfy constraint: Member must have length less than or equal to 256`,
    );
    expect(thrown(() => validateGrantPrincipal("not a principal", "RetiringPrincipal")).message).toBe(
      "1 validation error detected: Value 'not a principal' at 'retiringPrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$",
    );
    expect(thrown(() => validateGrantPrincipal(undefined)).message).toBe(
      "1 validation error detected: Value null at 'granteePrincipal' failed to satisfy constraint: Member must not be null",
    );
    const spaced = `a b${"x".repeat(256)}`;
    expect(thrown(() => validateGrantName(spaced)).message).toBe(
      `2 validation errors detected: Value '${spaced}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 256; ` +
        `Value '${spaced}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$`,
    );
    for (const bad of ["", "has space", "x".repeat(257), long]) {
      const message = [
        thrown(() => validateGrantName(bad)).message,
        thrown(() => validateGrantPrincipal(bad)).message,
      ].join("\n");
      expect(message).not.toContain("between");
    }
  });

  it("validates grant names", () => {
    expect(validateGrantName("app/db:reader_1-x")).toBe("app/db:reader_1-x");
    for (const bad of ["", "has space", "x".repeat(257), 3]) {
      expect(thrown(() => validateGrantName(bad)).awsName).toBe("ValidationException");
    }
  });
});

describe("grant tokens", () => {
  it("round-trip the grant id and are base64url", () => {
    const id = newGrantId();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const token = encodeGrantToken(id);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeGrantToken(token)).toBe(id);
    expect(decodeGrantTokens([token, encodeGrantToken("abc")])).toEqual([id, "abc"]);
    expect(decodeGrantTokens(undefined)).toEqual([]);
  });

  it("are new with each encoding, and tokens of the first format still decode", () => {
    const id = newGrantId();
    const a = encodeGrantToken(id);
    const b = encodeGrantToken(id);
    expect(a).not.toBe(b);
    expect([decodeGrantToken(a), decodeGrantToken(b)]).toEqual([id, id]);
    const v1 = Buffer.concat([Buffer.from("skgt\u0001", "latin1"), Buffer.from(id)]).toString("base64url");
    expect(decodeGrantToken(v1)).toBe(id);
    const shortNonce = Buffer.from("skgt\u0002" + "n".repeat(12), "latin1").toString("base64url");
    expect(thrown(() => decodeGrantToken(shortNonce)).awsName).toBe("InvalidGrantTokenException");
  });

  it.each([
    ["empty", ""],
    ["not base64url", "abc+/="],
    ["a bare grant id", "0c237476b39f8bc44e45212e08498fbe"],
    ["wrong magic", Buffer.from("xxxx\u0001abc").toString("base64url")],
    ["wrong version", Buffer.from("skgt\u0002abc").toString("base64url")],
    ["no grant id", Buffer.from("skgt\u0001").toString("base64url")],
    ["a bad grant id", Buffer.from("skgt\u0001a b").toString("base64url")],
    ["too long", "A".repeat(8193)],
    ["non-canonical trailing bits", `${encodeGrantToken("abc").slice(0, -1)}B`],
    ["not a string", 7],
  ])("refuses a token that is %s with InvalidGrantTokenException", (_name, token) => {
    expect(thrown(() => decodeGrantToken(token as string)).awsName).toBe("InvalidGrantTokenException");
  });

  it("refuses more than 10 tokens with ValidationException", () => {
    const tokens = Array.from({ length: 11 }, () => encodeGrantToken("abc"));
    expect(thrown(() => decodeGrantTokens(tokens)).awsName).toBe("ValidationException");
  });

  it("checks the grant id when encoding", () => {
    expect(() => encodeGrantToken("has space")).toThrow(TypeError);
  });
});
