// The local KMS behind real pipes: a shell pipeline gives stdin as a pipe(2) FIFO, where the test helpers' spawn gives
// a socket pair, and process substitution gives a FIFO path. Node 20 then resolved better-sqlite3 by its symlink and
// failed with "Cannot find module 'bindings'" (see io.ts).

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, baseEnv, ok, run, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const plaintext = randomBytes(200_000);
const sealkit = `'${process.execPath}' '${BIN}'`;

beforeAll(async () => {
  writeFileSync(join(cwd, "plain.bin"), plaintext);
  await ok(["keys", "create", "--alias", "alias/pipes"], { cwd });
});
afterAll(() => t.cleanup());

function bash(script: string) {
  return spawnSync("bash", ["-o", "pipefail", "-c", script], { cwd, env: baseEnv(cwd), encoding: "utf8" });
}

describe("the local KMS with stdin a pipe or a FIFO", () => {
  it("cat | encrypt | decrypt > file", () => {
    const r = bash(`cat plain.bin | ${sealkit} encrypt --key alias/pipes | ${sealkit} decrypt > out.bin`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(readFileSync(join(cwd, "out.bin")).equals(plaintext)).toBe(true);
  });

  it("encrypt and decrypt a process substitution <(...)", () => {
    const r = bash(
      `${sealkit} encrypt <(cat plain.bin) --key alias/pipes -o sub.slkt && ${sealkit} decrypt <(cat sub.slkt) > sub.bin`,
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(readFileSync(join(cwd, "sub.bin")).equals(plaintext)).toBe(true);
  });

  it("encrypt | decrypt on one data dir while the input is still arriving: encrypt holds the KMS only for its data key", () => {
    // The input pauses 3 s after its first bytes: the old encrypt held the data dir all that time, and decrypt, which
    // opens it once the header arrives, gave up after 1 s ("already open").
    const r = bash(
      `(head -c 100000 plain.bin; sleep 3; tail -c +100001 plain.bin) | ${sealkit} encrypt --key alias/pipes | ${sealkit} decrypt > slow.bin`,
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(readFileSync(join(cwd, "slow.bin")).equals(plaintext)).toBe(true);
  });

  it("a command waits for a data dir another process holds for a moment", async () => {
    const { LocalKms } = await import("@sealkit/kms-local");
    const held = await LocalKms.open({ dataDir: join(cwd, ".sealkit", "kms") });
    const pending = run(["keys", "list"], { cwd });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await held.close();
    const r = await pending;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/alias\/pipes/);
  });
});
