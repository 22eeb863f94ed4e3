// The credentials file: what it accepts, and refusals that name the entry and field but never print a secret.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCredentialsFile, parseCredentials, principalAccount } from "./credentials.js";

const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const ENTRY = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: SECRET,
  principal: "arn:aws:iam::111122223333:user/alice",
};

function refusal(document: unknown): string {
  try {
    parseCredentials(document);
  } catch (e) {
    expect(e).toBeInstanceOf(TypeError);
    const message = (e as Error).message;
    expect(message).not.toContain(SECRET);
    return message;
  }
  throw new Error("expected a refusal");
}

describe("parseCredentials", () => {
  it("indexes entries by access key id with the principal's account", () => {
    const map = parseCredentials({
      credentials: [
        ENTRY,
        {
          ...ENTRY,
          accessKeyId: "AKIAROLE000000000002",
          principal: "arn:aws:iam::444455556666:role/ops/Admin",
        },
      ],
    });
    expect(map.get(ENTRY.accessKeyId)).toEqual({ ...ENTRY, account: "111122223333" });
    expect(map.get("AKIAROLE000000000002")?.account).toBe("444455556666");
  });

  it("accepts the principals IAM has: users and roles with paths, the root, assumed-role sessions, federated users", () => {
    for (const [principal, account] of [
      ["arn:aws:iam::111122223333:root", "111122223333"],
      ["arn:aws:iam::111122223333:user/division/team/alice", "111122223333"],
      ["arn:aws:iam::111122223333:role/KeyAdmin", "111122223333"],
      ["arn:aws:sts::111122223333:assumed-role/KeyAdmin/session-1", "111122223333"],
      ["arn:aws:sts::111122223333:federated-user/bob", "111122223333"],
      ["arn:aws-cn:iam::210987654321:user/x", "210987654321"],
    ] as const) {
      expect(principalAccount(principal)).toBe(account);
      expect(
        parseCredentials({ credentials: [{ ...ENTRY, principal }] }).get(ENTRY.accessKeyId)?.account,
      ).toBe(account);
    }
  });

  it("refuses ARNs with the wrong service for their kind, which key policies would then never match", () => {
    for (const principal of [
      // The policy code recognises a role's session only as sts; as iam it would match neither role nor session.
      "arn:aws:iam::111122223333:assumed-role/KeyAdmin/session-1",
      "arn:aws:sts::111122223333:assumed-role/KeyAdmin",
      "arn:aws:sts::111122223333:assumed-role/KeyAdmin/s/extra",
      "arn:aws:sts::111122223333:user/alice",
      "arn:aws:sts::111122223333:role/KeyAdmin",
      "arn:aws:sts::111122223333:root",
      "arn:aws:iam::111122223333:federated-user/bob",
      "arn:aws:iam::111122223333:user/",
      "arn:aws:iam::111122223333:user/al ice",
      "arn:aws:iam::11112222333:user/alice",
      "arn:aws:kms::111122223333:user/alice",
    ]) {
      expect(() => principalAccount(principal)).toThrow(TypeError);
      expect(refusal({ credentials: [{ ...ENTRY, principal }] })).toMatch(
        /^credentials\[0\]: "principal" expected/,
      );
    }
  });

  it("never prints a secret, even one pasted into the wrong field", () => {
    expect(refusal({ credentials: [{ ...ENTRY, principal: SECRET }] })).toMatch(/"principal" expected/);
    expect(refusal({ credentials: [{ ...ENTRY, accessKeyId: SECRET }] })).toMatch(/"accessKeyId" expected/);
    expect(refusal({ credentials: [{ ...ENTRY, secretAccessKey: 42 }] })).toBe(
      'credentials[0]: "secretAccessKey" expected a non-empty string',
    );
    expect(refusal({ credentials: [{ ...ENTRY, [SECRET]: "x" }] })).toMatch(/unknown field/);
  });

  it("refuses unknown fields; a session token must be a non-empty string and is never printed", () => {
    expect(refusal({ credentials: [{ ...ENTRY, secretAcessKey: "typo" }] })).toBe(
      'credentials[0]: unknown field "secretAcessKey" (expected accessKeyId, secretAccessKey, principal, sessionToken)',
    );
    for (const sessionToken of ["", 42, null, { token: SECRET }]) {
      expect(refusal({ credentials: [{ ...ENTRY, sessionToken }] })).toBe(
        'credentials[0]: "sessionToken" expected a non-empty string',
      );
    }
    const parsed = parseCredentials({ credentials: [{ ...ENTRY, sessionToken: "FwoGZXIvYXdzEXAMPLE" }] });
    expect(parsed.get(ENTRY.accessKeyId)?.sessionToken).toBe("FwoGZXIvYXdzEXAMPLE");
    expect(parseCredentials({ credentials: [ENTRY] }).get(ENTRY.accessKeyId)).not.toHaveProperty(
      "sessionToken",
    );
  });

  it("refuses entries that are not objects, missing or empty fields, bad access key ids and repeated ones", () => {
    expect(refusal({ credentials: [null] })).toMatch(/^credentials\[0\]: expected an object/);
    expect(refusal({ credentials: [[ENTRY]] })).toMatch(/^credentials\[0\]: expected an object/);
    expect(refusal({ credentials: ["AKIA"] })).toMatch(/^credentials\[0\]: expected an object/);
    expect(refusal({ credentials: [{ ...ENTRY, principal: "" }] })).toMatch(
      /"principal" expected a non-empty/,
    );
    const { secretAccessKey: _, ...noSecret } = ENTRY;
    expect(refusal({ credentials: [noSecret] })).toMatch(/"secretAccessKey" expected a non-empty string/);
    expect(refusal({ credentials: [{ ...ENTRY, accessKeyId: "akiaiosfodnn7example" }] })).toMatch(
      /16 to 128 upper-case/,
    );
    expect(refusal({ credentials: [ENTRY, { ...ENTRY, secretAccessKey: "other" }] })).toBe(
      `credentials[1]: access key id ${ENTRY.accessKeyId} appears twice`,
    );
    expect(refusal({ keys: [] })).toMatch(/expected \{ "credentials"/);
    expect(refusal(null)).toMatch(/expected \{ "credentials"/);
  });
});

describe("loadCredentialsFile", () => {
  it("reads a file, and refuses one that is not JSON without printing its text", () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-credentials-"));
    try {
      const good = join(dir, "good.json");
      writeFileSync(good, JSON.stringify({ credentials: [ENTRY] }));
      expect(loadCredentialsFile(good).get(ENTRY.accessKeyId)?.principal).toBe(ENTRY.principal);
      const bad = join(dir, "bad.json");
      writeFileSync(bad, `{ "credentials": [ { "secretAccessKey": "${SECRET}", } ] }`);
      expect(() => loadCredentialsFile(bad)).toThrow(`credentials file ${bad} is not valid JSON`);
      try {
        loadCredentialsFile(bad);
      } catch (e) {
        expect(String((e as Error).message)).not.toContain(SECRET);
        expect((e as Error).cause).toBeUndefined();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
