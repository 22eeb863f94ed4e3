// Crash test: a child appends and prints acknowledged events, is SIGKILLed mid-stream, and every acknowledged event must survive.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { bundleForNode } from "../bundle-for-node.js";
import { AuditLog } from "./index.js";

const KILLS = 5;
const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-crash-"));
let script: string | undefined;
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  if (script !== undefined) rmSync(script, { force: true });
});

/** Starts the child, lets it append for `runMs` after it is ready, SIGKILLs it, returns what it acknowledged. */
function runAndKill(bundle: string, runMs: number): Promise<Map<number, string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, dir, "16"], { stdio: ["ignore", "pipe", "pipe"] });
    const acked = new Map<number, string>();
    let buffered = "";
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "ready") {
          setTimeout(() => child.kill("SIGKILL"), runMs);
          continue;
        }
        const [sequence, eventId] = line.split(" ");
        acked.set(Number(sequence), eventId!);
      }
    });
    child.on("error", reject);
    child.on("exit", (_code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`child exited without being killed: ${stderr}`));
      else resolve(acked);
    });
  });
}

describe("durability", () => {
  it(`keeps every acknowledged event across ${KILLS} SIGKILLs`, { timeout: 60_000 }, async () => {
    script = bundleForNode("src/audit/durability-child.ts");
    const allAcked = new Map<number, string>();
    for (let kill = 0; kill < KILLS; kill++) {
      const acked = await runAndKill(script, 150 + kill * 60);
      expect(acked.size).toBeGreaterThan(0);
      for (const [sequence, eventId] of acked) allAcked.set(sequence, eventId);

      const check = new Database(join(dir, "audit.db"));
      expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
      check.close();
      const log = await AuditLog.open(dir);
      const stored = new Map(log.query({ after: 0, limit: 100_000 }).map((e) => [e.sequence, e.eventID]));
      for (const [sequence, eventId] of allAcked) expect(stored.get(sequence)).toBe(eventId);
      const report = await log.verify();
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      // The next child continues the same chain, as a restarted server would.
      await log.close();
    }
    expect(allAcked.size).toBeGreaterThan(KILLS * 10);
  });
});
