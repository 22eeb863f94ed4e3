// The root key as an operator meets it: a key file that is not a file, a disk full or read-only when it is
// created, passphrase parameters in kms.db that are damaged or absurd; each a typed error without key material.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SealkitError } from "@sealkit/core";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { fillFileSystem, probeStoreFaults } from "../../src/audit/store-faults.js";
import { KmsError } from "../../src/errors.js";
import { LocalKms } from "../../src/local-kms.js";
import { loadRootKeyFile, newArgon2Parameters, passphraseWrapper } from "../../src/root-key.js";
import { ROOT } from "../../src/test-helpers.js";

const { canMount } = probeStoreFaults();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kms-local-root-key-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function tmpfs(options: string): string {
  const mountPoint = tempDir();
  execFileSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", mountPoint]);
  cleanups.push(() => execFileSync("umount", ["-l", mountPoint]));
  return mountPoint;
}

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

async function rejected(run: Promise<unknown>): Promise<unknown> {
  return run.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

describe("root key file", { timeout: 30_000 }, () => {
  it("refuses a key file that is a directory with a typed error", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "root.key"), { mode: 0o700 });
    const error = thrown(() => loadRootKeyFile(join(dir, "root.key"), true));
    expect(SealkitError.isInstance(error, "ERR_PROVIDER_UNAVAILABLE")).toBe(true);
    expect((error as Error).message).toContain("is not a regular file");
  });

  it.skipIf(!canMount)(
    "a full disk while the key file is created leaves no file behind, and the next start works",
    async () => {
      const mountPoint = tmpfs("size=1m");
      const dataDir = join(mountPoint, "data");
      mkdirSync(dataDir, { mode: 0o700 });
      const filler = fillFileSystem(mountPoint);
      const error = thrown(() => loadRootKeyFile(join(dataDir, "root.key"), true));
      expect(SealkitError.isInstance(error, "ERR_PROVIDER_UNAVAILABLE")).toBe(true);
      expect((error as Error).message).toMatch(/root\.key: cannot be written .*ENOSPC/);
      // No empty root.key, which would have blocked every later start of this data dir.
      expect(readdirSync(dataDir)).toEqual([]);
      unlinkSync(filler);
      const kms = await LocalKms.open({ dataDir });
      await kms.createKey(ROOT, {});
      await kms.close();
      expect(readFileSync(join(dataDir, "root.key"))).toHaveLength(32);
    },
  );

  it.skipIf(!canMount)("a read-only data dir is a KMSInternalException that says so", async () => {
    const mountPoint = tmpfs("size=1m");
    mkdirSync(join(mountPoint, "data"), { mode: 0o700 });
    execFileSync("mount", ["-o", "remount,ro", mountPoint]);
    const error = await rejected(LocalKms.open({ dataDir: join(mountPoint, "data") }));
    expect(KmsError.isInstance(error, "KMSInternalException")).toBe(true);
    expect((error as Error).message).toMatch(/read-only|EROFS/);
    expect(existsSync(join(mountPoint, "data", "root.key"))).toBe(false);
  });
});

describe("passphrase root key parameters", { timeout: 30_000 }, () => {
  /** A data dir opened once with a passphrase (cheap parameters) and one key, then closed. */
  async function passphraseDir(): Promise<string> {
    const dataDir = tempDir();
    const kms = await LocalKms.open({
      dataDir,
      rootKey: { passphrase: "correct horse", argon2: { memorySize: 8192, iterations: 1 } },
    });
    await kms.createKey(ROOT, {});
    await kms.close();
    return dataDir;
  }

  function setStored(dataDir: string, value: string): void {
    const db = new Database(join(dataDir, "kms.db"));
    db.prepare("UPDATE meta SET value = ? WHERE name = 'argon2'").run(value);
    db.close();
  }

  it("refuses damaged or absurd stored parameters at once, with KMSInternalException naming meta.argon2", async () => {
    const dataDir = await passphraseDir();
    const salt = "AAAAAAAAAAAAAAAAAAAAAA==";
    for (const stored of [
      "not json",
      "[]",
      JSON.stringify({ memorySize: 2 ** 32, iterations: 3, parallelism: 1, salt }),
      // Would have run for hours: a DoS planted in kms.db.
      JSON.stringify({ memorySize: 65536, iterations: 100_000, parallelism: 1, salt }),
      JSON.stringify({ memorySize: 65536, iterations: 0, parallelism: 1, salt }),
      JSON.stringify({ memorySize: 65536, iterations: 3, parallelism: 1, salt: "" }),
      JSON.stringify({ memorySize: 65536, iterations: 3, parallelism: 1.5, salt }),
    ]) {
      setStored(dataDir, stored);
      const started = Date.now();
      const error = await rejected(LocalKms.open({ dataDir, rootKey: { passphrase: "correct horse" } }));
      expect(Date.now() - started).toBeLessThan(5000);
      expect(KmsError.isInstance(error, "KMSInternalException")).toBe(true);
      expect((error as Error).message).toContain("meta.argon2");
      expect((error as Error).message).not.toContain("correct horse");
    }
  });

  it("refuses new parameters that are too weak or too costly with RangeError, before writing anything", async () => {
    for (const argon2 of [
      { memorySize: 8, iterations: 1 },
      { memorySize: 2 ** 22 },
      { iterations: 0 },
      { memorySize: 65536, iterations: 1000 },
    ]) {
      expect(() => newArgon2Parameters(argon2)).toThrow(RangeError);
      const dataDir = tempDir();
      expect(await rejected(LocalKms.open({ dataDir, rootKey: { passphrase: "p", argon2 } }))).toBeInstanceOf(
        RangeError,
      );
    }
    expect(newArgon2Parameters({ memorySize: 8192, iterations: 1, parallelism: undefined })).toMatchObject({
      memorySize: 8192,
      iterations: 1,
      parallelism: 1,
    });
    await expect(
      passphraseWrapper("p", { memorySize: 8192, iterations: 1, parallelism: 1, salt: "short" }),
    ).rejects.toMatchObject({ code: "ERR_PROVIDER_UNAVAILABLE" });
  });
});

describe("a data dir whose root check is gone", { timeout: 30_000 }, () => {
  function dropRootCheck(dataDir: string): void {
    const db = new Database(join(dataDir, "kms.db"));
    db.prepare("DELETE FROM meta WHERE name = 'root_check'").run();
    db.close();
  }

  it("refuses a wrong passphrase instead of adopting it (which would wrap new keys under it)", async () => {
    const dataDir = tempDir();
    const rootKey = { passphrase: "correct horse", argon2: { memorySize: 8192, iterations: 1 } };
    const kms = await LocalKms.open({ dataDir, rootKey });
    const { KeyMetadata } = await kms.createKey(ROOT, {});
    const { CiphertextBlob } = await kms.encrypt(ROOT, {
      KeyId: KeyMetadata.KeyId,
      Plaintext: new Uint8Array([7]),
    });
    await kms.close();
    // A database restored without its meta row, or from before the check existed.
    dropRootCheck(dataDir);
    const error = await rejected(LocalKms.open({ dataDir, rootKey: { passphrase: "wrong horse" } }));
    expect(KmsError.isInstance(error, "KMSInternalException")).toBe(true);
    expect((error as Error).message).toMatch(/not the one this data dir was created with/);
    expect((error as Error).message).not.toContain("horse");
    const reopened = await LocalKms.open({ dataDir, rootKey: { passphrase: "correct horse" } });
    try {
      expect([...(await reopened.decrypt(ROOT, { CiphertextBlob })).Plaintext]).toEqual([7]);
    } finally {
      await reopened.close();
    }
  });

  it("refuses a replaced key file the same way", async () => {
    const dataDir = tempDir();
    const kms = await LocalKms.open({ dataDir });
    await kms.createKey(ROOT, {});
    await kms.close();
    dropRootCheck(dataDir);
    const keyPath = join(dataDir, "root.key");
    const original = readFileSync(keyPath);
    unlinkSync(keyPath);
    writeFileSync(keyPath, randomBytes(32), { mode: 0o600 });
    const error = await rejected(LocalKms.open({ dataDir }));
    expect(KmsError.isInstance(error, "KMSInternalException")).toBe(true);
    expect((error as Error).message).toMatch(/not the one this data dir was created with/);
    writeFileSync(keyPath, original, { mode: 0o600 });
    const reopened = await LocalKms.open({ dataDir });
    expect((await reopened.listKeys(ROOT, {})).Keys).toHaveLength(1);
    await reopened.close();
  });
});
