// Tampering with audit.db behind a running AuditLog, through a separate SQLite connection: the log must neither
// verify OK afterwards nor adopt what it did not write (and sign it in its next digest) when it re-reads its head
// after a failed write.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { KmsError } from "../errors.js";
import { type AuditEvent, AuditLog, canonicalEventJson, chainHash } from "./index.js";

const ACCOUNT = "111122223333";
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;

const dirs: string[] = [];
const logs: AuditLog[] = [];
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function openLog(): Promise<{ dir: string; log: AuditLog }> {
  const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-running-"));
  dirs.push(dir);
  const log = await AuditLog.open(dir, { digestEvery: 10 });
  logs.push(log);
  return { dir, log };
}

const input = (n: number) => ({
  eventName: "Decrypt",
  caller: { principal: ALICE, account: ACCOUNT },
  requestParameters: { n },
});

async function appendSome(log: AuditLog, count: number): Promise<void> {
  for (let i = 1; i <= count; i++) await log.append(input(i));
}

function connect(dir: string): Database.Database {
  return new Database(join(dir, "audit.db"), { timeout: 5000 });
}

/** Replaces the events from `from` on with forged ones (eventName changed), re-chained, and adds `extra` more. */
function forgeTail(db: Database.Database, from: number, extra = 0): void {
  const rows = db
    .prepare("SELECT sequence, event_json FROM audit_events WHERE sequence >= ? ORDER BY sequence")
    .all(from) as { sequence: number; event_json: string }[];
  const last = db.prepare("SELECT event_json FROM audit_events WHERE sequence = ?").get(from - 1) as {
    event_json: string;
  };
  const template = JSON.parse((rows[0] ?? last).event_json) as AuditEvent;
  const count = rows.length + extra;
  db.prepare("DELETE FROM audit_events WHERE sequence >= ?").run(from);
  let prevHash = (
    db.prepare("SELECT hash FROM audit_events WHERE sequence = ?").get(from - 1) as { hash: string }
  ).hash;
  const insert = db.prepare(
    "INSERT INTO audit_events (sequence, event_time, event_name, principal, key_id, error_code, event_json, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  for (let i = 0; i < count; i++) {
    const event = {
      ...template,
      eventName: "ListKeys",
      eventID: `forged-${i}`,
      sequence: from + i,
      prevHash,
    } as Omit<AuditEvent, "hash">;
    const json = canonicalEventJson(event);
    const hash = chainHash(prevHash, json);
    insert.run(event.sequence, event.eventTime, "ListKeys", ALICE, null, null, json, hash);
    prevHash = hash;
  }
}

async function outcome<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

describe("tampering under a running log", { timeout: 30_000 }, () => {
  it("verify catches the events after the last digest replaced by as many re-chained forgeries", async () => {
    const { dir, log } = await openLog();
    await appendSome(log, 25);
    expect(await log.verify()).toMatchObject({ ok: true, lastDigestSequence: 20, eventsAfterLastDigest: 5 });
    const db = connect(dir);
    db.transaction(() => forgeTail(db, 23))();
    db.close();
    const report = await log.verify();
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ kind: "edited", sequence: 25 });
    expect(report.problems[0]!.detail).toContain("not the event this service wrote");
  });

  it("does not adopt a head rolled back behind its last digest after a failed write", async () => {
    const { dir, log } = await openLog();
    await appendSome(log, 35);
    await log.writeDigest();
    // Delete the newest digest with its events and hold the write lock past the writer's 2 s busy timeout, so
    // that the next batch fails and the log re-reads its head from the file.
    const db = connect(dir);
    db.exec("BEGIN IMMEDIATE");
    db.exec(
      "DELETE FROM audit_digests WHERE digest_number = 4; DELETE FROM audit_events WHERE sequence > 30",
    );
    const failed = await outcome(log.append(input(100)));
    expect(KmsError.isInstance(failed.error, "KMSInternalException")).toBe(true);
    db.exec("COMMIT");
    db.close();
    // The head is now 30 and digest #3: not what this log wrote. It must refuse to continue from there, since
    // its next digest would sign the rollback and the deleted events could never be shown missing.
    const next = await outcome(log.append(input(101)));
    expect(KmsError.isInstance(next.error, "KMSInternalException")).toBe(true);
    expect(String((next.error as Error).message)).toContain("changed outside this service");
    expect(((next.error as Error).cause as { code?: string }).code).toBe("SEALKIT_AUDIT_HEAD_CHANGED");
    expect(log.stats().lastSequence).toBe(35);
    const report = await log.verify();
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ kind: "truncated-after-digest", sequence: 31 });
    // Nor does close sign a digest over it.
    await expect(log.close()).rejects.toThrow(/final digest could not be written/);
    const raw = new Database(join(dir, "audit.db"), { readonly: true });
    expect(raw.prepare("SELECT max(digest_number) AS n FROM audit_digests").get()).toEqual({ n: 3 });
    raw.close();
  });

  it("does not adopt forged events appended after its head (the next batch collides with them)", async () => {
    const { dir, log } = await openLog();
    await appendSome(log, 25);
    const db = connect(dir);
    db.transaction(() => forgeTail(db, 26, 2))();
    db.close();
    // The next batch takes sequence 26, which the forgery holds: it fails, and the log re-reads its head.
    const collided = await outcome(log.append(input(26)));
    expect(KmsError.isInstance(collided.error, "KMSInternalException")).toBe(true);
    const next = await outcome(log.append(input(27)));
    expect(KmsError.isInstance(next.error, "KMSInternalException")).toBe(true);
    expect(String((next.error as Error).message)).toContain("changed outside this service");
    await expect(log.writeDigest()).rejects.toThrow(/digest could not be written/);
    await expect(log.close()).rejects.toThrow(/final digest could not be written/);
    const raw = new Database(join(dir, "audit.db"), { readonly: true });
    // No digest covers the forged events 26 and 27.
    expect(raw.prepare("SELECT max(last_sequence) AS n FROM audit_digests").get()).toEqual({ n: 20 });
    raw.close();
  });

  it("still recovers from a real write failure (a held lock), continuing its own chain", async () => {
    const { dir, log } = await openLog();
    await appendSome(log, 5);
    const db = connect(dir);
    db.exec("BEGIN IMMEDIATE");
    const failed = await outcome(log.append(input(6)));
    expect(KmsError.isInstance(failed.error, "KMSInternalException")).toBe(true);
    db.exec("ROLLBACK");
    db.close();
    expect((await log.append(input(7))).sequence).toBe(6);
    expect(await log.verify()).toMatchObject({ ok: true, events: 6 });
  });

  it("accepts the head that a failed batch committed after all (the writer thread died before answering)", async () => {
    // The writer thread commits, then dies before its answer reaches the main thread: the batch is rejected
    // although its events are on disk (over-recording). Its head is one this log wrote: the log goes on after it.
    const on = Worker.prototype.on;
    let dieAfterNextCommit = false;
    Worker.prototype.on = function (this: Worker, event: string, listener: (...args: unknown[]) => void) {
      if (event !== "message") return on.call(this, event, listener);
      return on.call(this, event, (reply: { ok?: boolean }) => {
        if (dieAfterNextCommit && reply.ok === true) {
          dieAfterNextCommit = false;
          void this.terminate();
          return;
        }
        listener(reply);
      });
    } as typeof Worker.prototype.on;
    try {
      const { log } = await openLog();
      await appendSome(log, 3);
      dieAfterNextCommit = true;
      const lost = await outcome(Promise.all([log.append(input(4)), log.append(input(5))]));
      expect(KmsError.isInstance(lost.error, "KMSInternalException")).toBe(true);
      const next = await log.append(input(6));
      expect(next.sequence).toBe(6);
      expect(await log.verify()).toMatchObject({ ok: true, events: 6 });
      await log.writeDigest();
      expect(await log.verify()).toMatchObject({ ok: true, lastDigestSequence: 6 });
    } finally {
      Worker.prototype.on = on;
    }
  });
});
