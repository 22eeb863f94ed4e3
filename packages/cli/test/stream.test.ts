// A large streamed round trip, generator | sealkit encrypt | sealkit decrypt | sha256, with each CLI process's peak
// memory (VmHWM from /proc) measured: bounded memory whatever the size. 256 MiB by default; set
// SEALKIT_CLI_STREAM_BYTES=1073741824 for the 1 GiB run (numbers of both are in the README).

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, baseEnv, CLI_DIR, tempDir } from "./helpers.js";

const SIZE = Number(process.env.SEALKIT_CLI_STREAM_BYTES ?? 256 * 1024 * 1024);
const LIMIT_KB = 200 * 1024;
const t = tempDir();
afterAll(() => t.cleanup());

/** Peak resident set (VmHWM, in KiB) of a live process, or undefined once it exited. */
function vmHwm(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

describe("streaming", () => {
  for (const suite of ["xchacha20-poly1305", "aes-256-gcm"]) {
    it(`${SIZE} bytes through encrypt | decrypt in bounded memory, ${suite}`, {
      timeout: 600_000,
    }, async () => {
      writeFileSync(join(t.dir, "k"), randomBytes(32));
      const env = baseEnv(t.dir);
      const raw = ["--provider", "raw", "--raw-key-file", join(t.dir, "k")];
      const gen = spawn(process.execPath, [join(CLI_DIR, "test/fixtures/generate.mjs"), String(SIZE)], {
        env,
      });
      const enc = spawn(process.execPath, [BIN, "encrypt", ...raw, "--suite", suite], { env });
      const dec = spawn(process.execPath, [BIN, "decrypt", ...raw], { env });
      gen.stdout.pipe(enc.stdin);
      enc.stdout.pipe(dec.stdin);
      const hash = createHash("sha256");
      let length = 0;
      dec.stdout.on("data", (b: Buffer) => {
        hash.update(b);
        length += b.length;
      });
      let expected = "";
      gen.stderr.on("data", (b: Buffer) => {
        expected += b.toString();
      });
      let errors = "";
      enc.stderr.on("data", (b: Buffer) => (errors += b.toString()));
      dec.stderr.on("data", (b: Buffer) => (errors += b.toString()));
      const peak = { enc: 0, dec: 0 };
      const sample = setInterval(() => {
        peak.enc = Math.max(peak.enc, vmHwm(enc.pid!) ?? 0);
        peak.dec = Math.max(peak.dec, vmHwm(dec.pid!) ?? 0);
      }, 50);
      const exit = (p: ReturnType<typeof spawn>) =>
        new Promise<number | null>((r) => p.on("exit", (c) => r(c)));
      const drained = new Promise((r) => dec.stdout.on("close", r));
      const started = Date.now();
      const codes = await Promise.all([exit(gen), exit(enc), exit(dec)]);
      await drained;
      clearInterval(sample);
      const seconds = (Date.now() - started) / 1000;
      console.log(
        `stream ${suite}: ${SIZE} bytes in ${seconds.toFixed(1)} s; peak RSS encrypt ${(peak.enc / 1024).toFixed(0)} MiB, decrypt ${(peak.dec / 1024).toFixed(0)} MiB`,
      );
      expect(errors).toBe("");
      expect(codes).toEqual([0, 0, 0]);
      expect(length).toBe(SIZE);
      expect(hash.digest("hex")).toBe(expected);
      expect(peak.enc).toBeGreaterThan(0);
      expect(peak.enc).toBeLessThan(LIMIT_KB);
      expect(peak.dec).toBeLessThan(LIMIT_KB);
    });
  }
});
