// One data dir, one LocalKms: a second opener (another process, or the same one) is refused, a killed holder
// leaves no stale lock, and the root key cannot be changed under a running KMS.

import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleForNode } from "../../src/bundle-for-node.js";
import { KmsError } from "../../src/errors.js";
import { LocalKms } from "../../src/local-kms.js";
import { ROOT } from "../../src/test-helpers.js";
import { tempDirs } from "./support.js";

let script: string;
const children: ChildProcess[] = [];
beforeAll(() => {
  script = bundleForNode("test/reliability/data-dir-child.ts");
});
afterAll(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(script, { force: true });
});

const tempDir = tempDirs("kms-local-data-dir-");

/** Starts a child holding a LocalKms on `dir`; resolves once it has opened it and created a key. */
function holdInChild(dir: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let err = "";
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.stdout!.on("data", (d: Buffer) => {
      if (d.toString().includes("open")) resolve(child);
    });
    child.on("exit", (code) => reject(new Error(`child exited (${code}): ${err.slice(0, 2000)}`)));
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

async function expectInUse(open: Promise<unknown>): Promise<void> {
  const error = await open.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(KmsError.isInstance(error, "KMSInternalException")).toBe(true);
  expect((error as Error).message).toMatch(/already open .*another LocalKms/);
}

describe("data dir ownership", { timeout: 60_000 }, () => {
  it("refuses a second LocalKms on a data dir another process has open, and opens it once that process is killed", async () => {
    const dir = tempDir();
    const child = await holdInChild(dir);
    await expectInUse(LocalKms.open({ dataDir: dir }));
    // kill -9 leaves no stale lock: the kernel drops the holder's locks with the process.
    await killed(child);
    const kms = await LocalKms.open({ dataDir: dir });
    try {
      expect((await kms.listKeys(ROOT, {})).Keys).toHaveLength(1);
      expect((await kms.auditLog!.verify()).ok).toBe(true);
    } finally {
      await kms.close();
    }
  });

  it("refuses a second LocalKms on the same data dir in the same process until the first is closed", async () => {
    const dir = tempDir();
    const first = await LocalKms.open({ dataDir: dir });
    await first.createKey(ROOT, {});
    await expectInUse(LocalKms.open({ dataDir: dir }));
    // The refused opener changed nothing: the first one still works and its audit chain is intact.
    await first.createKey(ROOT, {});
    expect((await first.auditLog!.verify()).ok).toBe(true);
    await first.close();
    const again = await LocalKms.open({ dataDir: dir });
    expect((await again.listKeys(ROOT, {})).Keys).toHaveLength(2);
    await again.close();
  });

  it("refuses to change the root key of a data dir that is open", async () => {
    const dir = tempDir();
    const kms = await LocalKms.open({ dataDir: dir });
    await kms.createKey(ROOT, {});
    const error = await LocalKms.changeRootKey({
      dataDir: dir,
      to: { passphrase: "new secret", argon2: { memorySize: 8192, iterations: 1 } },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeDefined();
    expect((error as Error).message).toMatch(/already open/);
    // Keys made by the running KMS after that attempt still open after a restart with the original root key.
    const { KeyMetadata } = await kms.createKey(ROOT, {});
    const { CiphertextBlob } = await kms.encrypt(ROOT, {
      KeyId: KeyMetadata.KeyId,
      Plaintext: new Uint8Array([1, 2, 3]),
    });
    await kms.close();
    const reopened = await LocalKms.open({ dataDir: dir });
    try {
      const { Plaintext } = await reopened.decrypt(ROOT, { CiphertextBlob });
      expect([...Plaintext]).toEqual([1, 2, 3]);
    } finally {
      await reopened.close();
    }
  });
});
