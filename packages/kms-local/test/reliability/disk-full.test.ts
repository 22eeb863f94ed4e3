// A full disk (a real ENOSPC: a small tmpfs filled to the last byte) under a running LocalKms and at open, and an
// immutable kms.db-wal (chattr +i; a remount read-only is refused while the KMS holds files open for writing): every
// failed call is a typed KMSInternalException, no acknowledged change is lost, nothing is corrupted, the audit log
// never claims a change that was not made, and everything works again once space returns.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readlinkSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/index.js";
import { fillFileSystem, probeStoreFaults } from "../../src/audit/store-faults.js";
import { KmsError } from "../../src/errors.js";
import { LocalKms } from "../../src/local-kms.js";
import { ROOT, testClock } from "../../src/test-helpers.js";

const { canMount, canChattr } = probeStoreFaults();
if (!canMount) console.warn("disk-full: mounting a tmpfs needs root; these cases are skipped");

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A 2 MiB tmpfs, unmounted after the test. */
function smallDisk(): string {
  const mountPoint = tempDir("kms-local-full-");
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint]);
  cleanups.push(() => {
    execFileSync("umount", ["-l", mountPoint]);
  });
  return mountPoint;
}

async function rejection(run: Promise<unknown>): Promise<Error> {
  return run.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error as Error,
  );
}

function expectDiskFull(error: Error): void {
  expect(KmsError.isInstance(error, "KMSInternalException"), String(error)).toBe(true);
}

function integrity(dataDir: string): { ok: string; keys: number; versions: number } {
  const db = new Database(join(dataDir, "kms.db"), { readonly: true });
  try {
    return {
      ok: (db.pragma("integrity_check", { simple: true }) as string) ?? "",
      keys: (db.prepare("SELECT count(*) AS n FROM keys").get() as { n: number }).n,
      versions: (db.prepare("SELECT count(*) AS n FROM key_versions").get() as { n: number }).n,
    };
  } finally {
    db.close();
  }
}

const bytes = (n: number) => new Uint8Array(Array.from({ length: 16 }, (_, i) => (n * 31 + i) & 0xff));

describe.skipIf(!canMount)("a full disk", { timeout: 60_000 }, () => {
  it("a change whose kms.db commit fails after its audit event is durable is rolled back, refused with a typed error and audited as not made", async () => {
    // kms.db on the full disk, the audit log (a real AuditLog) on another one: the audit event of a change is
    // durable, then COMMIT fails with SQLITE_FULL, since in WAL mode the pages reach the disk only at COMMIT.
    const dataDir = join(smallDisk(), "data");
    const auditDir = tempDir("kms-local-full-audit-");
    const t = testClock();
    const audit = await AuditLog.open(auditDir, { clock: t.clock });
    const kms = await LocalKms.open({ dataDir, audit, clock: t.clock });
    let closed = false;
    cleanups.push(async () => {
      if (!closed) await kms.close().catch(() => undefined);
      await audit.close().catch(() => undefined);
    });
    const keyId = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    const rotating = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    await kms.enableKeyRotation(ROOT, { KeyId: rotating, RotationPeriodInDays: 90 });
    const doomed = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    await kms.scheduleKeyDeletion(ROOT, { KeyId: doomed, PendingWindowInDays: 7 });
    const blob = (await kms.encrypt(ROOT, { KeyId: keyId, Plaintext: bytes(1) })).CiphertextBlob;
    const before = integrity(dataDir);

    const filler = fillFileSystem(dataDir);
    const refused = [
      await rejection(kms.createKey(ROOT, { Description: "made while full" })),
      await rejection(kms.rotateKeyOnDemand(ROOT, { KeyId: keyId })),
      await rejection(kms.createAlias(ROOT, { AliasName: "alias/while-full", TargetKeyId: keyId })),
    ];
    for (const error of refused) {
      expectDiskFull(error);
      expect(error.message).toMatch(
        /kms\.db could not be written \(the disk holding the data dir is full: SQLITE_FULL\)/,
      );
    }
    // Cryptography writes nothing to kms.db (usage counts wait in memory): it goes on while only kms.db's disk is full.
    expect([...(await kms.decrypt(ROOT, { CiphertextBlob: blob })).Plaintext]).toEqual([...bytes(1)]);
    // The automatic rotation and the deletion that fall due now cannot commit either: they are not made.
    t.advanceDays(91);
    expect((await kms.describeKey(ROOT, { KeyId: doomed })).KeyMetadata.KeyState).toBe("PendingDeletion");
    expect((await kms.listKeyRotations(ROOT, { KeyId: rotating })).Rotations).toHaveLength(0);
    // Calls meanwhile do not each try again (each try writes two audit events): once a second at most.
    for (let i = 0; i < 20; i++) await kms.describeKey(ROOT, { KeyId: keyId });
    const tries = (name: string) =>
      audit.query({ eventName: name, limit: 1000 }).filter((e) => e.errorCode === "KMSInternalException")
        .length;
    expect(tries("RotateKey")).toBe(1);
    expect(tries("DeleteKey")).toBe(1);
    t.advanceDays(2 / 86_400);
    await kms.describeKey(ROOT, { KeyId: keyId });
    expect(tries("RotateKey")).toBe(2);

    unlinkSync(filler);
    expect(integrity(dataDir)).toEqual(before);
    t.advanceDays(2 / 86_400);
    // Space is back: the next call runs the due rotation and deletion, and changes work again.
    const made = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    await kms.rotateKeyOnDemand(ROOT, { KeyId: keyId });
    expect((await kms.listKeyRotations(ROOT, { KeyId: rotating })).Rotations).toHaveLength(1);
    expect(
      KmsError.isInstance(await rejection(kms.describeKey(ROOT, { KeyId: doomed })), "NotFoundException"),
    ).toBe(true);
    expect([...(await kms.decrypt(ROOT, { CiphertextBlob: blob })).Plaintext]).toEqual([...bytes(1)]);
    await kms.close();
    closed = true;
    expect(integrity(dataDir)).toMatchObject({ ok: "ok", keys: before.keys, versions: before.versions + 2 });
    // LocalKms closes the sink it was given: the log is reopened for the restart and the checks below.
    const log = await AuditLog.open(auditDir, { clock: t.clock });
    cleanups.push(() => log.close().catch(() => undefined));
    const restarted = await LocalKms.open({
      dataDir,
      audit: { append: (e) => log.append(e) },
      clock: t.clock,
    });
    const ids = (await restarted.listKeys(ROOT, {})).Keys.map((key) => key.KeyId);
    await restarted.close();
    expect(ids.sort()).toEqual([keyId, rotating, made].sort());

    // The audit log: each change refused for the full disk has, after the event that recorded it, an event with the
    // same requestID saying it did not take effect; the log still verifies.
    const events = log.query({ after: 0, limit: 10_000 });
    for (const name of ["CreateKey", "RotateKeyOnDemand", "CreateAlias"]) {
      const failed = events.filter((e) => e.eventName === name && e.errorCode === "KMSInternalException");
      expect(failed.length, name).toBeGreaterThanOrEqual(1);
      for (const f of failed) {
        expect(f.errorMessage).toContain("did not take effect");
        const attempt = events.find((e) => e.requestID === f.requestID && e.sequence < f.sequence);
        expect(attempt, `${name}: the attempt before`).toBeDefined();
      }
    }
    // Service events (RotateKey, DeleteKey) that could not commit are followed by their failure too.
    for (const name of ["RotateKey", "DeleteKey"]) {
      const all = events.filter((e) => e.eventName === name);
      const failed = all.filter((e) => e.errorCode === "KMSInternalException");
      expect(all.length - 2 * failed.length, `${name}: one made, each failed attempt paired`).toBe(1);
    }
    expect((await log.verify()).ok).toBe(true);
  });

  it("with the audit log on the same full disk every call fails closed, nothing acknowledged is lost, and it recovers", async () => {
    const dataDir = join(smallDisk(), "data");
    const kms = await LocalKms.open({ dataDir, audit: { digestEvery: 1_000_000 } });
    let open = true;
    cleanups.push(async () => {
      if (open) await kms.close().catch(() => undefined);
    });
    const acknowledged: { keyId: string; blob: Uint8Array; n: number }[] = [];
    for (let n = 0; n < 4; n++) {
      const keyId = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
      acknowledged.push({
        keyId,
        n,
        blob: (await kms.encrypt(ROOT, { KeyId: keyId, Plaintext: bytes(n) })).CiphertextBlob,
      });
    }
    const filler = fillFileSystem(dataDir);
    // Many calls at once, of every kind: each either fails typed or, if it succeeded, is acknowledged for good.
    const attempts = await Promise.allSettled([
      ...Array.from({ length: 20 }, () => kms.createKey(ROOT, {})),
      ...acknowledged.map((a) => kms.rotateKeyOnDemand(ROOT, { KeyId: a.keyId })),
      ...acknowledged.map((a) => kms.encrypt(ROOT, { KeyId: a.keyId, Plaintext: bytes(a.n) })),
      ...acknowledged.map((a) => kms.decrypt(ROOT, { CiphertextBlob: a.blob })),
    ]);
    let failed = 0;
    for (const result of attempts) {
      if (result.status === "fulfilled") continue;
      failed++;
      expectDiskFull(result.reason as Error);
      expect(String((result.reason as Error).message)).toMatch(
        /audit log is unavailable|could not be written/,
      );
    }
    expect(failed).toBe(attempts.length);
    unlinkSync(filler);
    for (const a of acknowledged) {
      const again = await kms.encrypt(ROOT, { KeyId: a.keyId, Plaintext: bytes(a.n) });
      expect([...(await kms.decrypt(ROOT, { CiphertextBlob: again.CiphertextBlob })).Plaintext]).toEqual([
        ...bytes(a.n),
      ]);
    }
    await kms.close();
    open = false;
    expect(integrity(dataDir)).toMatchObject({ ok: "ok", keys: 4, versions: 4 });
    const reopened = await LocalKms.open({ dataDir });
    try {
      for (const a of acknowledged)
        expect([...(await reopened.decrypt(ROOT, { CiphertextBlob: a.blob })).Plaintext]).toEqual([
          ...bytes(a.n),
        ]);
      expect(await reopened.auditLog!.verify()).toMatchObject({ ok: true });
    } finally {
      await reopened.close();
    }
  });

  it("refuses to open on a full disk with a typed error (existing and new data dirs), then opens once space returns", async () => {
    const mountPoint = smallDisk();
    const existing = join(mountPoint, "existing");
    const fresh = join(mountPoint, "fresh");
    const first = await LocalKms.open({ dataDir: existing });
    const keyId = (await first.createKey(ROOT, {})).KeyMetadata.KeyId;
    const blob = (await first.encrypt(ROOT, { KeyId: keyId, Plaintext: bytes(3) })).CiphertextBlob;
    await first.close();
    const filler = fillFileSystem(mountPoint);
    for (const dataDir of [existing, fresh]) {
      const error = await rejection(LocalKms.open({ dataDir }));
      expectDiskFull(error);
      expect(error.message, dataDir).toMatch(/full|SQLITE_FULL|ENOSPC/);
    }
    unlinkSync(filler);
    const reopened = await LocalKms.open({ dataDir: existing });
    expect([...(await reopened.decrypt(ROOT, { CiphertextBlob: blob })).Plaintext]).toEqual([...bytes(3)]);
    expect((await reopened.auditLog!.verify()).ok).toBe(true);
    await reopened.close();
    // The half-made new data dir starts cleanly: a root key, a key, a verified log.
    const started = await LocalKms.open({ dataDir: fresh });
    const made = (await started.createKey(ROOT, {})).KeyMetadata.KeyId;
    const sealed = (await started.encrypt(ROOT, { KeyId: made, Plaintext: bytes(4) })).CiphertextBlob;
    expect([...(await started.decrypt(ROOT, { CiphertextBlob: sealed })).Plaintext]).toEqual([...bytes(4)]);
    expect((await started.auditLog!.verify()).ok).toBe(true);
    await started.close();
    expect(readdirSync(fresh)).toContain("root.key");
    expect(integrity(existing).ok).toBe("ok");
    expect(integrity(fresh).ok).toBe("ok");
  });

  it("close() on a full disk fails for the final audit digest but releases the data dir, which reopens in the same process", async () => {
    const dataDir = join(smallDisk(), "data");
    const kms = await LocalKms.open({ dataDir });
    const keyId = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    const blob = (await kms.encrypt(ROOT, { KeyId: keyId, Plaintext: bytes(5) })).CiphertextBlob;
    const filler = fillFileSystem(dataDir);
    const error = await rejection(kms.close());
    expect(KmsError.isInstance(error, "KMSInternalException"), String(error)).toBe(true);
    expect(error.message).toMatch(/final digest/);
    // Nothing of the data dir is still open in this process: kms.db, its WAL and the lock were released.
    const open = readdirSync("/proc/self/fd").flatMap((fd) => {
      try {
        return [readlinkSync(`/proc/self/fd/${fd}`)];
      } catch {
        return [];
      }
    });
    expect(open.filter((path) => path.startsWith(dataDir))).toEqual([]);
    unlinkSync(filler);
    const reopened = await LocalKms.open({ dataDir });
    try {
      expect([...(await reopened.decrypt(ROOT, { CiphertextBlob: blob })).Plaintext]).toEqual([...bytes(5)]);
      expect((await reopened.auditLog!.verify()).ok).toBe(true);
    } finally {
      await reopened.close();
    }
  });

  it("changeRootKey on a full disk changes nothing: a typed error, and the old root key still opens every key", async () => {
    const dataDir = join(smallDisk(), "data");
    const kms = await LocalKms.open({ dataDir });
    const blobs: Uint8Array[] = [];
    for (let i = 0; i < 3; i++) {
      const keyId = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
      await kms.rotateKeyOnDemand(ROOT, { KeyId: keyId });
      blobs.push((await kms.encrypt(ROOT, { KeyId: keyId, Plaintext: bytes(i) })).CiphertextBlob);
    }
    await kms.close();
    const filler = fillFileSystem(dataDir);
    const error = await rejection(
      LocalKms.changeRootKey({
        dataDir,
        to: { passphrase: "new root", argon2: { memorySize: 8192, iterations: 1 } },
      }),
    );
    expectDiskFull(error);
    expect(error.message).toMatch(/full|SQLITE_FULL/);
    unlinkSync(filler);
    const reopened = await LocalKms.open({ dataDir });
    try {
      for (const [i, blob] of blobs.entries())
        expect([...(await reopened.decrypt(ROOT, { CiphertextBlob: blob })).Plaintext]).toEqual([
          ...bytes(i),
        ]);
    } finally {
      await reopened.close();
    }
    expect(integrity(dataDir)).toMatchObject({ ok: "ok", keys: 3, versions: 6 });
  });

  it.skipIf(!canChattr)(
    "kms.db-wal made immutable (chattr +i) under a running KMS, the audit log beside it writable: changes refused typed and audited as not made",
    async () => {
      const dataDir = join(tempDir("kms-local-immutable-"), "data");
      const kms = await LocalKms.open({ dataDir });
      const keyId = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
      const blob = (await kms.encrypt(ROOT, { KeyId: keyId, Plaintext: bytes(6) })).CiphertextBlob;
      const wal = join(dataDir, "kms.db-wal");
      execFileSync("chattr", ["+i", wal]);
      let immutable = true;
      cleanups.push(() => {
        if (immutable) execFileSync("chattr", ["-i", wal]);
      });
      for (const change of [kms.createKey(ROOT, {}), kms.rotateKeyOnDemand(ROOT, { KeyId: keyId })]) {
        const error = await rejection(change);
        expectDiskFull(error);
        expect(error.message).toMatch(/kms\.db could not be written/);
      }
      // Reads go on: they write nothing to kms.db.
      expect([...(await kms.decrypt(ROOT, { CiphertextBlob: blob })).Plaintext]).toEqual([...bytes(6)]);
      execFileSync("chattr", ["-i", wal]);
      immutable = false;
      const made = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
      const events = kms.auditLog!.query({ limit: 1000 });
      const failed = events.filter((e) => e.errorCode === "KMSInternalException");
      expect(failed.map((e) => e.eventName).sort()).toEqual(["CreateKey", "RotateKeyOnDemand"]);
      for (const f of failed)
        expect(events.some((e) => e.requestID === f.requestID && e.sequence < f.sequence)).toBe(true);
      await kms.close();
      const reopened = await LocalKms.open({ dataDir });
      try {
        expect((await reopened.listKeys(ROOT, {})).Keys.map((k) => k.KeyId).sort()).toEqual(
          [keyId, made].sort(),
        );
        expect((await reopened.listKeyRotations(ROOT, { KeyId: keyId })).Rotations).toHaveLength(0);
        expect((await reopened.auditLog!.verify()).ok).toBe(true);
      } finally {
        await reopened.close();
      }
      expect(integrity(dataDir)).toMatchObject({ ok: "ok", keys: 2, versions: 2 });
    },
  );
});
