// docs/KMS-LOCAL.md "Backup and restore", run as written: the sqlite3 shell's `.backup` and better-sqlite3's
// backup() while keys are created, rotated and used, and a stopped copy with `cp -a`; each restored into a new data
// dir, where every key the backup holds decrypts what it encrypted and the audit log verifies.

import { execFile, execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { KmsError } from "../../src/errors.js";
import { LocalKms } from "../../src/local-kms.js";
import { ROOT } from "../../src/test-helpers.js";
import { tempDirs } from "./support.js";

const run = promisify(execFile);
const hasSqlite3 = (() => {
  try {
    execFileSync("sqlite3", ["-version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!hasSqlite3) console.warn("backup-restore: the sqlite3 shell is not installed; its case is skipped");

const tempDir = tempDirs("kms-local-");

interface Sealed {
  keyId: string;
  plaintext: Uint8Array;
  blob: Uint8Array;
  /** When Encrypt answered (ms, performance.now()). */
  at: number;
}

const plaintextOf = (n: number) => new TextEncoder().encode(`backup plaintext ${n}`);

/**
 * Keeps creating keys, rotating some and encrypting under them until `stop` resolves, adding what was acknowledged
 * to `sealed`.
 */
async function traffic(kms: LocalKms, stop: Promise<unknown>, sealed: Sealed[]): Promise<Sealed[]> {
  let done = false;
  void stop.finally(() => {
    done = true;
  });
  const keys: string[] = (await kms.listKeys(ROOT, { Limit: 1000 })).Keys.map((k) => k.KeyId);
  let n = 0;
  const worker = async () => {
    while (!done) {
      const i = n++;
      if (i % 3 === 0) keys.push((await kms.createKey(ROOT, { Description: `k${i}` })).KeyMetadata.KeyId);
      const keyId = keys[i % keys.length]!;
      if (i % 7 === 0) await kms.rotateKeyOnDemand(ROOT, { KeyId: keyId }).catch(() => undefined);
      const plaintext = plaintextOf(i);
      const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId: keyId, Plaintext: plaintext });
      sealed.push({ keyId, plaintext, blob: CiphertextBlob, at: performance.now() });
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return sealed;
}

/** Resolves once `list` holds at least `n` entries (however loaded the machine is). */
async function until(list: readonly unknown[], n: number): Promise<void> {
  while (list.length < n) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** A data dir with some keys and ciphertexts already. */
async function seeded(): Promise<{ dataDir: string; kms: LocalKms; sealed: Sealed[] }> {
  const dataDir = join(tempDir("backup-src"), "data");
  const kms = await LocalKms.open({ dataDir });
  const sealed: Sealed[] = [];
  for (let i = 0; i < 120; i++) {
    const keyId = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    const plaintext = plaintextOf(-i - 1);
    const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId: keyId, Plaintext: plaintext });
    sealed.push({ keyId, plaintext, blob: CiphertextBlob, at: performance.now() });
  }
  return { dataDir, kms, sealed };
}

/**
 * Restores `files` (a backup dir holding kms.db, audit.db and the keys) into a new, empty data dir, as the doc says,
 * and checks it: every ciphertext acknowledged before `snapshotAt` decrypts; the others decrypt or name a key or
 * version the backup does not hold; the audit log verifies and holds the CreateKey event of every key.
 */
async function restoreAndCheck(
  backup: string,
  sealed: Sealed[],
  snapshotAt: number,
): Promise<{ before: number; after: number }> {
  const dataDir = join(tempDir("restored"), "data");
  mkdirSync(dataDir, { mode: 0o700 });
  for (const file of ["kms.db", "audit.db", "root.key", "audit-signing.key", "audit-signing.key.pub"])
    copyFileSync(join(backup, file), join(dataDir, file));
  chmodSync(join(dataDir, "root.key"), 0o600);
  chmodSync(join(dataDir, "audit-signing.key"), 0o600);
  const kms = await LocalKms.open({ dataDir });
  let before = 0;
  let after = 0;
  try {
    for (const s of sealed) {
      const opened = await kms.decrypt(ROOT, { CiphertextBlob: s.blob }).then(
        (r) => r.Plaintext,
        (e: unknown) => e as Error,
      );
      if (s.at < snapshotAt) {
        expect(opened, `acknowledged before the backup: ${s.keyId}`).toBeInstanceOf(Uint8Array);
        before++;
      }
      if (opened instanceof Uint8Array) {
        expect([...opened]).toEqual([...s.plaintext]);
        if (s.at >= snapshotAt) after++;
      } else {
        // Made after the snapshot: the key or its newer version is not in the backup.
        expect(
          KmsError.isInstance(opened, "NotFoundException") ||
            KmsError.isInstance(opened, "InvalidCiphertextException"),
          String(opened),
        ).toBe(true);
      }
    }
    const report = await kms.auditLog!.verify();
    expect(report.ok, JSON.stringify(report.problems)).toBe(true);
    const created = new Set(
      kms
        .auditLog!.query({ eventName: "CreateKey", limit: 100_000 })
        .filter((e) => !e.errorCode)
        .map((e) => e.keyId),
    );
    const keys = (await kms.listKeys(ROOT, { Limit: 1000 })).Keys;
    for (const key of keys) expect(created.has(key.KeyArn), `CreateKey event of ${key.KeyId}`).toBe(true);
    // The restored data dir takes new keys and rotations.
    const fresh = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    await kms.rotateKeyOnDemand(ROOT, { KeyId: fresh });
  } finally {
    await kms.close();
  }
  return { before, after };
}

/**
 * The documented online backup: root.key and the audit signing key copied once, then `snapshot` copies kms.db and
 * audit.db while callers keep creating, rotating and using keys; then every sealed value is checked after a restore.
 */
async function onlineBackup(snapshot: (dataDir: string, backups: string) => Promise<void>) {
  const { dataDir, kms, sealed } = await seeded();
  const backups = tempDir("backups");
  // "Copy root.key and the audit signing key once; they do not change."
  for (const file of ["root.key", "audit-signing.key", "audit-signing.key.pub"])
    copyFileSync(join(dataDir, file), join(backups, file));
  let snapshotAt = 0;
  const during: Sealed[] = [];
  const backup = (async () => {
    await until(during, 8);
    snapshotAt = performance.now();
    await snapshot(dataDir, backups);
    await until(during, during.length + 4);
  })();
  await traffic(kms, backup, during);
  await backup;
  await kms.close();
  const all = [...sealed, ...during];
  return { sealed, during, all, ...(await restoreAndCheck(backups, all, snapshotAt)) };
}

describe("backup and restore as documented", { timeout: 120_000 }, () => {
  it.skipIf(!hasSqlite3)(
    "online: sqlite3 .backup of kms.db, then audit.db, while keys are created, rotated and used",
    async () => {
      const { sealed, during, all, before, after } = await onlineBackup(async (dataDir, backups) => {
        await run("sqlite3", [join(dataDir, "kms.db"), `.backup ${join(backups, "kms.db")}`]);
        await run("sqlite3", [join(dataDir, "audit.db"), `.backup ${join(backups, "audit.db")}`]);
      });
      expect(during.length).toBeGreaterThanOrEqual(12);
      expect(before).toBeGreaterThanOrEqual(sealed.length);
      expect(before + after).toBeLessThanOrEqual(all.length);
    },
  );

  it("online: better-sqlite3 backup() of kms.db, then audit.db, while keys are created, rotated and used", async () => {
    const { sealed, before } = await onlineBackup(async (dataDir, backups) => {
      for (const name of ["kms.db", "audit.db"]) {
        const source = new Database(join(dataDir, name), { readonly: true });
        try {
          await source.backup(join(backups, name));
        } finally {
          source.close();
        }
      }
    });
    expect(before).toBeGreaterThanOrEqual(sealed.length);
  });

  it("stopped: cp -a of the closed data dir, restored with cp -a into a new place", async () => {
    const { dataDir, kms, sealed } = await seeded();
    await kms.rotateKeyOnDemand(ROOT, { KeyId: sealed[0]!.keyId });
    const rotated = await kms.encrypt(ROOT, { KeyId: sealed[0]!.keyId, Plaintext: plaintextOf(1000) });
    sealed.push({
      keyId: sealed[0]!.keyId,
      plaintext: plaintextOf(1000),
      blob: rotated.CiphertextBlob,
      at: 0,
    });
    await kms.close();
    const copy = join(tempDir("backup-copy"), "data");
    execFileSync("cp", ["-a", dataDir, copy]);
    const restored = join(tempDir("restored-copy"), "data");
    execFileSync("cp", ["-a", copy, restored]);
    const reopened = await LocalKms.open({ dataDir: restored });
    try {
      for (const s of sealed)
        expect([...(await reopened.decrypt(ROOT, { CiphertextBlob: s.blob })).Plaintext]).toEqual([
          ...s.plaintext,
        ]);
      expect((await reopened.auditLog!.verify()).ok).toBe(true);
    } finally {
      await reopened.close();
    }
  });

  it.skipIf(!hasSqlite3)(
    "restored over a data dir left with the old WAL: refused, saying to delete -wal and -shm; then opens",
    async () => {
      const base = tempDir("stale-wal");
      const dataDir = join(base, "data");
      const kms = await LocalKms.open({ dataDir });
      const kept: Sealed[] = [];
      for (let i = 0; i < 30; i++) {
        const keyId = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
        const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId: keyId, Plaintext: plaintextOf(i) });
        kept.push({ keyId, plaintext: plaintextOf(i), blob: CiphertextBlob, at: 0 });
      }
      for (const name of ["kms.db", "audit.db"])
        execFileSync("sqlite3", [join(dataDir, name), `.backup ${join(base, `${name}.backup`)}`]);
      for (let i = 0; i < 200; i++)
        await kms.createKey(ROOT, { Description: `after the backup ${i} ${"x".repeat(400)}` });
      // The files as a crash leaves them (a copy taken while it ran, idle): kms.db and audit.db with their -wal.
      const crashed = join(base, "crashed");
      cpSync(dataDir, crashed, { recursive: true });
      await kms.close();
      const restore = () => {
        for (const name of ["kms.db", "audit.db"])
          copyFileSync(join(base, `${name}.backup`), join(crashed, name));
      };
      restore();
      const refused = await LocalKms.open({ dataDir: crashed }).then(
        async (k) => {
          await k.close();
          return undefined;
        },
        (e: unknown) => e as Error,
      );
      // SQLite replays the old WAL onto the restored file. Mostly what it reads is then damaged and open refuses,
      // saying what to do; when it happens to read as a database, open goes on with a mix of the backup and the old
      // state (seen under load): so the doc says to delete the -wal and -shm files before copying a backup in.
      if (refused === undefined)
        console.warn("stale WAL: opened without a refusal (a mixed state), see the doc");
      else {
        expect(KmsError.isInstance(refused, "KMSInternalException"), String(refused)).toBe(true);
        expect(refused.message).toMatch(
          /damaged \(SQLITE_CORRUPT.*delete kms\.db-wal, kms\.db-shm, audit\.db-wal and audit\.db-shm, copy the backup in again/,
        );
      }
      // As the message says:
      for (const name of ["kms.db-wal", "kms.db-shm", "audit.db-wal", "audit.db-shm"])
        rmSync(join(crashed, name), { force: true });
      restore();
      const reopened = await LocalKms.open({ dataDir: crashed });
      try {
        expect((await reopened.listKeys(ROOT, { Limit: 1000 })).Keys).toHaveLength(kept.length);
        for (const s of kept)
          expect([...(await reopened.decrypt(ROOT, { CiphertextBlob: s.blob })).Plaintext]).toEqual([
            ...s.plaintext,
          ]);
        expect((await reopened.auditLog!.verify()).ok).toBe(true);
      } finally {
        await reopened.close();
      }
    },
  );

  it("a restore that leaves out kms.db, or brings an empty one, is refused instead of starting an empty KMS", async () => {
    const { dataDir, kms, sealed } = await seeded();
    await kms.close();
    const restored = join(tempDir("restored-partial"), "data");
    mkdirSync(restored, { mode: 0o700 });
    for (const file of ["audit.db", "root.key", "audit-signing.key", "audit-signing.key.pub"])
      copyFileSync(join(dataDir, file), join(restored, file));
    const missing = await LocalKms.open({ dataDir: restored }).then(
      async (k) => {
        await k.close();
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    expect(KmsError.isInstance(missing, "KMSInternalException"), String(missing)).toBe(true);
    expect(missing!.message).toMatch(
      new RegExp(
        `kms\\.db is missing or empty, but the audit log beside it records ${sealed.length} keys created`,
      ),
    );
    expect(readdirSync(restored)).not.toContain("kms.db");
    writeFileSync(join(restored, "kms.db"), "");
    const empty = await LocalKms.open({ dataDir: restored }).then(
      async (k) => {
        await k.close();
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    expect(empty?.message).toMatch(/is missing or empty/);
    copyFileSync(join(dataDir, "kms.db"), join(restored, "kms.db"));
    const reopened = await LocalKms.open({ dataDir: restored });
    try {
      for (const s of sealed)
        expect([...(await reopened.decrypt(ROOT, { CiphertextBlob: s.blob })).Plaintext]).toEqual([
          ...s.plaintext,
        ]);
    } finally {
      await reopened.close();
    }
  });
});
