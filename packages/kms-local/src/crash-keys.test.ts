// kill -9 while the root key file and the audit signing key are being created: strace (where installed) sends
// SIGKILL to the real child process at the directory fsync that follows the link into place, the one blocking
// step after the key has its name. The key must survive, complete and 0600, with no second name beside it.

import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadOrCreateSigningKey } from "./audit/signing-key.js";
import { bundleForNode } from "./bundle-for-node.js";
import { loadRootKeyFile } from "./root-key.js";

/** strace is installed and may trace here (a container without ptrace would make every run fail). */
function hasStrace(): boolean {
  try {
    execFileSync("strace", ["-f", "-qq", "-o", "/dev/null", process.execPath, "-e", "0"], {
      stdio: "ignore",
    });
    return true;
  } catch {
    return false;
  }
}

const dirs: string[] = [];
let script: string | undefined;
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  if (script !== undefined) rmSync(script, { force: true });
});

/** Runs the child under strace, SIGKILLed at its first fsync of `dir` itself; returns how it ended. */
function createAndKill(dir: string, which: "root" | "signing"): { signal: string | null; stdout: string } {
  script ??= bundleForNode("src/crash-key-child.ts");
  const result = spawnSync(
    "strace",
    [
      "-f",
      "-qq",
      "-o",
      "/dev/null",
      "-P",
      dir,
      "-e",
      "trace=fsync",
      "-e",
      "inject=fsync:signal=SIGKILL:when=1",
      process.execPath,
      script,
      dir,
      which,
    ],
    { encoding: "utf8", timeout: 30_000 },
  );
  // strace exits as its tracee did: 128 + 9 for SIGKILL.
  return {
    signal: result.status === 137 ? "SIGKILL" : String(result.status ?? result.signal),
    stdout: result.stdout,
  };
}

describe.skipIf(!hasStrace())("key files killed while being created", { timeout: 60_000 }, () => {
  it("the root key survives a kill -9 at the directory fsync, with no hidden second name", () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-crash-keys-"));
    dirs.push(dir);
    const { signal, stdout } = createAndKill(dir, "root");
    expect(signal).toBe("SIGKILL");
    expect(stdout).toBe("");
    expect(readdirSync(dir)).toEqual(["root.key"]);
    const stats = statSync(join(dir, "root.key"));
    expect(stats.mode & 0o777).toBe(0o600);
    expect(stats.size).toBe(32);
    expect(stats.nlink).toBe(1);
    const before = readFileSync(join(dir, "root.key"));
    // The next start uses it as it is.
    loadRootKeyFile(join(dir, "root.key"), true);
    expect(readFileSync(join(dir, "root.key")).equals(before)).toBe(true);
  });

  it("the audit signing key survives a kill -9 at the directory fsync, with no hidden second name", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-crash-keys-"));
    dirs.push(dir);
    const { signal } = createAndKill(dir, "signing");
    expect(signal).toBe("SIGKILL");
    expect(readdirSync(dir)).toEqual(["audit-signing.key"]);
    const stats = statSync(join(dir, "audit-signing.key"));
    expect(stats.mode & 0o777).toBe(0o600);
    expect(stats.nlink).toBe(1);
    const pem = readFileSync(join(dir, "audit-signing.key"), "utf8");
    const key = await loadOrCreateSigningKey(join(dir, "audit-signing.key"));
    expect(key.privateKey.asymmetricKeyType).toBe("ed25519");
    expect(readFileSync(join(dir, "audit-signing.key"), "utf8")).toBe(pem);
    expect(readFileSync(join(dir, "audit-signing.key.pub"), "utf8")).toBe(key.publicKeyPem);
  });
});
