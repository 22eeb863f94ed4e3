// A trigger planted in audit.db (by anyone who could write the file once) runs inside the log's own inserts: a
// BEFORE INSERT trigger with RAISE(IGNORE) drops the row without an error, so append() acknowledged an event that was
// never written. The log must refuse to write through a schema that is not its own, at open and while running.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { AuditLog } from "./index.js";
import type { AuditEventInput } from "./types.js";

const ACCOUNT = "111122223333";
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-implant-"));
  dirs.push(dir);
  return dir;
}

const decrypt: AuditEventInput = { eventName: "Decrypt", caller: { principal: ALICE, account: ACCOUNT } };
const encrypt: AuditEventInput = { eventName: "Encrypt", caller: { principal: ALICE, account: ACCOUNT } };

/** Drops every Decrypt row the log inserts, without an error. */
const DROP_DECRYPTS =
  "CREATE TRIGGER drop_decrypts BEFORE INSERT ON audit_events WHEN NEW.event_name = 'Decrypt' BEGIN SELECT RAISE(IGNORE); END";

function plant(dir: string, sql: string): void {
  const db = new Database(join(dir, "audit.db"));
  try {
    db.pragma("busy_timeout = 5000");
    db.exec(sql);
  } finally {
    db.close();
  }
}

function rows(dir: string): string[] {
  const db = new Database(join(dir, "audit.db"), { readonly: true });
  try {
    return (
      db.prepare("SELECT event_name FROM audit_events ORDER BY sequence").all() as { event_name: string }[]
    ).map((r) => r.event_name);
  } finally {
    db.close();
  }
}

describe("a schema the log did not make", { timeout: 30_000 }, () => {
  it("is refused at open: nothing is acknowledged through a planted trigger", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir);
    await log.append(encrypt);
    await log.close();
    plant(dir, DROP_DECRYPTS);
    let reopened: AuditLog | undefined;
    let refused: unknown;
    try {
      reopened = await AuditLog.open(dir);
      await reopened.append(decrypt);
    } catch (error) {
      refused = error;
    }
    await reopened?.close().catch(() => undefined);
    expect(refused).toMatchObject({ awsName: "KMSInternalException" });
    expect(String((refused as Error).message)).toMatch(/drop_decrypts/);
    expect(rows(dir)).toEqual(["Encrypt"]);
  });

  it("is refused at open when the trigger is on another table (audit_public_keys, written at every open)", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir);
    await log.append(encrypt);
    await log.close();
    plant(
      dir,
      "CREATE TRIGGER wipe AFTER INSERT ON audit_public_keys BEGIN DELETE FROM audit_events; DELETE FROM audit_digests; END",
    );
    // Another signing key, so that open inserts its public key row and would fire the trigger.
    rmSync(join(dir, "audit-signing.key"));
    rmSync(join(dir, "audit-signing.key.pub"));
    await expect(AuditLog.open(dir)).rejects.toMatchObject({
      awsName: "KMSInternalException",
      message: expect.stringMatching(/trigger wipe/),
    });
    expect(rows(dir)).toEqual(["Encrypt"]);
  });

  it("is refused while running: a trigger planted under the open log fails the next batch (fail closed)", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir);
    await log.append(encrypt);
    plant(dir, DROP_DECRYPTS);
    await expect(log.append(decrypt)).rejects.toMatchObject({ awsName: "KMSInternalException" });
    await expect(log.append(encrypt)).rejects.toMatchObject({ awsName: "KMSInternalException" });
    expect(rows(dir)).toEqual(["Encrypt"]);
    // Removed: the log writes again, continuing its chain.
    plant(dir, "DROP TRIGGER drop_decrypts");
    const event = await log.append(decrypt);
    expect(event.sequence).toBe(2);
    expect(rows(dir)).toEqual(["Encrypt", "Decrypt"]);
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });
});
