// LocalKms, second semantic review: what callers of the in-process API and of the server notice that the first review
// (aws-semantics.test.ts) did not cover. Each case names the documentation it follows.

import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { KmsError } from "./errors.js";
import { LocalKms } from "./local-kms.js";
import { GranteeIndex, grantPrincipalMatches } from "./policy/grants.js";
import { ACCOUNT, ALICE, BOB, cleanupsAfterEach, ROOT, rejects, tempDir, testClock } from "./test-helpers.js";

vi.setConfig({ testTimeout: 60_000 });

const cleanups = cleanupsAfterEach();

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

describe("close() (LocalKms.close TSDoc: it waits for calls in progress)", () => {
  it("answers every call made before close(), lock-free reads and cryptography included, and refuses calls made after it", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const kms = await LocalKms.open({ dataDir: dir });
    const { KeyId } = (await kms.createKey(ROOT, {})).KeyMetadata;
    const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(3) });
    // A call under the lock first, so that the reads below take the lock-free path.
    await kms.describeKey(ROOT, { KeyId });
    const encrypted = kms.encrypt(ROOT, { KeyId, Plaintext: bytes(5, 1) });
    const decrypted = kms.decrypt(ROOT, { CiphertextBlob });
    const dataKey = kms.generateDataKey(ROOT, { KeyId, KeySpec: "AES_256" });
    const described = kms.describeKey(ROOT, { KeyId });
    const listed = kms.listKeys(ROOT, {});
    const created = kms.createKey(ROOT, {});
    const closing = kms.close();
    // Their outcome is taken at once (a refusal is a rejection nobody awaits yet).
    const late = [
      kms.encrypt(ROOT, { KeyId, Plaintext: bytes(1) }),
      kms.describeKey(ROOT, { KeyId }),
      kms.createKey(ROOT, {}),
      kms.usageReport({ month: "2026-01" }),
      kms.sealOwned("probe", bytes(1)),
    ].map((call) =>
      call.then(
        () => "answered",
        (error: unknown) => error,
      ),
    );
    const secondClose = kms.close();
    // Every call made before close() answers as it would have.
    const [e, d, g, k, l, c] = await Promise.all([encrypted, decrypted, dataKey, described, listed, created]);
    expect(d.Plaintext).toEqual(bytes(3));
    expect(k.KeyMetadata.KeyId).toBe(KeyId);
    expect(l.Keys.map((x) => x.KeyId)).toContain(KeyId);
    // Every call made after it is refused.
    for (const outcome of await Promise.all(late)) {
      expect(KmsError.isInstance(outcome, "KMSInternalException"), String(outcome)).toBe(true);
      expect((outcome as Error).message).toContain("closed");
    }
    await closing;
    await secondClose;
    await kms.close();
    // What they answered holds: the ciphertexts open after a restart, and the calls are in the audit log (read before the restart's own calls).
    const again = await LocalKms.open({ dataDir: dir });
    cleanups.push(() => again.close());
    const events = again.auditLog!.query({ limit: 1000 });
    const named = (name: string) => events.filter((x) => x.eventName === name && !x.errorCode).length;
    expect(named("Encrypt")).toBe(2);
    expect(named("Decrypt")).toBe(1);
    expect(named("GenerateDataKey")).toBe(1);
    expect((await again.decrypt(ROOT, { CiphertextBlob: e.CiphertextBlob })).Plaintext).toEqual(bytes(5, 1));
    expect((await again.decrypt(ROOT, { CiphertextBlob: g.CiphertextBlob })).Plaintext).toEqual(g.Plaintext);
    expect((await again.describeKey(ROOT, { KeyId: c.KeyMetadata.KeyId })).KeyMetadata.KeyState).toBe(
      "Enabled",
    );
    expect(KmsError.isInstance(await again.close().catch((x: unknown) => x))).toBe(false);
  });
});

/** Adds `count` rows to a table of a closed data dir's kms.db, as if made by the API (real SQLite, no shortcut). */
function insertRows(dir: string, sql: string, count: number, ...params: unknown[]): void {
  const db = new Database(join(dir, "kms.db"));
  try {
    db.prepare(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) ${sql}`).run(
      count,
      ...params,
    );
  } finally {
    db.close();
  }
}

describe("resource quotas (developer guide, Resource quotas: LimitExceededException when one is exceeded)", () => {
  it("a key has at most 50,000 grants: CreateGrant beyond them is LimitExceededException; a retry of a named grant still answers", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    let kms = await LocalKms.open({ dataDir: dir });
    const { KeyId } = (await kms.createKey(ROOT, {})).KeyMetadata;
    await kms.close();
    insertRows(
      dir,
      `INSERT INTO grants (grant_id, key_id, grantee, operations, issuing_account, created_at, token)
         SELECT printf('%064x', i), ?, ?, '["Decrypt"]', ?, 0, 'token-' || i FROM n`,
      49_999,
      KeyId,
      BOB.principal,
      ACCOUNT,
    );
    kms = await LocalKms.open({ dataDir: dir });
    cleanups.push(() => kms.close());
    const grant = { KeyId, GranteePrincipal: ALICE.principal, Operations: ["Decrypt"], Name: "last" };
    const last = await kms.createGrant(ROOT, grant);
    await rejects(
      kms.createGrant(ROOT, { KeyId, GranteePrincipal: ALICE.principal, Operations: ["Encrypt"] }),
      "LimitExceededException",
    );
    // A dry run answers what the call would: the quota, not DryRunOperationException.
    await rejects(
      kms.createGrant(ROOT, {
        KeyId,
        GranteePrincipal: ALICE.principal,
        Operations: ["Encrypt"],
        DryRun: true,
      }),
      "LimitExceededException",
    );
    // Retrying the named grant makes nothing new: it answers the same grant.
    expect((await kms.createGrant(ROOT, grant)).GrantId).toBe(last.GrantId);
    const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(4) });
    expect((await kms.decrypt(ALICE, { CiphertextBlob })).Plaintext).toEqual(bytes(4));
    await kms.revokeGrant(ROOT, { KeyId, GrantId: last.GrantId });
    await kms.createGrant(ROOT, { KeyId, GranteePrincipal: ALICE.principal, Operations: ["Encrypt"] });
  });
});

describe("resource quotas: aliases per key and keys per account (developer guide, Resource quotas)", () => {
  it("a key has at most 50 aliases: CreateAlias and UpdateAlias to it beyond them are LimitExceededException", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    let kms = await LocalKms.open({ dataDir: dir });
    const { KeyId } = (await kms.createKey(ROOT, {})).KeyMetadata;
    const other = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    await kms.createAlias(ROOT, { AliasName: "alias/other", TargetKeyId: other });
    await kms.close();
    insertRows(
      dir,
      "INSERT INTO aliases (name, key_id, created_at, updated_at) SELECT 'alias/many-' || i, ?, 0, 0 FROM n",
      49,
      KeyId,
    );
    kms = await LocalKms.open({ dataDir: dir });
    cleanups.push(() => kms.close());
    await kms.createAlias(ROOT, { AliasName: "alias/fiftieth", TargetKeyId: KeyId });
    await rejects(
      kms.createAlias(ROOT, { AliasName: "alias/fifty-first", TargetKeyId: KeyId }),
      "LimitExceededException",
    );
    await rejects(
      kms.updateAlias(ROOT, { AliasName: "alias/other", TargetKeyId: KeyId }),
      "LimitExceededException",
    );
    // Pointing an alias of the key at the key again adds none.
    await kms.updateAlias(ROOT, { AliasName: "alias/fiftieth", TargetKeyId: KeyId });
    expect((await kms.listAliases(ROOT, { KeyId, Limit: 100 })).Aliases).toHaveLength(50);
    await kms.deleteAlias(ROOT, { AliasName: "alias/fiftieth" });
    await kms.updateAlias(ROOT, { AliasName: "alias/other", TargetKeyId: KeyId });
  });

  it("an account has at most 100,000 customer managed keys, in any key state: CreateKey beyond them is LimitExceededException", async () => {
    const clock = testClock();
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    let kms = await LocalKms.open({ dataDir: dir, clock: clock.clock });
    const pending = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    await kms.serviceKey(ROOT, "s3");
    await kms.close();
    insertRows(
      dir,
      `INSERT INTO keys (id, kind, key_spec, key_usage, origin, state, created_at, current_version)
         SELECT lower(printf('%08x-0000-4000-8000-%012x', i, i)), 'customer', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT',
           'AWS_KMS', 'Disabled', 0, 0 FROM n`,
      99_998,
    );
    kms = await LocalKms.open({ dataDir: dir, clock: clock.clock });
    cleanups.push(() => kms.close());
    // The AWS managed key does not count; the 100,000th customer managed key is made, the next is not.
    const last = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    const started = performance.now();
    await rejects(kms.createKey(ROOT, {}), "LimitExceededException");
    const refusedMs = performance.now() - started;
    console.log(`CreateKey refused at 100,000 keys in ${refusedMs.toFixed(1)} ms`);
    // A key pending deletion still counts; once deleted, it does not.
    await kms.scheduleKeyDeletion(ROOT, { KeyId: pending, PendingWindowInDays: 7 });
    await rejects(kms.createKey(ROOT, {}), "LimitExceededException");
    clock.advanceDays(7);
    await kms.createKey(ROOT, {});
    expect(last).not.toBe(pending);
  });
});

describe("authorization through grants on a key with many grants", () => {
  it("reads only the grants naming the caller: a refused or granted Decrypt does not parse the key's 50,000 grants", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    let kms = await LocalKms.open({ dataDir: dir });
    const ADMIN = { principal: `arn:aws:iam::${ACCOUNT}:user/admin`, account: ACCOUNT };
    const CAROL = { principal: `arn:aws:iam::${ACCOUNT}:user/carol`, account: ACCOUNT };
    const { KeyId } = (await kms.createKey(ROOT, {})).KeyMetadata;
    // Only the admin by policy (the account root would stand for every principal of the account).
    await kms.putKeyPolicy(ROOT, {
      KeyId,
      BypassPolicyLockoutSafetyCheck: true,
      Policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { AWS: ADMIN.principal }, Action: "kms:*", Resource: "*" }],
      }),
    });
    await kms.close();
    insertRows(
      dir,
      `INSERT INTO grants (grant_id, key_id, grantee, operations, issuing_account, created_at, token)
         SELECT printf('%064x', i), ?, ?, '["Decrypt"]', ?, 0, 'token-' || i FROM n`,
      49_998,
      KeyId,
      BOB.principal,
      ACCOUNT,
    );
    kms = await LocalKms.open({ dataDir: dir });
    cleanups.push(() => kms.close());
    await kms.createGrant(ADMIN, { KeyId, GranteePrincipal: ALICE.principal, Operations: ["Decrypt"] });
    const { CiphertextBlob } = await kms.encrypt(ADMIN, { KeyId, Plaintext: bytes(4) });
    const parses = vi.spyOn(JSON, "parse");
    try {
      for (const [caller, allowed] of [
        [CAROL, false],
        [ALICE, true],
        [CAROL, false],
        [ALICE, true],
      ] as const) {
        parses.mockClear();
        const started = performance.now();
        const outcome = await kms.decrypt(caller, { CiphertextBlob }).then(
          () => "allowed",
          (e: unknown) => (KmsError.isInstance(e) ? e.awsName : String(e)),
        );
        console.log(`${caller.principal}: ${outcome} in ${(performance.now() - started).toFixed(1)} ms`);
        expect(outcome).toBe(allowed ? "allowed" : "AccessDeniedException");
        // Bob's 49,998 grants are passed over by their grantee; at most Alice's one grant is read.
        expect(parses.mock.calls.length).toBeLessThan(100);
      }
      // Bob's grants still allow Bob.
      expect((await kms.decrypt(BOB, { CiphertextBlob })).Plaintext).toEqual(bytes(4));
    } finally {
      parses.mockRestore();
    }
    // Nor does a call under the lock (the first after a change) read them from kms.db again: rows SQLite hands over.
    const probe = new Database(":memory:");
    const statement = Object.getPrototypeOf(probe.prepare("SELECT 1")) as {
      all: (...a: unknown[]) => unknown[];
    };
    probe.close();
    const all = vi.spyOn(statement, "all");
    const rowsRead = () =>
      all.mock.results.reduce((n, r) => n + (Array.isArray(r.value) ? (r.value as unknown[]).length : 0), 0);
    try {
      for (const caller of [CAROL, ALICE]) {
        await kms.tagResource(ADMIN, {
          KeyId,
          Tags: [{ TagKey: "t", TagValue: caller.principal.slice(-5) }],
        });
        all.mockClear();
        await kms.decrypt(caller, { CiphertextBlob }).catch(() => undefined);
        expect(rowsRead(), caller.principal).toBeLessThan(100);
      }
      // A grant made, retired or revoked takes effect at once, and the calls after it do not read every grant again.
      all.mockClear();
      const made = await kms.createGrant(ADMIN, {
        KeyId,
        GranteePrincipal: CAROL.principal,
        RetiringPrincipal: ADMIN.principal,
        Operations: ["Decrypt"],
      });
      expect((await kms.decrypt(CAROL, { CiphertextBlob })).Plaintext).toEqual(bytes(4));
      await kms.retireGrant(ADMIN, { GrantToken: made.GrantToken });
      await rejects(kms.decrypt(CAROL, { CiphertextBlob }), "AccessDeniedException");
      const again = await kms.createGrant(ADMIN, {
        KeyId,
        GranteePrincipal: CAROL.principal,
        Operations: ["Decrypt"],
      });
      expect((await kms.decrypt(CAROL, { CiphertextBlob })).Plaintext).toEqual(bytes(4));
      await kms.revokeGrant(ADMIN, { KeyId, GrantId: again.GrantId });
      await rejects(kms.decrypt(CAROL, { CiphertextBlob }), "AccessDeniedException");
      // A dry run's revocation rolls back: the grant still allows.
      await rejects(
        kms.revokeGrant(ADMIN, { KeyId, GrantId: made.GrantId, DryRun: true }),
        "NotFoundException",
      );
      const third = await kms.createGrant(ADMIN, {
        KeyId,
        GranteePrincipal: CAROL.principal,
        Operations: ["Decrypt"],
      });
      await rejects(
        kms.revokeGrant(ADMIN, { KeyId, GrantId: third.GrantId, DryRun: true }),
        "DryRunOperationException",
      );
      expect((await kms.decrypt(CAROL, { CiphertextBlob })).Plaintext).toEqual(bytes(4));
      expect(rowsRead()).toBeLessThan(100);
    } finally {
      all.mockRestore();
    }
  });
});

describe("GranteeIndex (policy/grants.ts)", () => {
  it("gives every grant whose grantee names the caller, as grantPrincipalMatches decides", () => {
    const grantees = [
      `arn:aws:iam::${ACCOUNT}:user/alice`,
      `arn:aws:iam::${ACCOUNT}:root`,
      ACCOUNT,
      `arn:aws:iam::${ACCOUNT}:role/app`,
      `arn:aws:iam::${ACCOUNT}:role/team/app`,
      `arn:aws:iam::${ACCOUNT}:role/other`,
      `arn:aws-cn:iam::${ACCOUNT}:role/app`,
      "arn:aws:iam::444455556666:root",
      "arn:aws:iam::444455556666:role/app",
      `arn:aws:sts::${ACCOUNT}:assumed-role/app/s1`,
      "logs.amazonaws.com",
    ];
    const callers: [string, string | undefined][] = [
      [`arn:aws:iam::${ACCOUNT}:user/alice`, ACCOUNT],
      [`arn:aws:iam::${ACCOUNT}:user/bob`, undefined],
      [`arn:aws:iam::${ACCOUNT}:root`, ACCOUNT],
      [`arn:aws:sts::${ACCOUNT}:assumed-role/app/s1`, ACCOUNT],
      [`arn:aws:sts::${ACCOUNT}:assumed-role/app/s2`, undefined],
      [`arn:aws-cn:sts::${ACCOUNT}:assumed-role/app/s1`, ACCOUNT],
      [`arn:aws:iam::${ACCOUNT}:role/app`, ACCOUNT],
      ["arn:aws:sts::444455556666:assumed-role/app/s1", "444455556666"],
      ["logs.amazonaws.com", ACCOUNT],
    ];
    const index = new GranteeIndex(grantees.map((grantee) => ({ grantee })));
    let matched = 0;
    for (const [principal, account] of callers) {
      const candidates = new Set(index.candidates(principal, account).map((g) => g.grantee));
      for (const grantee of grantees) {
        if (grantPrincipalMatches(grantee, principal, account)) {
          matched++;
          expect(candidates.has(grantee), `${grantee} names ${principal}`).toBe(true);
        }
      }
      // And nothing far off: a candidate is the caller, its account (root ARN, bare id) or its role (any path).
      expect(candidates.size).toBeLessThanOrEqual(5);
    }
    expect(matched).toBeGreaterThan(12);
  });

  it("adds and deletes grants in place, by grantee and id, and counts them", () => {
    const root = `arn:aws:iam::${ACCOUNT}:root`;
    const index = new GranteeIndex([
      { grantee: root, id: "a" },
      { grantee: ACCOUNT, id: "b" },
      { grantee: `arn:aws:iam::${ACCOUNT}:role/team/app`, id: "c" },
    ]);
    expect(index.size).toBe(3);
    index.add({ grantee: root, id: "d" });
    expect(index.size).toBe(4);
    const ids = (principal: string) =>
      index
        .candidates(principal, ACCOUNT)
        .map((g) => g.id)
        .sort();
    expect(ids(`arn:aws:iam::${ACCOUNT}:user/alice`)).toEqual(["a", "b", "d"]);
    index.delete(root, (g) => g.id === "a");
    expect(index.size).toBe(3);
    expect(ids(`arn:aws:iam::${ACCOUNT}:user/alice`)).toEqual(["b", "d"]);
    expect(ids(`arn:aws:sts::${ACCOUNT}:assumed-role/app/s`)).toEqual(["b", "c", "d"]);
    index.delete(`arn:aws:iam::${ACCOUNT}:role/team/app`, (g) => g.id === "c");
    index.delete(root, (g) => g.id === "nothing");
    expect(index.size).toBe(2);
    expect(ids(`arn:aws:sts::${ACCOUNT}:assumed-role/app/s`)).toEqual(["b", "d"]);
  });
});

describe("ListRetirableGrants on a large grants table", () => {
  it("finds a retiring principal's grants by an index, not by reading every grant of every key", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    let kms = await LocalKms.open({ dataDir: dir });
    const keys: string[] = [];
    for (let i = 0; i < 8; i++) keys.push((await kms.createKey(ROOT, {})).KeyMetadata.KeyId);
    await kms.close();
    // 8 keys of 50,000 grants each (the most a key may have), retirable by 1,000 principals.
    for (const [k, keyId] of keys.entries()) {
      insertRows(
        dir,
        `INSERT INTO grants (grant_id, key_id, grantee, retiring, operations, issuing_account, created_at, token)
           SELECT printf('%02x%062x', ?, i), ?, ?, 'arn:aws:iam::${ACCOUNT}:user/r' || (i % 1000), '["Decrypt"]', ?, i,
             'token-' || ? || '-' || i FROM n`,
        50_000,
        k,
        keyId,
        BOB.principal,
        ACCOUNT,
        k,
      );
    }
    kms = await LocalKms.open({ dataDir: dir });
    cleanups.push(() => kms.close());
    const RetiringPrincipal = `arn:aws:iam::${ACCOUNT}:user/r7`;
    let fastest = Number.POSITIVE_INFINITY;
    let listed = 0;
    let Marker: string | undefined;
    for (let page = 0; page < 4; page++) {
      const started = performance.now();
      const answer = await kms.listRetirableGrants(ALICE, {
        RetiringPrincipal,
        Limit: 100,
        ...(Marker ? { Marker } : {}),
      });
      fastest = Math.min(fastest, performance.now() - started);
      listed += answer.Grants.length;
      for (const g of answer.Grants) expect(g.RetiringPrincipal).toBe(RetiringPrincipal);
      Marker = answer.NextMarker;
    }
    expect(listed).toBe(400);
    console.log(`ListRetirableGrants over 400,000 grants: fastest page ${fastest.toFixed(1)} ms`);
    // Reading 400,000 grants for each page took 200 to 500 ms of the event loop here; the index answers in under 1.
    expect(fastest).toBeLessThan(100);
  });
});

describe("kms.db schema versions 3 and 4", () => {
  it("a data dir of version 2 gets the retiring and key order indexes on open and keeps its grants", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    let kms = await LocalKms.open({ dataDir: dir });
    const { KeyId } = (await kms.createKey(ROOT, {})).KeyMetadata;
    await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: ALICE.principal,
      RetiringPrincipal: BOB.principal,
      Operations: ["Decrypt"],
    });
    await kms.close();
    const raw = new Database(join(dir, "kms.db"));
    raw.exec("DROP INDEX grants_retiring; DROP INDEX keys_created; UPDATE schema_version SET version = 2;");
    raw.close();
    kms = await LocalKms.open({ dataDir: dir });
    cleanups.push(() => kms.close());
    expect((await kms.listRetirableGrants(BOB, { RetiringPrincipal: BOB.principal })).Grants).toHaveLength(1);
    const check = new Database(join(dir, "kms.db"), { readonly: true, fileMustExist: true });
    try {
      expect(check.prepare("SELECT version FROM schema_version").get()).toEqual({ version: 4 });
      expect(
        check
          .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('grants_retiring', 'keys_created') ORDER BY name",
          )
          .all(),
      ).toEqual([{ name: "grants_retiring" }, { name: "keys_created" }]);
    } finally {
      check.close();
    }
  });
});

describe("ListKeys on many keys", () => {
  it("pages through keys by an index, not by sorting every key for each page", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    let kms = await LocalKms.open({ dataDir: dir });
    await kms.createKey(ROOT, {});
    await kms.close();
    // More keys than the quota lets CreateKey make (an imported or long-lived data dir): the cost must not follow.
    insertRows(
      dir,
      `INSERT INTO keys (id, kind, key_spec, key_usage, origin, state, created_at, current_version)
         SELECT lower(printf('%08x-0000-4000-8000-%012x', i, i)), 'customer', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT',
           'AWS_KMS', 'Disabled', i, 0 FROM n`,
      250_000,
    );
    kms = await LocalKms.open({ dataDir: dir });
    cleanups.push(() => kms.close());
    let fastest = Number.POSITIVE_INFINITY;
    let Marker: string | undefined;
    const seen = new Set<string>();
    for (let page = 0; page < 4; page++) {
      const started = performance.now();
      const answer = await kms.listKeys(ALICE, { Limit: 1000, ...(Marker ? { Marker } : {}) });
      fastest = Math.min(fastest, performance.now() - started);
      for (const k of answer.Keys) seen.add(k.KeyId);
      Marker = answer.NextMarker;
    }
    expect(seen.size).toBe(4000);
    console.log(`ListKeys over 250,000 keys: fastest page of 1,000 ${fastest.toFixed(1)} ms`);
    // Sorting 250,000 keys for each page took about 250 ms of the event loop here.
    expect(fastest).toBeLessThan(80);
  });
});

describe("duplicate tag keys in one request", () => {
  it("CreateKey and TagResource refuse them with TagException, not an internal error, and store nothing", async () => {
    // AWS KMS refuses a request naming one tag key twice (the CloudFormation KMS resource provider dedupes tags before
    // calling it for that reason: aws-cloudformation-resource-providers-kms#29). Here CreateKey failed with
    // KMSInternalException (the tags table's primary key) and TagResource kept the last value.
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const kms = await LocalKms.open({ dataDir: dir });
    cleanups.push(() => kms.close());
    const Tags = [
      { TagKey: "team", TagValue: "a" },
      { TagKey: "team", TagValue: "b" },
    ];
    await rejects(kms.createKey(ROOT, { Tags }), "TagException");
    expect((await kms.listKeys(ROOT, {})).Keys).toHaveLength(0);
    const { KeyId } = (await kms.createKey(ROOT, { Tags: [{ TagKey: "team", TagValue: "x" }] })).KeyMetadata;
    await rejects(kms.tagResource(ROOT, { KeyId, Tags }), "TagException");
    expect((await kms.listResourceTags(ROOT, { KeyId })).Tags).toEqual([{ TagKey: "team", TagValue: "x" }]);
    // Keys differing by case are different keys, as tag keys are case-sensitive.
    await kms.tagResource(ROOT, {
      KeyId,
      Tags: [
        { TagKey: "Team", TagValue: "y" },
        { TagKey: "team", TagValue: "z" },
      ],
    });
    expect((await kms.listResourceTags(ROOT, { KeyId })).Tags).toHaveLength(2);
  });
});

describe("DisableKey racing cryptography (already right)", () => {
  it("no call made after DisableKey answered succeeds, on the lock-free path or under the lock", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const kms = await LocalKms.open({ dataDir: dir });
    cleanups.push(() => kms.close());
    const { KeyId } = (await kms.createKey(ROOT, {})).KeyMetadata;
    const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(3) });
    let acknowledged = false;
    let madeAfterCount = 0;
    let succeeded = 0;
    const late: string[] = [];
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const madeAfter = acknowledged;
      if (madeAfter) madeAfterCount++;
      const call =
        i % 2 === 0
          ? kms.decrypt(ROOT, { CiphertextBlob })
          : kms.encrypt(ROOT, { KeyId, Plaintext: bytes(1) });
      calls.push(
        call.then(
          () => {
            succeeded++;
            if (madeAfter) late.push(`call ${i}`);
          },
          (e: unknown) => {
            if (!KmsError.isInstance(e, "DisabledException")) late.push(`call ${i}: ${String(e)}`);
          },
        ),
      );
      if (i === 100) calls.push(kms.disableKey(ROOT, { KeyId }).then(() => (acknowledged = true)));
      if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(calls);
    expect(acknowledged).toBe(true);
    // Both sides of the race happened: calls before it answered, calls after it were made.
    expect(succeeded).toBeGreaterThan(0);
    expect(madeAfterCount).toBeGreaterThan(0);
    expect(late).toEqual([]);
    await rejects(kms.decrypt(ROOT, { CiphertextBlob }), "DisabledException");
  });
});

describe("a deletion date that passes while no call is made", () => {
  it("destroys the key as of its deletion date: the usage report does not bill it for the time after", async () => {
    // Jan 15: a key, scheduled for deletion in 7 days (Jan 22). The data dir is closed until Mar 10.
    const clock = testClock(Date.UTC(2026, 0, 15));
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    let kms = await LocalKms.open({ dataDir: dir, clock: clock.clock });
    const { KeyId } = (await kms.createKey(ROOT, {})).KeyMetadata;
    const { DeletionDate } = await kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 7 });
    await kms.close();
    clock.advanceDays(54);
    kms = await LocalKms.open({ dataDir: dir, clock: clock.clock });
    cleanups.push(() => kms.close());
    await rejects(kms.describeKey(ROOT, { KeyId }), "NotFoundException");
    // It existed from Jan 15 to Jan 22 (7 of January's 31 days), and not at all in February or March.
    const january = await kms.usageReport({ month: "2026-01" });
    expect(january.Keys.CustomerManaged.KeyMonths).toBeCloseTo(7 / 31, 5);
    const february = await kms.usageReport({ month: "2026-02" });
    expect(february.Keys.CustomerManaged).toEqual({ Count: 0, KeyMonths: 0, RotationKeyMonths: 0 });
    const history = new Database(join(dir, "kms.db"), { readonly: true });
    try {
      expect(history.prepare("SELECT destroyed_at FROM key_history WHERE key_id = ?").get(KeyId)).toEqual({
        destroyed_at: DeletionDate.getTime(),
      });
    } finally {
      history.close();
    }
  });
});

describe("text that cannot be stored (a lone UTF-16 surrogate)", () => {
  it("Description and tags with an unpaired surrogate are refused, not stored as U+FFFD", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const kms = await LocalKms.open({ dataDir: dir });
    cleanups.push(() => kms.close());
    // SQLite stores text as UTF-8, where a lone surrogate has no encoding: it came back as U+FFFD.
    const lone = "team \ud800";
    expect(
      (await rejects(kms.createKey(ROOT, { Description: lone }), "ValidationException")).message,
    ).toMatch(/Description must be well-formed Unicode/);
    const { KeyId } = (await kms.createKey(ROOT, { Description: "ok \ud83d\udd11" })).KeyMetadata;
    expect((await kms.describeKey(ROOT, { KeyId })).KeyMetadata.Description).toBe("ok \ud83d\udd11");
    await rejects(kms.updateKeyDescription(ROOT, { KeyId, Description: "\udc00" }), "ValidationException");
    await rejects(kms.createKey(ROOT, { Tags: [{ TagKey: lone, TagValue: "v" }] }), "TagException");
    await rejects(kms.tagResource(ROOT, { KeyId, Tags: [{ TagKey: "k", TagValue: lone }] }), "TagException");
    expect((await kms.listResourceTags(ROOT, { KeyId })).Tags).toEqual([]);
    expect((await kms.describeKey(ROOT, { KeyId })).KeyMetadata.Description).toBe("ok \ud83d\udd11");
  });
});
