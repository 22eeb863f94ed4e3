// Data dirs an operator gets wrong: a path that is a file, under a file, a dangling or a good symbolic link, a path
// too long for SQLite, a dir others may write to or that another user owns, files another user owns (opened by a
// real unprivileged child process). Each is a KMSInternalException that says what to fix, and nothing is created.

import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleForNode } from "../../src/bundle-for-node.js";
import { MAX_DATA_DIR_PATH_BYTES } from "../../src/data-dir.js";
import { KmsError } from "../../src/errors.js";
import { LocalKms } from "../../src/local-kms.js";
import { ROOT } from "../../src/test-helpers.js";
import { tempDirs } from "./support.js";

const tempDir = tempDirs("kms-local-dd-");

async function refusal(dataDir: string): Promise<string> {
  const error = await LocalKms.open({ dataDir }).then(
    async (kms) => {
      await kms.close();
      throw new Error(`opened ${dataDir}`);
    },
    (e: unknown) => e as Error,
  );
  expect(KmsError.isInstance(error, "KMSInternalException"), String(error)).toBe(true);
  return error.message;
}

async function opensWithAKey(dataDir: string): Promise<void> {
  const kms = await LocalKms.open({ dataDir });
  try {
    const { KeyMetadata } = await kms.createKey(ROOT, {});
    const { CiphertextBlob } = await kms.encrypt(ROOT, {
      KeyId: KeyMetadata.KeyId,
      Plaintext: new Uint8Array([9]),
    });
    expect([...(await kms.decrypt(ROOT, { CiphertextBlob })).Plaintext]).toEqual([9]);
  } finally {
    await kms.close();
  }
}

describe("data dir paths", { timeout: 30_000 }, () => {
  it("refuses a path that is a file, or lies under one, saying so", async () => {
    const base = tempDir();
    writeFileSync(join(base, "file"), "not a dir");
    expect(await refusal(join(base, "file"))).toMatch(/data dir .*\/file is a file, not a directory/);
    expect(await refusal(join(base, "file", "sub"))).toMatch(/a part of its path is a file, not a directory/);
    expect(readdirSync(base)).toEqual(["file"]);
  });

  it("refuses a symbolic link to nothing, naming its target; follows a link to a directory", async () => {
    const base = tempDir();
    symlinkSync(join(base, "gone"), join(base, "dangling"));
    expect(await refusal(join(base, "dangling"))).toMatch(
      /is a symbolic link to .*\/gone, which does not exist/,
    );
    mkdirSync(join(base, "real"), { mode: 0o700 });
    symlinkSync(join(base, "real"), join(base, "link"));
    await opensWithAKey(join(base, "link"));
    expect(readdirSync(join(base, "real"))).toContain("kms.db");
  });

  it(`opens a path of exactly ${MAX_DATA_DIR_PATH_BYTES} bytes and refuses one byte more before creating anything`, async () => {
    const base = tempDir();
    const deepest = (bytes: number) => {
      let path = base;
      while (path.length < bytes - 101) path = join(path, "d".repeat(100));
      return join(path, "e".repeat(bytes - path.length - 1));
    };
    const fits = deepest(MAX_DATA_DIR_PATH_BYTES);
    expect(fits).toHaveLength(MAX_DATA_DIR_PATH_BYTES);
    await opensWithAKey(fits);
    const tooLong = deepest(MAX_DATA_DIR_PATH_BYTES + 1);
    const message = await refusal(tooLong);
    expect(message).toContain(`has a path of ${MAX_DATA_DIR_PATH_BYTES + 1} bytes`);
    expect(message).toContain(`at most ${MAX_DATA_DIR_PATH_BYTES}`);
    expect(existsSync(tooLong)).toBe(false);
    // A name longer than the file system allows (255 bytes) is refused as such.
    expect(await refusal(join(base, "n".repeat(300)))).toMatch(/too long|has a path of/);
  });
});

describe("who may change the data dir", { timeout: 60_000 }, () => {
  // chown needs root (the suite runs as root in CI and in bootstrap's container).
  it.skipIf(process.geteuid?.() !== 0)(
    "refuses a data dir group or others may write to, and one owned by another user; accepts 0700 and 0755",
    async () => {
      const dataDir = join(tempDir(), "data");
      await opensWithAKey(dataDir);
      for (const mode of [0o777, 0o770, 0o757]) {
        chmodSync(dataDir, mode);
        expect(await refusal(dataDir)).toContain(
          `has mode ${mode.toString(8).padStart(4, "0")}: group or others may write`,
        );
      }
      chmodSync(dataDir, 0o755);
      await opensWithAKey(dataDir);
      chmodSync(dataDir, 0o700);
      chownSync(dataDir, 65534, 65534);
      expect(await refusal(dataDir)).toMatch(/belongs to user 65534, but this process runs as user 0/);
      chownSync(dataDir, 0, 0);
      // A root key file another user owns: that user can read it, whatever its mode (OpenSSH refuses such keys too).
      chownSync(join(dataDir, "root.key"), 65534, 65534);
      expect(await refusal(dataDir)).toMatch(/root\.key belongs to user 65534.*can read the root key/);
      chownSync(join(dataDir, "root.key"), 0, 0);
      await opensWithAKey(dataDir);
    },
  );
});

describe("files another user owns, opened by an unprivileged process", { timeout: 60_000 }, () => {
  let script: string;
  beforeAll(() => {
    script = bundleForNode("test/reliability/open-child.ts");
    chmodSync(script, 0o644);
  });
  afterAll(() => rmSync(script, { force: true }));

  const NOBODY = 65534;
  function openAsNobody(dataDir: string): { ok: boolean; awsName?: string; message?: string } {
    const run = spawnSync(process.execPath, [script, dataDir], {
      uid: NOBODY,
      gid: NOBODY,
      encoding: "utf8",
    });
    expect(run.status, run.stderr).toBe(0);
    return JSON.parse(run.stdout.trim().split("\n").at(-1)!);
  }

  it.skipIf(process.geteuid?.() !== 0)(
    "names the file that is not the process's, with owner and mode",
    async () => {
      const base = tempDir();
      chmodSync(base, 0o755);
      const made = async (name: string) => {
        const dataDir = join(base, name);
        await opensWithAKey(dataDir);
        spawnSync("chown", ["-R", `${NOBODY}:${NOBODY}`, dataDir]);
        return dataDir;
      };
      const good = await made("good");
      expect(openAsNobody(good)).toEqual({ ok: true });

      const rootsDb = await made("roots-db");
      chownSync(join(rootsDb, "kms.db"), 0, 0);
      let result = openAsNobody(rootsDb);
      expect(result.awsName).toBe("KMSInternalException");
      expect(result.message).toMatch(
        /user 65534\) cannot read and write .*roots-db\/kms\.db \(owner 0, mode 06\d\d; EACCES\)/,
      );

      const readOnlyDb = await made("read-only-db");
      chmodSync(join(readOnlyDb, "kms.db"), 0o400);
      result = openAsNobody(readOnlyDb);
      expect(result.message).toMatch(
        /cannot read and write .*read-only-db\/kms\.db \(owner 65534, mode 0400; EACCES\)/,
      );

      const readOnlyDir = await made("read-only-dir");
      chmodSync(readOnlyDir, 0o500);
      result = openAsNobody(readOnlyDir);
      expect(result.message).toMatch(
        /cannot write to the data dir .*read-only-dir \(owner 65534, mode 0500; EACCES\)/,
      );

      const rootsKey = await made("roots-key");
      chownSync(join(rootsKey, "root.key"), 0, 0);
      result = openAsNobody(rootsKey);
      expect(result.message).toMatch(/root key file .*root\.key: cannot be read \(EACCES\)/);

      const rootsDir = join(base, "roots-dir");
      mkdirSync(rootsDir, { mode: 0o700 });
      result = openAsNobody(rootsDir);
      expect(result.message).toMatch(/roots-dir is not writable \(EACCES\)/);
      expect(readdirSync(rootsDir)).toEqual([]);
    },
  );
});
