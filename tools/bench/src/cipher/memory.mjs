// The memory benchmark's parent side: runs memory-child.mjs in a fresh process per suite and collects its peaks.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("./memory-child.mjs", import.meta.url));

/**
 * Streams `bytes` through encryptStream -> decryptStream in a child process.
 * @returns {Promise<object>} the child's JSON report ({ skipped } when the streams do not exist yet)
 * @throws {Error} with `correctness: true` when the round trip fails
 */
export function measureStreamingMemory(bytes, suite) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", CHILD, String(bytes), suite], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      let report;
      try {
        report = JSON.parse(out.trim().split("\n").pop());
      } catch {
        report = { error: `memory child exited with ${code} and printed no report: ${out.slice(0, 500)}` };
      }
      if (report.error || code !== 0) {
        const error = new Error(
          `correctness check failed for streaming memory (${suite}): ${report.error ?? code}`,
        );
        error.correctness = true;
        reject(error);
      } else resolve(report);
    });
  });
}
