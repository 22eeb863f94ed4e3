// Verification of files an attacker filled, in a real child process with a small heap: it must report, not crash.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { bundleForNode } from "../bundle-for-node.js";
import { AuditLog } from "./index.js";

const ACCOUNT = "111122223333";
const dirs: string[] = [];
let script: string | undefined;
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  if (script !== undefined) rmSync(script, { force: true });
});

async function closedLog(events: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-hostile-"));
  dirs.push(dir);
  const log = await AuditLog.open(dir, { digestEvery: 10 });
  for (let i = 1; i <= events; i++) {
    await log.append({
      eventName: "Decrypt",
      caller: { principal: `arn:aws:iam::${ACCOUNT}:user/alice`, account: ACCOUNT },
      requestParameters: { n: i },
    });
  }
  await log.close();
  return dir;
}

/** Runs verification in a child with a `heapMb` MiB heap; returns its summary line, exit code and signal. */
function verifyInChild(dir: string, heapMb: number) {
  script ??= bundleForNode("src/audit/verify-child.ts");
  const result = spawnSync(
    process.execPath,
    [`--max-old-space-size=${heapMb}`, script, join(dir, "audit.db"), join(dir, "audit-signing.key.pub")],
    { encoding: "utf8", timeout: 60_000 },
  );
  const line = result.stdout.trim().split("\n").at(-1) ?? "";
  return {
    status: result.status,
    signal: result.signal,
    summary: line === "" ? undefined : JSON.parse(line),
  };
}

describe("hostile audit files", { timeout: 180_000 }, () => {
  it("reports 400,000 forged digest rows within a 96 MiB heap and a minute, instead of running out of memory", async () => {
    const dir = await closedLog(25);
    const db = new Database(join(dir, "audit.db"));
    // Copies of digest #1 under new numbers: each fails its signature. About 100 MB of rows.
    db.exec(`
      WITH RECURSIVE n(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM n WHERE i < 400099)
      INSERT INTO audit_digests
        SELECT i, first_sequence, last_sequence, last_hash, last_event_id, digest_time || printf('%.*c', 120, 'x'),
               previous_signature, public_key_fingerprint, signature
        FROM n, (SELECT * FROM audit_digests WHERE digest_number = 1)`);
    db.close();
    const { status, signal, summary } = verifyInChild(dir, 96);
    expect({ status, signal }).toEqual({ status: 0, signal: null });
    expect(summary).toMatchObject({ ok: false, events: 25, digests: 400_003, problems: 1000 });
    expect(summary.first).toMatchObject({ kind: "bad-digest-signature", sequence: 10 });
    expect(summary.last).toMatchObject({ kind: "bad-digest-signature" });
  });

  it("reports rows with values far larger than any event (200 MB) as edited, within a 96 MiB heap", async () => {
    const dir = await closedLog(25);
    const db = new Database(join(dir, "audit.db"));
    db.exec(
      `UPDATE audit_events SET event_json = '{"eventVersion":"' || printf('%.*c', 200000000, 'x') || '"}' WHERE sequence = 7`,
    );
    db.exec(`UPDATE audit_events SET principal = printf('%.*c', 200000000, 'a') WHERE sequence = 9`);
    db.close();
    const { status, signal, summary } = verifyInChild(dir, 96);
    expect({ status, signal }).toEqual({ status: 0, signal: null });
    expect(summary).toMatchObject({ ok: false, events: 25, problems: 2 });
    expect(summary.first).toMatchObject({ kind: "edited", sequence: 7 });
    expect(summary.first.detail).toContain("more than any audit event");
    expect(summary.last).toMatchObject({ kind: "edited", sequence: 9 });
  });
});
