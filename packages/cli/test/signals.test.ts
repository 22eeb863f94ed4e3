// Ctrl-C (SIGINT) or SIGTERM in the middle of encrypt/decrypt -o: no temporary file (partial plaintext, for
// decrypt) may stay behind, the output path is untouched, and the exit status says which signal stopped the run.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, baseEnv, ok, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const raw = ["--provider", "raw", "--raw-key-file", "team.key"];
const plaintext = randomBytes(4 * 1024 * 1024);

beforeAll(async () => {
  writeFileSync(join(cwd, "team.key"), randomBytes(32));
  writeFileSync(join(cwd, "plain.bin"), plaintext);
  await ok(["encrypt", "plain.bin", ...raw, "--frame-size", "4K", "-o", "big.slkt"], { cwd });
});
afterAll(() => t.cleanup());

/** The temporary files of output `name` (`.<name>.sealkit-<hex>.tmp`). */
const temps = (name: string) =>
  readdirSync(cwd).filter((f) => f.startsWith(`.${name}.sealkit-`) && f.endsWith(".tmp"));

/**
 * Starts the CLI with stdin as a pipe, writes the first `head` bytes, waits until its temporary output file holds
 * some bytes (the command is mid-way), then sends `signal` and resolves with how the process ended.
 */
async function interrupt(
  output: string,
  args: string[],
  head: Uint8Array,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; sawTemp: boolean }> {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: baseEnv(cwd) as NodeJS.ProcessEnv,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  child.stdin!.on("error", () => {});
  child.stdin!.write(head); // and keep stdin open: the command waits for the rest
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, sig) => resolve({ code, signal: sig })),
  );
  let sawTemp = false;
  for (let i = 0; i < 600 && !sawTemp; i++) {
    sawTemp = temps(output).some((f) => statSync(join(cwd, f)).size > 0);
    if (!sawTemp) await new Promise((r) => setTimeout(r, 50));
  }
  child.kill(signal);
  const end = await ended;
  return { ...end, stderr, sawTemp };
}

describe("a signal mid-way leaves no half-written output", () => {
  it("decrypt -o, SIGINT: no temporary plaintext, no output, exit by SIGINT", async () => {
    const envelope = readFileSync(join(cwd, "big.slkt"));
    const r = await interrupt(
      "out.bin",
      ["decrypt", ...raw, "-o", "out.bin"],
      envelope.subarray(0, envelope.length / 2),
      "SIGINT",
    );
    expect(r.sawTemp).toBe(true);
    expect(r.signal === "SIGINT" || r.code === 130).toBe(true);
    expect(temps("out.bin")).toEqual([]);
    expect(existsSync(join(cwd, "out.bin"))).toBe(false);
  });

  it("encrypt -o, SIGTERM: no temporary file, an existing output left as it was", async () => {
    writeFileSync(join(cwd, "keep.slkt"), "previous envelope");
    const r = await interrupt(
      "keep.slkt",
      ["encrypt", ...raw, "--frame-size", "4K", "-o", "keep.slkt"],
      plaintext.subarray(0, 1024 * 1024),
      "SIGTERM",
    );
    expect(r.sawTemp).toBe(true);
    expect(r.signal === "SIGTERM" || r.code === 143).toBe(true);
    expect(temps("keep.slkt")).toEqual([]);
    expect(readFileSync(join(cwd, "keep.slkt"), "utf8")).toBe("previous envelope");
  });
});
