// Tests of AuditLog against real SQLite files in temp dirs: round trip, group commit, verification, refusals.

import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type AuditEvent, AuditLog, canonicalEventJson, chainHash } from "./index.js";
import type { AuditEventInput } from "./types.js";

const ACCOUNT = "111122223333";
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
const BOB = `arn:aws:iam::${ACCOUNT}:user/bob`;
const KEY_A = `arn:aws:kms:us-east-1:${ACCOUNT}:key/aaaaaaaa-0000-4000-8000-000000000001`;
const KEY_B = `arn:aws:kms:us-east-1:${ACCOUNT}:key/bbbbbbbb-0000-4000-8000-000000000002`;

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function decryptEvent(
  principal = ALICE,
  keyId = KEY_A,
  extra: Partial<AuditEventInput> = {},
): AuditEventInput {
  return {
    eventName: "Decrypt",
    caller: {
      principal,
      account: ACCOUNT,
      accessKeyId: "AKIAEXAMPLE",
      sourceIp: "127.0.0.1",
      userAgent: "test",
    },
    requestParameters: {
      keyId,
      encryptionAlgorithm: "SYMMETRIC_DEFAULT",
      encryptionContext: { tenant: "acme" },
    },
    responseElements: null,
    resources: [{ ARN: keyId, type: "AWS::KMS::Key", accountId: ACCOUNT }],
    keyId,
    ...extra,
  };
}

describe("AuditLog", () => {
  it("round-trips an event in CloudTrail's shape and creates the signing key with mode 0600", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir, { region: "us-east-1" });
    const stored = await log.append(
      decryptEvent(ALICE, KEY_A, {
        requestParameters: {
          keyId: KEY_A,
          encryptionContext: { zeta: 'ü\u2028"', 2024: "year", alpha: "1" },
        },
      }),
    );
    expect(stored.sequence).toBe(1);
    expect(canonicalEventJson(JSON.parse(JSON.stringify(stored)))).toBe(
      canonicalEventJson({ ...stored, hash: undefined } as unknown as AuditEvent),
    );
    expect(chainHash(stored.prevHash, canonicalEventJson(stored))).toBe(stored.hash);
    expect(stored.prevHash).toBe("0".repeat(64));
    expect(stored.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.eventID).toMatch(/^[0-9a-f-]{36}$/);
    expect(stored).toMatchObject({
      eventVersion: "1.08",
      eventSource: "kms.amazonaws.com",
      eventName: "Decrypt",
      awsRegion: "us-east-1",
      sourceIPAddress: "127.0.0.1",
      userAgent: "test",
      readOnly: true,
      eventType: "AwsApiCall",
      recipientAccountId: ACCOUNT,
      userIdentity: {
        type: "IAMUser",
        principalId: "user/alice",
        arn: ALICE,
        accountId: ACCOUNT,
        accessKeyId: "AKIAEXAMPLE",
      },
    });
    expect(statSync(join(dir, "audit-signing.key")).mode & 0o777).toBe(0o600);
    await log.close();
    const reopened = await AuditLog.open(dir);
    const [read] = reopened.query({ keyId: KEY_A });
    expect(read).toEqual(stored);
    expect((await reopened.append(decryptEvent())).prevHash).toBe(stored.hash);
    await reopened.close();
  });

  it("queries by key, event name, principal, time, errors and pages with after", async () => {
    let now = Date.parse("2026-01-01T00:00:00.000Z");
    const clock = () => {
      now += 1000;
      return new Date(now);
    };
    const log = await AuditLog.open(tempDir(), { clock });
    await log.append(decryptEvent(ALICE, KEY_A));
    await log.append(decryptEvent(BOB, KEY_B));
    await log.append(
      decryptEvent(BOB, KEY_A, {
        eventName: "Encrypt",
        errorCode: "AccessDeniedException",
        errorMessage: "no",
      }),
    );
    await log.append({ eventName: "ListKeys", caller: { principal: ALICE, account: ACCOUNT } });
    expect(log.query({ keyId: KEY_A }).map((e) => e.sequence)).toEqual([1, 3]);
    expect(log.query({ eventName: "Decrypt" }).map((e) => e.sequence)).toEqual([1, 2]);
    expect(log.query({ principal: BOB }).map((e) => e.sequence)).toEqual([2, 3]);
    expect(log.query({ errorsOnly: true }).map((e) => e.errorCode)).toEqual(["AccessDeniedException"]);
    expect(
      log
        .query({ from: new Date("2026-01-01T00:00:02.000Z"), to: new Date("2026-01-01T00:00:03.000Z") })
        .map((e) => e.sequence),
    ).toEqual([2, 3]);
    expect(log.query({ limit: 2 }).map((e) => e.sequence)).toEqual([3, 4]);
    expect(log.query({ after: 0, limit: 3 }).map((e) => e.sequence)).toEqual([1, 2, 3]);
    expect(log.query({ after: 3, limit: 3 }).map((e) => e.sequence)).toEqual([4]);
    expect(log.query({ principal: ALICE, keyId: KEY_A }).map((e) => e.sequence)).toEqual([1]);
    expect(log.query({ eventName: "ListKeys" })[0]?.readOnly).toBe(true);
    expect(() => log.query({ limit: 0 })).toThrow(RangeError);
    expect(() => log.query({ from: new Date("nope") })).toThrow(TypeError);
    await log.close();
  });

  it("compares time bounds outside the years 0000 to 9999 as times, not as text", async () => {
    // toISOString writes such years with a sign and six digits ("+275760-09-13T00:00:00.000Z"), which sorted
    // before every stored "2026-..." as text: the latest Date as an open upper bound returned no event, and a
    // lower bound in year 10000 returned them all.
    let now = Date.parse("2026-01-01T00:00:00.000Z");
    const clock = () => {
      now += 1000;
      return new Date(now);
    };
    const log = await AuditLog.open(tempDir(), { clock });
    for (let i = 0; i < 3; i++) await log.append(decryptEvent());
    const latest = new Date(8.64e15);
    const earliest = new Date(-8.64e15);
    const year10000 = new Date("+010000-01-01T00:00:00.000Z");
    const yearMinus1 = new Date("-000001-12-31T23:59:59.999Z");
    expect(log.query({ to: latest })).toHaveLength(3);
    expect(log.query({ to: year10000 })).toHaveLength(3);
    expect(log.query({ from: year10000 })).toHaveLength(0);
    expect(log.query({ from: latest })).toHaveLength(0);
    expect(log.query({ from: earliest, to: latest })).toHaveLength(3);
    expect(log.query({ to: yearMinus1 })).toHaveLength(0);
    expect(log.query({ from: yearMinus1 })).toHaveLength(3);
    // Bounds at the edges of the 4-digit years are exact.
    expect(log.query({ from: new Date("9999-12-31T23:59:59.999Z") })).toHaveLength(0);
    expect(log.query({ to: new Date("0000-01-01T00:00:00.000Z") })).toHaveLength(0);
    // An event time outside those years is refused: its text would not sort among the others.
    await expect(log.append(decryptEvent(ALICE, KEY_A, { eventTime: year10000 }))).rejects.toThrow(TypeError);
    await expect(log.append(decryptEvent(ALICE, KEY_A, { eventTime: yearMinus1 }))).rejects.toThrow(
      TypeError,
    );
    expect(log.query({})).toHaveLength(3);
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });

  it("commits thousands of concurrent appends in batches, all in one chain", {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir, { digestEvery: 500 });
    const results = await Promise.all(
      Array.from({ length: 64 }, async (_, worker) => {
        const out = [];
        for (let i = 0; i < 50; i++) out.push(await log.append(decryptEvent(worker % 2 ? ALICE : BOB)));
        return out;
      }),
    );
    const sequences = results
      .flat()
      .map((e) => e.sequence)
      .sort((a, b) => a - b);
    expect(sequences).toEqual(Array.from({ length: 3200 }, (_, i) => i + 1));
    const { batches, largestBatch } = log.diagnostics();
    expect(largestBatch).toBeGreaterThan(1);
    expect(batches).toBeLessThan(3200);
    expect(log.stats()).toMatchObject({ appended: 3200, pending: 0, lastSequence: 3200, lagMs: 0 });
    const report = await log.verify();
    expect(report).toMatchObject({ ok: true, events: 3200, problems: [] });
    expect(report.digests).toBeGreaterThanOrEqual(6);
    await log.close();
    const reopened = await AuditLog.open(dir);
    const all = reopened.query({ after: 0, limit: 100_000 });
    expect(all).toHaveLength(3200);
    for (let i = 1; i < all.length; i++) expect(all[i]!.prevHash).toBe(all[i - 1]!.hash);
    expect(await reopened.verify()).toMatchObject({ ok: true, eventsAfterLastDigest: 0 });
    await reopened.close();
  });

  it("refuses plaintext, ciphertext blobs, key material and binary values anywhere in parameters", async () => {
    const log = await AuditLog.open(tempDir());
    const refused: Partial<AuditEventInput>[] = [
      { requestParameters: { keyId: KEY_A, Plaintext: "secret" } },
      { requestParameters: { keyId: KEY_A, nested: { plaintext: "secret" } } },
      { requestParameters: { CiphertextBlob: "AQID" } },
      { responseElements: { KeyMaterial: "AAAA" } },
      { responseElements: { items: [{ data: new Uint8Array([1, 2, 3]) }] } },
      { requestParameters: { blob: Buffer.from("secret") } },
      { requestParameters: { blob: new ArrayBuffer(4) } },
    ];
    for (const extra of refused) {
      await expect(log.append(decryptEvent(ALICE, KEY_A, extra))).rejects.toThrow(TypeError);
    }
    await expect(
      log.append({ eventName: "", caller: { principal: ALICE, account: ACCOUNT } }),
    ).rejects.toThrow(/"eventName" expected a non-empty string/);
    await expect(log.append({ eventName: "Decrypt" } as unknown as AuditEventInput)).rejects.toThrow(
      TypeError,
    );
    await expect(
      log.append({ ...decryptEvent(), requestParameters: { n: 10n } as unknown as Record<string, unknown> }),
    ).rejects.toThrow(TypeError);
    // Too big even with every long string cut to 1,024 characters.
    const members = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`m${i}`, "x".repeat(2000)]));
    await expect(
      log.append(decryptEvent(ALICE, KEY_A, { requestParameters: { keyId: KEY_A, ...members } })),
    ).rejects.toThrow(RangeError);
    expect(log.stats().lastSequence).toBe(0);
    expect((await log.verify()).events).toBe(0);
    // One huge value is recorded, cut (a refused request with a huge parameter is still audited).
    const cut = await log.append(
      decryptEvent(ALICE, KEY_A, { requestParameters: { keyId: KEY_A, big: "x".repeat(300_000) } }),
    );
    expect((cut.requestParameters as { big: string }).big).toBe(
      `${"x".repeat(1024)}...(300000 characters, cut in the audit log)`,
    );
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });

  it("keeps a copy of the input, so later changes by the caller do not reach the log", async () => {
    const log = await AuditLog.open(tempDir());
    const input = decryptEvent();
    const pending = log.append(input);
    (input.requestParameters as Record<string, unknown>).keyId = "changed";
    expect((await pending).requestParameters?.keyId).toBe(KEY_A);
    expect(log.query({})[0]?.requestParameters?.keyId).toBe(KEY_A);
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });

  it("maps callers to CloudTrail identity types and writes a digest on the interval", async () => {
    const log = await AuditLog.open(tempDir(), { digestIntervalMs: 50 });
    const root = await log.append({
      eventName: "CreateKey",
      caller: { principal: `arn:aws:iam::${ACCOUNT}:root`, account: ACCOUNT },
    });
    expect(root.userIdentity).toMatchObject({ type: "Root", principalId: ACCOUNT });
    expect(root.readOnly).toBe(false);
    const service = await log.append({
      eventName: "Decrypt",
      caller: { principal: "s3.amazonaws.com", account: ACCOUNT, viaService: "s3.amazonaws.com" },
    });
    expect(service.userIdentity).toMatchObject({ type: "AWSService", invokedBy: "s3.amazonaws.com" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(log.digests().at(-1)?.lastSequence).toBe(2);
    expect(await log.verify()).toMatchObject({ ok: true, eventsAfterLastDigest: 0 });
    await log.close();
  });

  it("writes the interval digest with a batch when the writer is never idle", async () => {
    const log = await AuditLog.open(tempDir(), { digestIntervalMs: 30, digestEvery: 1_000_000 });
    const until = Date.now() + 250;
    // Two loops keep a batch in flight or pending at all times.
    await Promise.all(
      [0, 1].map(async () => {
        while (Date.now() < until) await log.append(decryptEvent());
      }),
    );
    const digests = log.digests();
    expect(digests.length).toBeGreaterThan(1);
    expect(await log.verify()).toMatchObject({ ok: true });
    await log.close();
  });

  it("reports pending events and their lag while a batch is being written", async () => {
    const log = await AuditLog.open(tempDir());
    const pending = Promise.all(Array.from({ length: 10 }, () => log.append(decryptEvent())));
    await new Promise((resolve) => setImmediate(resolve));
    const during = log.stats();
    expect(during.pending).toBe(10);
    expect(during.lastSequence).toBe(0);
    await pending;
    expect(log.stats()).toMatchObject({ appended: 10, pending: 0, lastSequence: 10, lagMs: 0 });
    await log.close();
  });

  it("refuses bad options and a signing key that is not a private Ed25519 key accessible by its owner only", async () => {
    const dir = tempDir();
    await expect(AuditLog.open(dir, { digestEvery: 0 })).rejects.toThrow(RangeError);
    await expect(AuditLog.open(dir, { digestIntervalMs: 1.5 })).rejects.toThrow(RangeError);
    await expect(AuditLog.open("")).rejects.toThrow(TypeError);
    const log = await AuditLog.open(dir);
    await log.close();
    const keyPath = join(dir, "audit-signing.key");
    chmodSync(keyPath, 0o644);
    await expect(AuditLog.open(dir)).rejects.toThrow(/mode 0644; it must be accessible by its owner only/);
    // The same typed error as a bad root key file: KMSInternalException, not a plain Error.
    await expect(AuditLog.open(dir)).rejects.toMatchObject({ awsName: "KMSInternalException" });
    chmodSync(keyPath, 0o600);
    writeFileSync(keyPath, "not a PEM");
    await expect(AuditLog.open(dir)).rejects.toMatchObject({
      awsName: "KMSInternalException",
      message: expect.stringMatching(/audit signing key .* cannot be read or created/),
    });
    const other = join(tempDir(), "not-ed25519.key");
    const { generateKeyPairSync } = await import("node:crypto");
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    writeFileSync(other, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    await expect(AuditLog.open(tempDir(), { signingKey: other })).rejects.toMatchObject({
      awsName: "KMSInternalException",
      message: expect.stringMatching(/not an Ed25519 private key/),
    });
  });

  it("refuses a signing key path that is not a regular file (a FIFO would block open forever)", async () => {
    const dir = tempDir();
    const fifo = join(dir, "audit-signing.key");
    execFileSync("mkfifo", ["-m", "600", fifo]);
    const opened = AuditLog.open(dir).then(
      async (log) => {
        await log.close();
        return "opened";
      },
      (error: unknown) => error,
    );
    const outcome = await Promise.race([opened, new Promise((resolve) => setTimeout(resolve, 3000, "hung"))]);
    if (outcome === "hung") {
      // Unblock the read so that the test's thread pool is not left stuck.
      writeFileSync(fifo, "");
    }
    expect(outcome).toMatchObject({
      awsName: "KMSInternalException",
      message: expect.stringMatching(/audit signing key .* is not a regular file/),
    });
  });
});
