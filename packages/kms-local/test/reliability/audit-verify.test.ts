// Audit verification as an operator and an attacker meet it: files that are not audit logs, a locked file,
// rows holding values of the wrong type, and a rollback of the file under a running log.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import {
  copyFileSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { type AuditDigest, AuditLog, verifyAuditFile } from "../../src/audit/index.js";
import { fillFileSystem, probeStoreFaults } from "../../src/audit/store-faults.js";
import { KmsError } from "../../src/errors.js";
import { tempDirs } from "./support.js";

const ACCOUNT = "111122223333";
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

const tempDir = tempDirs("sealkit-audit-verify-");

async function appendSome(log: AuditLog, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await log.append({
      eventName: "Decrypt",
      caller: { principal: ALICE, account: ACCOUNT },
      requestParameters: { n: i },
    });
  }
}

/** A closed log of 35 events with digests at 10, 20, 30 and 35; returns its dir and public key. */
async function closedLog(): Promise<{ dir: string; db: string; pem: string }> {
  const dir = tempDir();
  const log = await AuditLog.open(dir, { digestEvery: 10 });
  await appendSome(log, 35);
  await log.close();
  return { dir, db: join(dir, "audit.db"), pem: readFileSync(join(dir, "audit-signing.key.pub"), "utf8") };
}

function tamper(path: string, sql: string): void {
  const db = new Database(path);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

async function unreadable(run: Promise<unknown>): Promise<{ code: string; reason: string; message: string }> {
  const outcome = await run.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  expect(outcome).toHaveProperty("error");
  const error = (outcome as { error: { code: string; reason: string; message: string } }).error;
  expect(error.code).toBe("SEALKIT_AUDIT_UNREADABLE");
  return error;
}

describe("verifying something that is not a readable audit log", { timeout: 30_000 }, () => {
  it("reports each kind of file precisely, with a stable code, never as a report", async () => {
    const { dir, db, pem } = await closedLog();
    const file = (name: string, content: string | Buffer) => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    };
    const notSqlite = file("text.db", "this is not a database\n".repeat(200));
    expect(await unreadable(verifyAuditFile(notSqlite, pem))).toMatchObject({ reason: "not-sqlite" });
    const empty = file("empty.db", "");
    expect(await unreadable(verifyAuditFile(empty, pem))).toMatchObject({ reason: "not-an-audit-log" });
    const other = join(dir, "other.db");
    tamper(other, "CREATE TABLE audit_events (x); PRAGMA user_version = 1");
    const otherError = await unreadable(verifyAuditFile(other, pem));
    expect(otherError.reason).toBe("not-an-audit-log");
    expect(otherError.message).toContain("missing audit_digests");
    const missing = await unreadable(verifyAuditFile(join(dir, "nope.db"), pem));
    expect(missing.reason).toBe("missing");
    const newer = join(dir, "newer.db");
    copyFileSync(db, newer);
    tamper(newer, "PRAGMA user_version = 7");
    const newerError = await unreadable(verifyAuditFile(newer, pem));
    expect(newerError.reason).toBe("schema-version");
    expect(newerError.message).toMatch(/schema version 7; this code verifies up to 1/);
    const cut = join(dir, "cut.db");
    copyFileSync(db, cut);
    tamper(cut, "PRAGMA wal_checkpoint(TRUNCATE)");
    truncateSync(cut, 4096 * 3);
    const cutError = await unreadable(verifyAuditFile(cut, pem));
    expect(["corrupt", "not-an-audit-log"]).toContain(cutError.reason);
  });

  it("says where the rest is when audit.db was copied without its WAL", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir);
    try {
      await appendSome(log, 3);
      // Everything so far is in audit.db-wal: a copy of audit.db alone is an empty database.
      const copy = join(tempDir(), "audit.db");
      copyFileSync(join(dir, "audit.db"), copy);
      const pem = readFileSync(join(dir, "audit-signing.key.pub"), "utf8");
      const error = await unreadable(verifyAuditFile(copy, pem));
      expect(error.reason).toBe("not-an-audit-log");
      expect(error.message).toContain(`its newest pages are in ${copy}-wal: copy that file with it`);
    } finally {
      await log.close();
    }
  });

  it("reports a log locked by another process as locked, after a bounded wait", async () => {
    const { db, pem } = await closedLog();
    const betterSqlite = createRequire(import.meta.url).resolve("better-sqlite3");
    const child = spawn(
      process.execPath,
      [
        "-e",
        `const D = require(${JSON.stringify(betterSqlite)}); const d = new D(${JSON.stringify(db)});
         d.pragma("journal_mode = DELETE"); d.pragma("locking_mode = EXCLUSIVE"); d.exec("BEGIN EXCLUSIVE");
         d.exec("CREATE TABLE IF NOT EXISTS x (a)"); console.log("locked"); setInterval(() => {}, 60000);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(child);
    await new Promise((resolve) => child.stdout!.once("data", resolve));
    const started = Date.now();
    const error = await unreadable(verifyAuditFile(db, pem));
    expect(error.reason).toBe("locked");
    expect(Date.now() - started).toBeLessThan(4000);
    child.kill("SIGKILL");
  });

  it("opening a data dir whose audit.db is not SQLite fails with KMSInternalException naming the file", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "audit.db"), "garbage ".repeat(1000));
    const error = await AuditLog.open(dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(KmsError.isInstance(error, "KMSInternalException")).toBe(true);
    expect((error as Error).message).toMatch(/audit\.db is not a SQLite database/);
  });
});

describe("rows and kept digests of the wrong type", { timeout: 30_000 }, () => {
  it("reports a digest whose signature is NULL (table rebuilt without constraints) instead of throwing", async () => {
    const { db, pem } = await closedLog();
    tamper(
      db,
      `ALTER TABLE audit_digests RENAME TO old_digests;
       CREATE TABLE audit_digests AS SELECT * FROM old_digests; DROP TABLE old_digests;
       UPDATE audit_digests SET signature = NULL WHERE digest_number = 2;`,
    );
    const report = await verifyAuditFile(db, pem);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(
      expect.objectContaining({ kind: "bad-digest-signature", sequence: 20 }),
    );
    // The rebuilt table itself is reported too (its definition is not the log's own).
    expect(report.problems).toContainEqual(
      expect.objectContaining({ kind: "edited", detail: expect.stringContaining("audit_digests") }),
    );
  });

  it("reports kept digests that are malformed instead of throwing", async () => {
    const { db, pem } = await closedLog();
    const knownDigests = [
      { digestNumber: 9, lastSequence: 90 } as unknown as AuditDigest,
      null as unknown as AuditDigest,
    ];
    const report = await verifyAuditFile(db, pem, { knownDigests });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: "bad-digest-signature", sequence: 90 }),
    ]);
  });
});

describe("a rollback under a running log", { timeout: 30_000 }, () => {
  it("catches the newest digest deleted together with its events, without digests kept elsewhere", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir, { digestEvery: 10 });
    try {
      await appendSome(log, 35);
      await log.writeDigest();
      expect((await log.verify()).ok).toBe(true);
      // What restoring an older copy of audit.db amounts to: the newest digest and its events are gone.
      tamper(
        join(dir, "audit.db"),
        "DELETE FROM audit_digests WHERE digest_number = 4; DELETE FROM audit_events WHERE sequence > 30",
      );
      const report = await log.verify();
      expect(report.ok).toBe(false);
      expect(report.problems[0]).toMatchObject({ kind: "truncated-after-digest", sequence: 31 });
    } finally {
      await log.close().catch(() => undefined);
    }
  });

  it("catches events deleted after the last digest while the log runs", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir, { digestEvery: 10 });
    try {
      await appendSome(log, 25);
      expect(await log.verify()).toMatchObject({
        ok: true,
        lastDigestSequence: 20,
        eventsAfterLastDigest: 5,
      });
      tamper(join(dir, "audit.db"), "DELETE FROM audit_events WHERE sequence > 22");
      const report = await log.verify();
      expect(report.ok).toBe(false);
      expect(report.problems).toEqual([
        expect.objectContaining({ kind: "truncated-after-digest", sequence: 23 }),
      ]);
      expect(report.problems[0]!.detail).toContain("23..25");
    } finally {
      await log.close().catch(() => undefined);
    }
  });
});

describe("a signing key replaced in the data dir", { timeout: 30_000 }, () => {
  it("is refused by open when the public key kept outside is given as trustedPublicKey", async () => {
    const { dir, pem } = await closedLog();
    // Write access to the data dir is enough: the attacker replaces the key file with one of their own.
    const { privateKey } = generateKeyPairSync("ed25519");
    const keyPath = join(dir, "audit-signing.key");
    rmSync(keyPath);
    writeFileSync(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    const error = await AuditLog.open(dir, { trustedPublicKey: pem }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(KmsError.isInstance(error, "KMSInternalException")).toBe(true);
    expect((error as Error).message).toMatch(/not the trusted one .*replaced or regenerated/);
    // Deleted (so that open would make a new one): refused too.
    rmSync(keyPath);
    await expect(AuditLog.open(dir, { trustedPublicKey: pem })).rejects.toThrow(/not the trusted one/);
    await expect(AuditLog.open(dir, { trustedPublicKey: "not a key" })).rejects.toBeInstanceOf(TypeError);
  });

  it("opens with the original key and the matching trustedPublicKey", async () => {
    const { dir, pem } = await closedLog();
    const log = await AuditLog.open(dir, { trustedPublicKey: pem });
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });
});

describe("one writer per audit log", { timeout: 30_000 }, () => {
  it("refuses a second AuditLog on the same audit.db until the first is closed", async () => {
    const dir = tempDir();
    const first = await AuditLog.open(dir);
    await appendSome(first, 3);
    const error = await AuditLog.open(dir).then(
      (second) => second.close().then(() => undefined),
      (e: unknown) => e,
    );
    expect(KmsError.isInstance(error, "KMSInternalException")).toBe(true);
    expect((error as Error).message).toMatch(/already open/);
    // The first one was not disturbed: no digest or key row slipped in, its next appends go through.
    await appendSome(first, 2);
    expect(await first.verify()).toMatchObject({ ok: true, events: 5 });
    await first.close();
    const again = await AuditLog.open(dir);
    expect((await again.verify()).ok).toBe(true);
    await again.close();
  });
});

describe("the signing key on a full disk", { timeout: 30_000 }, () => {
  it.skipIf(!probeStoreFaults().canMount)(
    "a full disk while the signing key is created leaves no key file behind, and the next open works",
    async () => {
      const mountPoint = tempDir();
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint]);
      try {
        const dataDir = join(mountPoint, "data");
        const filler = fillFileSystem(mountPoint);
        const error = await AuditLog.open(dataDir).then(
          (log) => log.close().then(() => undefined),
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(Error);
        expect(String((error as Error).message)).toMatch(/ENOSPC|no space/i);
        // No empty or partial audit-signing.key, which would have made every later open fail.
        expect(readdirSync(dataDir).filter((name) => name.startsWith("audit-signing.key"))).toEqual([]);
        unlinkSync(filler);
        const log = await AuditLog.open(dataDir);
        await appendSome(log, 2);
        expect((await log.verify()).ok).toBe(true);
        await log.close();
      } finally {
        execFileSync("umount", ["-l", mountPoint]);
      }
    },
  );
});
