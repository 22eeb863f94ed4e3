// Fail-closed tests with really unwritable stores: a full 1 MB tmpfs, an immutable (chattr +i) WAL, a locked database.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { KmsError } from "../errors.js";
import { type AuditEventInput, AuditLog } from "./index.js";
import { fillFileSystem, probeStoreFaults, tryRun } from "./store-faults.js";

const ACCOUNT = "111122223333";
const event = (n: number): AuditEventInput => ({
  eventName: "GenerateDataKey",
  caller: { principal: `arn:aws:iam::${ACCOUNT}:user/alice`, account: ACCOUNT },
  requestParameters: { keyId: "alias/app", n, padding: "x".repeat(400) },
  keyId: `arn:aws:kms:us-east-1:${ACCOUNT}:key/aaaaaaaa-0000-4000-8000-000000000001`,
});

const { canMount, canChattr } = probeStoreFaults();

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

async function expectRejectedBatch(log: AuditLog, count: number): Promise<void> {
  const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => log.append(event(i))));
  for (const result of results) {
    expect(result.status).toBe("rejected");
    const reason = (result as PromiseRejectedResult).reason;
    expect(KmsError.isInstance(reason, "KMSInternalException")).toBe(true);
    expect(String(reason.message)).toContain("audit log is unavailable");
  }
}

describe("fail closed", { timeout: 30_000 }, () => {
  it.skipIf(!canMount)("rejects every append of a batch when the disk is full, then recovers", async () => {
    const mountPoint = mkdtempSync(join(tmpdir(), "sealkit-audit-tmpfs-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint]);
    cleanups.push(() => {
      execFileSync("umount", ["-l", mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    });
    const log = await AuditLog.open(mountPoint, { digestEvery: 1_000_000 });
    cleanups.push(() => void log.close().catch(() => undefined));
    for (let i = 0; i < 5; i++) await log.append(event(i));
    const before = log.stats().lastSequence;
    const filler = fillFileSystem(mountPoint);

    await expectRejectedBatch(log, 400);
    expect(log.stats().lastSequence).toBe(before);
    expect(log.diagnostics().lastError).toBeDefined();
    // Still full: the next attempt fails the same way, and nothing is acknowledged.
    await expectRejectedBatch(log, 400);

    unlinkSync(filler);
    const next = await log.append(event(99));
    expect(next.sequence).toBe(before + 1);
    expect(log.query({ after: 0, limit: 1000 }).map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(log.query({ after: before - 1, limit: 1 })[0]?.hash).toBe(next.prevHash);
    expect(await log.verify()).toMatchObject({ ok: true, events: 6 });
  });

  it.skipIf(!canChattr)(
    "rejects appends while the WAL file is immutable (chattr +i), then recovers",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-immutable-"));
      const wal = join(dir, "audit.db-wal");
      cleanups.push(() => {
        tryRun("chattr", ["-i", wal]);
        rmSync(dir, { recursive: true, force: true });
      });
      const log = await AuditLog.open(dir, { digestEvery: 1_000_000 });
      cleanups.push(() => void log.close().catch(() => undefined));
      await log.append(event(1));
      execFileSync("chattr", ["+i", wal]);

      await expectRejectedBatch(log, 50);
      expect(log.stats().lastSequence).toBe(1);

      execFileSync("chattr", ["-i", wal]);
      const next = await log.append(event(2));
      expect(next.sequence).toBe(2);
      expect(await log.verify()).toMatchObject({ ok: true, events: 2 });
    },
  );

  it("rejects appends while another connection holds the write lock past the busy timeout, then recovers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-locked-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = await AuditLog.open(dir, { digestEvery: 1_000_000 });
    cleanups.push(() => void log.close().catch(() => undefined));
    await log.append(event(1));
    const intruder = new Database(join(dir, "audit.db"));
    intruder.exec("BEGIN IMMEDIATE");
    try {
      const started = Date.now();
      await expectRejectedBatch(log, 20);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500); // it waited for the lock (busy_timeout 2 s)
      expect(log.stats().lastSequence).toBe(1);
    } finally {
      intruder.exec("ROLLBACK");
      intruder.close();
    }
    expect((await log.append(event(2))).sequence).toBe(2);
    expect(await log.verify()).toMatchObject({ ok: true, events: 2 });
  });

  it("fails the batch sent behind a failed one too, acknowledges none of them, and continues from the durable head", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-pipelined-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = await AuditLog.open(dir, { digestEvery: 1_000_000 });
    cleanups.push(() => void log.close().catch(() => undefined));
    const head = await log.append(event(1));
    const intruder = new Database(join(dir, "audit.db"));
    intruder.exec("BEGIN IMMEDIATE");
    let first: PromiseSettledResult<unknown>[];
    let second: PromiseSettledResult<unknown>[];
    try {
      const firstBatch = Promise.allSettled(Array.from({ length: 5 }, (_, i) => log.append(event(10 + i))));
      await new Promise((resolve) => setImmediate(resolve));
      const secondBatch = Promise.allSettled(Array.from({ length: 7 }, (_, i) => log.append(event(20 + i))));
      await new Promise((resolve) => setImmediate(resolve));
      // Both batches were hashed and sent: the second continues the first, which waits for the lock.
      expect(log.diagnostics().inFlight).toBe(2);
      expect(log.stats()).toMatchObject({ pending: 12, lastSequence: 1 });
      // A third group waits in the main thread: at most two batches are in flight.
      const third = Promise.allSettled([log.append(event(30))]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(log.diagnostics().inFlight).toBe(2);
      first = await firstBatch;
      second = await secondBatch;
      intruder.exec("ROLLBACK");
      // Sent after the failure was known and the head re-read: it is committed, right after event 1.
      const [late] = await third;
      expect(late).toMatchObject({ status: "fulfilled", value: { sequence: 2, prevHash: head.hash } });
    } finally {
      if (intruder.inTransaction) intruder.exec("ROLLBACK");
      intruder.close();
    }
    for (const result of [...first, ...second]) {
      expect(result.status).toBe("rejected");
      const reason = (result as PromiseRejectedResult).reason;
      expect(KmsError.isInstance(reason, "KMSInternalException")).toBe(true);
    }
    expect(log.diagnostics().inFlight).toBe(0);
    expect((await log.append(event(3))).sequence).toBe(3);
    expect(log.query({ after: 0 }).map((e) => e.sequence)).toEqual([1, 2, 3]);
    expect(await log.verify()).toMatchObject({ ok: true, events: 3 });
  });

  it("rejects appends after close", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-closed-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = await AuditLog.open(dir);
    await log.close();
    await expect(log.append(event(1))).rejects.toSatisfy((e) =>
      KmsError.isInstance(e, "KMSInternalException"),
    );
  });
});
