// Fuzzing every server operation's JSON over signed HTTP: arbitrary JSON values, type-confused, truncated and
// extended variants of a valid request, and bodies that are not JSON. No 500 (no fault is injected here), every
// response is JSON, every refusal has __type and message.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPERATION_MODELS } from "../../src/server/model.generated.js";
import { type StartedKmsServer, startKmsServer } from "../../src/server/start.js";
import { ALICE, BOB, call, send, signRequest } from "../../src/server/test-support.js";
import { SOAK } from "./support.js";

const SEED = Number(process.env.SEALKIT_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS_PER_OPERATION = SOAK ? 400 : 24;

const CONFUSING: unknown[] = [
  null,
  "",
  0,
  -1,
  1.5,
  2 ** 53 + 1,
  1e308,
  -1e308,
  true,
  false,
  [],
  {},
  { "": "" },
  [[[]]],
  "x".repeat(5000),
  "\u0000",
  "\ud800",
  "alias/",
  "alias/aws/kms",
  "arn:aws:kms:us-east-1:111122223333:key/",
  "arn:aws:kms:us-east-1:111122223333:alias/../x",
  "00000000-0000-0000-0000-000000000000",
  "AAAA",
  "====",
  "*",
  "%",
];

/** A confusing value: one of the classics or any JSON value. */
const confusing = fc.oneof(fc.constantFrom(...CONFUSING), fc.jsonValue({ maxDepth: 3 }));

/** A body (string) for `op` derived from its valid request. */
function bodies(op: string, valid: Record<string, unknown>): fc.Arbitrary<string> {
  const members = [...new Set([...Object.keys(valid), ...Object.keys(OPERATION_MODELS[op]?.input ?? {})])];
  const member = fc.constantFrom(...members);
  return fc.oneof(
    // Any JSON value as the whole body.
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null") },
    // The valid request with one member's value replaced by a confusing one.
    {
      weight: 5,
      arbitrary: fc
        .tuple(member, confusing)
        .map(([name, value]) => JSON.stringify({ ...valid, [name]: value })),
    },
    // Two members confused at once.
    {
      weight: 2,
      arbitrary: fc
        .tuple(member, confusing, member, confusing)
        .map(([a, va, b, vb]) => JSON.stringify({ ...valid, [a]: va, [b]: vb })),
    },
    // A member dropped.
    {
      weight: 1,
      arbitrary: member.map((name) => {
        const { [name]: _, ...rest } = valid;
        return JSON.stringify(rest);
      }),
    },
    // Unknown and prototype-polluting members (written raw: JSON.stringify would drop __proto__).
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom("__proto__", "constructor", "prototype", "", "keyId", "KeyId "), confusing)
        .map(([name, value]) => {
          const rest = JSON.stringify(valid).slice(1);
          return `{${JSON.stringify(name)}:${JSON.stringify(value)}${rest === "}" ? "}" : `,${rest}`}`;
        }),
    },
    // The valid request truncated, or not JSON at all.
    {
      weight: 1,
      arbitrary: fc
        .nat({ max: Math.max(0, JSON.stringify(valid).length - 1) })
        .map((n) => JSON.stringify(valid).slice(0, n)),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 64, unit: "binary" }) },
  );
}

describe("fuzzing every operation over signed HTTP", () => {
  let dir: string;
  let started: StartedKmsServer;
  let url: string;
  const valid: Record<string, Record<string, unknown>> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-rel-fuzz-"));
    started = await startKmsServer({ dataDir: join(dir, "data"), credentials: [ALICE, BOB], port: 0 });
    url = started.url;
    const key = async () =>
      ((await call(url, "CreateKey", {})).json().KeyMetadata as { KeyId: string }).KeyId;
    const main = await key();
    const victim = await key(); // state-changing operations act on this one
    await call(url, "CreateAlias", { AliasName: "alias/fuzz-main", TargetKeyId: main });
    await call(url, "CreateAlias", { AliasName: "alias/fuzz-victim", TargetKeyId: victim });
    const blob = (
      await call(url, "Encrypt", { KeyId: main, Plaintext: "aGVsbG8=", EncryptionContext: { a: "b" } })
    ).json().CiphertextBlob as string;
    const grant = (
      await call(url, "CreateGrant", {
        KeyId: main,
        GranteePrincipal: BOB.principal,
        Operations: ["Encrypt"],
      })
    ).json() as { GrantId: string; GrantToken: string };
    const policy = (await call(url, "GetKeyPolicy", { KeyId: victim, PolicyName: "default" })).json().Policy;
    Object.assign(valid, {
      CreateKey: { Description: "fuzz", KeyUsage: "ENCRYPT_DECRYPT", KeySpec: "SYMMETRIC_DEFAULT", Tags: [] },
      DescribeKey: { KeyId: "alias/fuzz-main" },
      ListKeys: { Limit: 10 },
      UpdateKeyDescription: { KeyId: victim, Description: "d" },
      EnableKey: { KeyId: victim },
      DisableKey: { KeyId: victim },
      ScheduleKeyDeletion: { KeyId: victim, PendingWindowInDays: 7 },
      CancelKeyDeletion: { KeyId: victim },
      CreateAlias: { AliasName: "alias/fuzz-new", TargetKeyId: victim },
      UpdateAlias: { AliasName: "alias/fuzz-victim", TargetKeyId: victim },
      DeleteAlias: { AliasName: "alias/fuzz-new" },
      ListAliases: { KeyId: main, Limit: 5 },
      EnableKeyRotation: { KeyId: victim, RotationPeriodInDays: 90 },
      DisableKeyRotation: { KeyId: victim },
      GetKeyRotationStatus: { KeyId: main },
      RotateKeyOnDemand: { KeyId: victim },
      ListKeyRotations: { KeyId: main, Limit: 5 },
      GetKeyPolicy: { KeyId: main, PolicyName: "default" },
      PutKeyPolicy: { KeyId: victim, PolicyName: "default", Policy: policy },
      ListKeyPolicies: { KeyId: main },
      CreateGrant: {
        KeyId: main,
        GranteePrincipal: BOB.principal,
        Operations: ["Decrypt"],
        Constraints: { EncryptionContextSubset: { a: "b" } },
      },
      ListGrants: { KeyId: main, Limit: 5 },
      ListRetirableGrants: { RetiringPrincipal: ALICE.principal, Limit: 5 },
      RetireGrant: { KeyId: main, GrantId: grant.GrantId },
      RevokeGrant: { KeyId: main, GrantId: grant.GrantId },
      TagResource: { KeyId: victim, Tags: [{ TagKey: "k", TagValue: "v" }] },
      UntagResource: { KeyId: victim, TagKeys: ["k"] },
      ListResourceTags: { KeyId: main },
      Encrypt: {
        KeyId: main,
        Plaintext: "aGVsbG8=",
        EncryptionContext: { a: "b" },
        GrantTokens: [grant.GrantToken],
      },
      Decrypt: { CiphertextBlob: blob, EncryptionContext: { a: "b" } },
      ReEncrypt: { CiphertextBlob: blob, SourceEncryptionContext: { a: "b" }, DestinationKeyId: main },
      GenerateDataKey: { KeyId: main, KeySpec: "AES_256", EncryptionContext: { a: "b" } },
      GenerateDataKeyWithoutPlaintext: { KeyId: main, NumberOfBytes: 16 },
      GenerateRandom: { NumberOfBytes: 16 },
      GetKeyLastUsage: { KeyId: main },
    });
  }, 60_000);
  afterAll(async () => {
    await started.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("has a valid request for every operation the server implements, and each succeeds", async () => {
    expect(Object.keys(valid).sort()).toEqual(Object.keys(OPERATION_MODELS).sort());
    for (const op of [
      "DescribeKey",
      "Encrypt",
      "Decrypt",
      "GenerateDataKey",
      "ListGrants",
      "ListRetirableGrants",
      "GetKeyLastUsage",
    ]) {
      const res = await call(url, op, valid[op]);
      expect(res.status, `${op}: ${res.text}`).toBe(200);
    }
  });

  it(`answers ${RUNS_PER_OPERATION} fuzzed bodies per operation without a 500 (seed ${SEED})`, {
    timeout: SOAK ? 1_800_000 : 120_000,
  }, async () => {
    const counts: Record<string, Record<string, number>> = {};
    const jobs: [string, string][] = [];
    let i = 0;
    for (const op of Object.keys(OPERATION_MODELS)) {
      for (const body of fc.sample(bodies(op, valid[op] as Record<string, unknown>), {
        numRuns: RUNS_PER_OPERATION,
        seed: SEED + i++,
      }))
        jobs.push([op, body]);
    }
    const failures: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < jobs.length) {
          const [op, body] = jobs[next++] as [string, string];
          const res = await send(url, await signRequest(url, op, body));
          counts[op] ??= {};
          const tally = counts[op];
          let type = "200";
          try {
            const json = JSON.parse(res.text) as Record<string, unknown>;
            if (res.status !== 200) {
              type = String(json.__type);
              if (typeof json.__type !== "string" || typeof json.message !== "string")
                failures.push(
                  `${op} ${body.slice(0, 200)} → ${res.status} without __type/message: ${res.text}`,
                );
            }
          } catch {
            failures.push(`${op} ${body.slice(0, 200)} → ${res.status} not JSON: ${res.text.slice(0, 200)}`);
          }
          if (res.status >= 500) failures.push(`${op} ${body.slice(0, 200)} → ${res.status} ${res.text}`);
          tally[type] = (tally[type] ?? 0) + 1;
        }
      }),
    );
    expect(failures, `seed ${SEED}`).toEqual([]);
    const total = Object.values(counts).reduce((a, t) => a + Object.values(t).reduce((x, y) => x + y, 0), 0);
    expect(total).toBe(jobs.length);
    const types = new Map<string, number>();
    for (const t of Object.values(counts))
      for (const [k, v] of Object.entries(t)) types.set(k, (types.get(k) ?? 0) + v);
    console.log(
      `[reliability] fuzz (seed ${SEED}): ${total} signed requests, ${RUNS_PER_OPERATION} for each of ${Object.keys(counts).length} operations, no 500; ` +
        `answers: ${[...types]
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}`,
    );
    // The server is still healthy after all of it.
    expect((await call(url, "GenerateRandom", { NumberOfBytes: 8 })).status).toBe(200);
  });
});
