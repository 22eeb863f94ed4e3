// A reader that closes stdout early (`sealkit keys list | head -1`): listings end quietly, streamed output fails
// with one line. Before, a listing crashed on the unhandled EPIPE with a stack trace.

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, baseEnv, ok, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const dd = ["--data-dir", join(cwd, "kms")];
let keyId = "";
afterAll(() => t.cleanup());

beforeAll(async () => {
  for (let i = 0; i < 5; i++) {
    const created = JSON.parse(
      (await ok(["keys", "create", "--description", `k${i}`, ...dd, "--json"], { cwd })).out,
    );
    keyId = created.KeyMetadata.KeyId;
  }
  writeFileSync(join(cwd, "plain.bin"), new Uint8Array(300_000).fill(7));
  await ok(["encrypt", "plain.bin", "-o", "plain.bin.slkt", "--key", keyId, ...dd], { cwd });
});

/** Runs the bin with the read end of its stdout closed before it writes anything. */
function runWithClosedStdout(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: baseEnv(cwd) as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.destroy();
    const err: Buffer[] = [];
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", fail);
    child.on("close", (code) => done({ code, stderr: Buffer.concat(err).toString("utf8") }));
  });
}

describe("stdout closed by the reader", () => {
  it.each([
    ["keys list", ["keys", "list"]],
    ["keys list --json", ["keys", "list", "--json"]],
    ["keys describe", ["keys", "describe", "KEY"]],
    ["audit tail", ["audit", "tail"]],
  ])("%s ends quietly with exit 0", async (_name, args) => {
    const r = await runWithClosedStdout([...args.map((a) => (a === "KEY" ? keyId : a)), ...dd]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("decrypt fails with one EPIPE line: the rest of the envelope was not verified", async () => {
    const r = await runWithClosedStdout(["decrypt", "plain.bin.slkt", ...dd]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sealkit: EPIPE\b[^\n]*\n$/);
  });

  it("encrypt to stdout fails with one EPIPE line: the envelope is incomplete", async () => {
    const r = await runWithClosedStdout(["encrypt", "plain.bin", "--key", keyId, ...dd]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sealkit: EPIPE\b[^\n]*\n$/);
  });
});
