// The progress bar: drawn on stderr when it is a terminal (a pty from util-linux `script`), colorless with
// NO_COLOR, absent with --quiet and whenever stderr is not a terminal.

import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, baseEnv, run, tempDir } from "./helpers.js";

const hasScript = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;
const t = tempDir();
afterAll(() => t.cleanup());

/** Runs the CLI with stdin, stdout and stderr on a pseudo-terminal; returns what the terminal showed. */
function onTerminal(args: string[], env: Record<string, string>): { code: number | null; screen: string } {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(" ");
  const r = spawnSync("script", ["-qec", command, "/dev/null"], {
    cwd: t.dir,
    env: { ...baseEnv(t.dir), SEALKIT_PROGRESS_DELAY_MS: "0", ...env },
    encoding: "latin1",
  });
  return { code: r.status, screen: r.stdout };
}

describe.skipIf(!hasScript)("progress bar", () => {
  it("shows bytes, percentage, rate and time on a terminal; honours NO_COLOR and --quiet", () => {
    writeFileSync(join(t.dir, "k"), randomBytes(32));
    writeFileSync(join(t.dir, "big.bin"), Buffer.alloc(32 * 1024 * 1024));
    const args = ["encrypt", "big.bin", "--provider", "raw", "--raw-key-file", "k", "-o", "big.slkt"];
    const colored = onTerminal(args, { NO_COLOR: "" });
    expect(colored.code).toBe(0);
    expect(colored.screen).toMatch(
      /encrypt \[.*\] 100% 32\.0 MiB\/32\.0 MiB [\d.]+ (KiB|MiB|GiB)\/s \d\d:\d\d/,
    );
    expect(colored.screen).toContain("\x1b[36m");
    const plain = onTerminal(args, { NO_COLOR: "1" });
    expect(plain.screen).toMatch(/100% 32\.0 MiB\/32\.0 MiB/);
    expect(plain.screen).not.toContain("\x1b[36m");
    const quiet = onTerminal([...args, "--quiet"], {});
    expect(quiet.code).toBe(0);
    expect(quiet.screen).not.toContain("encrypt [");
  });

  it("a FIFO input (a process substitution) has no known size: bytes and rate, no '/0 B'", () => {
    writeFileSync(join(t.dir, "fifo.k"), randomBytes(32));
    const fifo = join(t.dir, "fifo");
    spawnSync("mkfifo", [fifo]);
    const writer = spawn("sh", ["-c", `head -c 4000000 /dev/zero > '${fifo}'`]);
    const r = onTerminal(
      ["encrypt", "fifo", "--provider", "raw", "--raw-key-file", "fifo.k", "-o", "f.slkt"],
      {
        NO_COLOR: "1",
      },
    );
    writer.kill();
    expect(r.code).toBe(0);
    expect(r.screen).toMatch(/encrypt 3\.8 MiB [\d.]+ (KiB|MiB|GiB)\/s/);
    expect(r.screen).not.toMatch(/\/0 B/);
  });

  it("an error after the bar was drawn starts on a line of its own", () => {
    const big = readFileSync(join(t.dir, "big.slkt"));
    big[big.length >> 1]! ^= 1; // a frame in the middle: the bar has been drawn, the input not read to its end
    writeFileSync(join(t.dir, "bad.slkt"), big);
    const r = onTerminal(
      ["decrypt", "bad.slkt", "--provider", "raw", "--raw-key-file", "k", "-o", "bad.out"],
      { NO_COLOR: "1" },
    );
    expect(r.code).toBe(3);
    expect(r.screen).toContain("decrypt [");
    expect(r.screen).toMatch(/(^|\n)sealkit: ERR_AUTHENTICATION_FAILED: /);
  });

  it("is silent when stderr is not a terminal", async () => {
    const r = await run(
      ["decrypt", "big.slkt", "--provider", "raw", "--raw-key-file", "k", "-o", "big.out"],
      {
        cwd: t.dir,
        env: { SEALKIT_PROGRESS_DELAY_MS: "0" },
      },
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
  });
});
