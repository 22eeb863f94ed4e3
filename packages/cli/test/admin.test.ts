// Key lifecycle, aliases, policy, grants, audit and usage against a temporary local KMS data dir, via the built binary.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ok, run, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const dd = ["--data-dir", join(cwd, "kms")];
const json = async (args: string[]) => JSON.parse((await ok([...args, ...dd, "--json"], { cwd })).out);
afterAll(() => t.cleanup());

describe("key lifecycle against a local data dir", () => {
  it("create, alias, describe, list, rotate, disable, enable, schedule and cancel deletion", async () => {
    const created = await json([
      "keys",
      "create",
      "--description",
      "orders",
      "--alias",
      "alias/orders",
      "--rotation",
    ]);
    const keyId = created.KeyMetadata.KeyId as string;
    expect(created.KeyMetadata).toMatchObject({ KeyState: "Enabled", Description: "orders" });

    expect((await json(["keys", "describe", "alias/orders"])).KeyMetadata.KeyId).toBe(keyId);
    const listed = await json(["keys", "list"]);
    expect(listed.Keys.find((k: { KeyId: string }) => k.KeyId === keyId).Aliases).toEqual(["alias/orders"]);
    expect((await ok(["keys", "list", ...dd], { cwd })).out).toMatch(
      new RegExp(`${keyId}\\s+Enabled\\s+alias/orders\\s+orders`),
    );

    const rotatedStatus = await json(["keys", "rotations", "alias/orders"]);
    expect(rotatedStatus.KeyRotationEnabled).toBe(true);
    expect(rotatedStatus.Rotations).toEqual([]);
    await json(["keys", "rotate", "alias/orders"]);
    const after = await json(["keys", "rotations", keyId]);
    expect(after.Rotations).toHaveLength(1);
    expect(after.Rotations[0].RotationType).toBe("ON_DEMAND");
    const off = await json(["keys", "rotate", "alias/orders", "--automatic", "off"]);
    expect(off.KeyRotationEnabled).toBe(false);

    await ok(["keys", "disable", "alias/orders", ...dd], { cwd });
    expect((await json(["keys", "describe", keyId])).KeyMetadata.KeyState).toBe("Disabled");
    await ok(["keys", "enable", keyId, ...dd], { cwd });
    expect((await json(["keys", "describe", keyId])).KeyMetadata.KeyState).toBe("Enabled");

    const scheduled = await json(["keys", "schedule-deletion", "alias/orders", "--days", "7"]);
    expect(scheduled.KeyState).toBe("PendingDeletion");
    const denied = await run(["encrypt", "--key", "alias/orders", ...dd], { cwd, input: "x" });
    expect(denied.code).toBe(6);
    await json(["keys", "cancel-deletion", keyId]);
    expect((await json(["keys", "describe", keyId])).KeyMetadata.KeyState).toBe("Disabled");
    await ok(["keys", "enable", keyId, ...dd], { cwd });
    await ok(["encrypt", "--key", "alias/orders", ...dd, "-o", "o.slkt"], { cwd, input: "x" });
  });

  it("aliases create, list, delete", async () => {
    const { KeyMetadata } = await json(["keys", "create"]);
    await ok(["aliases", "create", "alias/second", KeyMetadata.KeyId, ...dd], { cwd });
    const list = await json(["aliases", "list"]);
    expect(list.Aliases.map((a: { AliasName: string }) => a.AliasName)).toContain("alias/second");
    await ok(["aliases", "delete", "alias/second", ...dd], { cwd });
    const again = await json(["aliases", "list"]);
    expect(again.Aliases.map((a: { AliasName: string }) => a.AliasName)).not.toContain("alias/second");
    expect((await run(["aliases", "delete", "alias/second", ...dd], { cwd })).code).toBe(5);
  });

  it("policy get and put decide who may use the key; grants add and revoke access", async () => {
    await json(["keys", "create", "--alias", "alias/shared"]);
    const bob = "arn:aws:iam::444455556666:user/bob";
    const asBob = ["--principal", bob, "--key", "alias/shared", ...dd];
    expect((await run(["encrypt", ...asBob], { cwd, input: "x" })).code).toBe(4);

    const policy = await json(["policy", "get", "alias/shared"]);
    expect(policy.Statement.length).toBeGreaterThan(0);
    policy.Statement.push({
      Sid: "bob-encrypts",
      Effect: "Allow",
      Principal: { AWS: bob },
      Action: ["kms:GenerateDataKey", "kms:Encrypt"],
      Resource: "*",
    });
    writeFileSync(join(cwd, "policy.json"), JSON.stringify(policy));
    await ok(["policy", "put", "alias/shared", "policy.json", ...dd], { cwd });
    expect(
      (await json(["policy", "get", "alias/shared"])).Statement.map((s: { Sid?: string }) => s.Sid),
    ).toContain("bob-encrypts");
    const sealed = await ok(["encrypt", ...asBob], { cwd, input: "for bob" });
    // Bob may encrypt but not decrypt, until a grant allows it.
    expect((await run(["decrypt", ...asBob], { cwd, input: sealed.stdout })).code).toBe(4);
    const grant = await json([
      "grants",
      "create",
      "alias/shared",
      "--grantee",
      bob,
      "--operations",
      "Decrypt",
      "--name",
      "bob",
    ]);
    expect(grant.GrantId).toMatch(/\w+/);
    expect((await ok(["decrypt", ...asBob], { cwd, input: sealed.stdout })).out).toBe("for bob");
    const grants = await json(["grants", "list", "alias/shared"]);
    expect(grants.Grants).toHaveLength(1);
    expect(grants.Grants[0]).toMatchObject({ GranteePrincipal: bob, Operations: ["Decrypt"] });
    await ok(["grants", "revoke", "alias/shared", grant.GrantId, ...dd], { cwd });
    expect((await json(["grants", "list", "alias/shared"])).Grants).toHaveLength(0);
    expect((await run(["decrypt", ...asBob], { cwd, input: sealed.stdout })).code).toBe(4);
    // A policy that is not JSON is a usage error.
    writeFileSync(join(cwd, "bad.json"), "{ nope");
    expect((await run(["policy", "put", "alias/shared", "bad.json", ...dd], { cwd })).code).toBe(2);
  });
});

describe("audit and usage", () => {
  it("audit verify, tail and query read the hash-chained log", async () => {
    const report = await json(["audit", "verify"]);
    expect(report.ok).toBe(true);
    expect(report.events).toBeGreaterThan(10);
    expect(report.problems).toEqual([]);
    expect((await ok(["audit", "verify", ...dd], { cwd })).out).toMatch(
      /OK: the hash chain and the signed digests verify/,
    );
    const tail = await json(["audit", "tail", "-n", "3"]);
    expect(tail).toHaveLength(3);
    expect(tail[2].sequence).toBe(report.events);
    const refused = await json([
      "audit",
      "query",
      "--errors",
      "--caller",
      "arn:aws:iam::444455556666:user/bob",
    ]);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((e: { errorCode?: string }) => e.errorCode === "AccessDeniedException")).toBe(true);
    const rotations = await json(["audit", "query", "--event", "RotateKeyOnDemand"]);
    expect(rotations).toHaveLength(1);
  });

  it("usage reports this month's requests; audit and usage refuse --endpoint", async () => {
    const report = await json(["usage"]);
    expect(report.Month).toBe(new Date().toISOString().slice(0, 7));
    expect(report.Requests.ByOperation.CreateKey).toBeGreaterThanOrEqual(3);
    expect((await run(["usage", "--month", "2026-13x", ...dd], { cwd })).code).toBe(2);
    const r = await run(["audit", "verify", "--endpoint", "http://127.0.0.1:1"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not available over --endpoint/);
    expect((await run(["usage", "--endpoint", "http://127.0.0.1:1"], { cwd })).code).toBe(2);
  });
});
