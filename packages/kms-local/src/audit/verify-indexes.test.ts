// Tampering with audit.db's indexes and schema: query() reads through the indexes, verify() reads the table, so an
// index that no longer matches its table (rebuilt without some rows, then its definition restored in sqlite_master)
// makes queries hide events while every row still verifies. verify() must catch that.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { AuditLog, verifyAuditFile } from "./index.js";

const ACCOUNT = "111122223333";
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
const KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/aaaaaaaa-0000-4000-8000-000000000001`;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A closed log of 35 events (every third an Encrypt, the rest Decrypts of KEY) and its public key. */
async function makeLog(): Promise<{ dir: string; publicKey: string }> {
  const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-index-"));
  dirs.push(dir);
  const log = await AuditLog.open(dir, { digestEvery: 10 });
  for (let i = 1; i <= 35; i++) {
    await log.append({
      eventName: i % 3 === 0 ? "Encrypt" : "Decrypt",
      caller: { principal: ALICE, account: ACCOUNT },
      keyId: KEY,
    });
  }
  const publicKey = log.publicKeyPem;
  await log.close();
  return { dir, publicKey };
}

/**
 * Runs SQL as someone with write access to the file and any SQLite tool would: schema writes allowed (the sqlite3
 * shell's `.dbconfig defensive off` and `PRAGMA writable_schema`; better-sqlite3's unsafe mode does the same).
 */
function tamper(dir: string, sql: string): void {
  const db = new Database(join(dir, "audit.db"));
  try {
    db.unsafeMode(true);
    db.exec(sql);
  } finally {
    db.close();
  }
}

/** The index on key_id rebuilt without the Decrypt events, its definition in sqlite_master put back as it was. */
const HIDE_DECRYPTS_FROM_KEY_INDEX = `
  DROP INDEX audit_events_key;
  CREATE INDEX audit_events_key ON audit_events (key_id) WHERE key_id IS NOT NULL AND event_name <> 'Decrypt';
  PRAGMA writable_schema = ON;
  UPDATE sqlite_master SET sql = 'CREATE INDEX audit_events_key ON audit_events (key_id) WHERE key_id IS NOT NULL'
    WHERE name = 'audit_events_key';
  PRAGMA writable_schema = OFF;
`;

async function verifyOpen(dir: string) {
  const log = await AuditLog.open(dir, { digestEvery: 10 });
  try {
    return { report: await log.verify(), byKey: log.query({ keyId: KEY }).length };
  } finally {
    await log.close();
  }
}

describe("verify and the indexes queries read", { timeout: 30_000 }, () => {
  it("catches an index rebuilt without some events (queries by key no longer return them)", async () => {
    const { dir, publicKey } = await makeLog();
    tamper(dir, HIDE_DECRYPTS_FROM_KEY_INDEX);
    const { report, byKey } = await verifyOpen(dir);
    // The attack works: 24 of the 35 events of KEY are gone from queries by key.
    expect(byKey).toBe(11);
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.kind === "edited" && /audit_events_key/.test(p.detail))).toBe(true);
    const offline = await verifyAuditFile(join(dir, "audit.db"), publicKey);
    expect(offline.ok).toBe(false);
    expect(offline.problems.some((p) => /audit_events_key/.test(p.detail))).toBe(true);
  });

  it("catches an index on the event time that lost entries (a time-range query skips them)", async () => {
    const { dir, publicKey } = await makeLog();
    tamper(
      dir,
      `
      DROP INDEX audit_events_time;
      CREATE INDEX audit_events_time ON audit_events (event_time) WHERE sequence <> 20;
      PRAGMA writable_schema = ON;
      UPDATE sqlite_master SET sql = 'CREATE INDEX audit_events_time ON audit_events (event_time)'
        WHERE name = 'audit_events_time';
      PRAGMA writable_schema = OFF;
    `,
    );
    const report = await verifyAuditFile(join(dir, "audit.db"), publicKey);
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => /audit_events_time/.test(p.detail))).toBe(true);
    // The row the index lost is named.
    expect(report.problems.some((p) => p.sequence === 20)).toBe(true);
  });

  it("catches an index whose definition was changed, a dropped index, and a trigger added on the events", async () => {
    for (const sql of [
      `DROP INDEX audit_events_principal;
       CREATE INDEX audit_events_principal ON audit_events (principal) WHERE event_name <> 'Decrypt';`,
      "DROP INDEX audit_events_errors;",
      "CREATE TRIGGER hide AFTER INSERT ON audit_events BEGIN SELECT 1; END;",
    ]) {
      const { dir, publicKey } = await makeLog();
      tamper(dir, sql);
      const report = await verifyAuditFile(join(dir, "audit.db"), publicKey);
      expect(report.ok, sql).toBe(false);
      expect(report.problems.map((p) => p.kind)).toContain("edited");
    }
  });

  it("passes an untouched log, and one holding other tables of the operator's own", async () => {
    const { dir, publicKey } = await makeLog();
    expect((await verifyAuditFile(join(dir, "audit.db"), publicKey)).ok).toBe(true);
    tamper(dir, "CREATE TABLE notes (text TEXT); CREATE INDEX notes_text ON notes (text);");
    expect((await verifyAuditFile(join(dir, "audit.db"), publicKey)).ok).toBe(true);
  });
});
