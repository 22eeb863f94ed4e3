// `pnpm sealkit ...` from the repo root runs the built CLI; pnpm 12 prints its "$ node ..." line on stderr, so
// stdout stays byte-exact for pipes and redirections.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { baseEnv, REPO_ROOT, tempDir } from "./helpers.js";

const t = tempDir();
afterAll(() => t.cleanup());

function pnpm(
  args: string[],
  cwd: string,
  input?: Buffer,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("pnpm", args, { cwd, env: { ...baseEnv(cwd), PATH: process.env.PATH ?? "" } });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("error", reject);
    child.stdin.end(input ?? "");
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

describe("help", () => {
  it("every command has accurate help, exit 0", async () => {
    const { run } = await import("./helpers.js");
    const decrypt = await run(["decrypt", "--help"]);
    expect(decrypt.code).toBe(0);
    expect(decrypt.out).toMatch(/--expect-context <k=v>/);
    expect(decrypt.out).toMatch(/exit code 3/);
    const keys = await run(["keys", "--help"]);
    for (const verb of [
      "create",
      "list",
      "describe",
      "enable",
      "disable",
      "rotate",
      "rotations",
      "schedule-deletion",
      "cancel-deletion",
    ]) {
      expect(keys.out).toMatch(new RegExp(`\\n  ${verb} `));
    }
    const serve = await run(["kms", "serve", "--help"]);
    expect(serve.out).toMatch(/--hsm <config.json>/);
    expect(serve.out).toMatch(/--allow-unsigned-as <arn>/);
    for (const cmd of [
      "encrypt",
      "rewrap",
      "inspect",
      "aliases",
      "policy",
      "grants",
      "audit",
      "usage",
      "bench",
    ]) {
      expect((await run([cmd, "--help"])).code).toBe(0);
    }
  });
});

describe("pnpm sealkit at the repo root", () => {
  it("prints the help", async () => {
    const r = await pnpm(["sealkit", "--help"], REPO_ROOT);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^Usage: sealkit \[options\] \[command\]/);
    expect(r.stdout.toString()).toMatch(/Exit codes:/);
  });

  it("keeps stdout byte-exact for an encrypt | decrypt through pnpm, and resolves paths from the caller's directory", async () => {
    writeFileSync(join(t.dir, "k"), randomBytes(32));
    const data = randomBytes(100_000);
    // --dir runs the root's script from elsewhere; relative paths are the caller's (INIT_CWD).
    const enc = await pnpm(
      ["--dir", REPO_ROOT, "sealkit", "encrypt", "--provider", "raw", "--raw-key-file", "k"],
      t.dir,
      data,
    );
    expect(enc.code).toBe(0);
    expect(enc.stdout.subarray(0, 4).toString("latin1")).toBe("SLKT");
    const dec = await pnpm(
      ["--dir", REPO_ROOT, "sealkit", "decrypt", "--provider", "raw", "--raw-key-file", "k"],
      t.dir,
      enc.stdout,
    );
    expect(dec.code).toBe(0);
    expect(dec.stdout.equals(data)).toBe(true);
  });
});
