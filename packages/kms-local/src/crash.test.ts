// kill -9 at random moments, repeatedly: every acknowledged change and ciphertext must survive, and the database must pass its integrity check.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleForNode } from "./bundle-for-node.js";
import { LocalKms } from "./local-kms.js";
import { ROOT } from "./test-helpers.js";

const KILLS = 20;

type Ack =
  | { op: "open" }
  | { op: "key"; keyId: string }
  | { op: "rotate"; keyId: string; rotations: number }
  | { op: "alias"; name: string; keyId: string }
  | { op: "schedule-deletion"; keyId: string }
  | {
      op: "ct";
      keyId: string;
      blob: string;
      plaintext: string;
      context: Record<string, string>;
      viaService?: string;
    };

/** Runs the child until `killAfterMs` after it opened the KMS, SIGKILLs it, and returns its complete output lines. */
function runAndKill(
  script: string,
  dataDir: string,
  killAfterMs: number,
): Promise<{ acks: Ack[]; killed: boolean }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [script, dataDir], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (!timer && out.includes('"op":"open"')) timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", reject);
    child.on("exit", (_code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== "SIGKILL") {
        reject(new Error(`child exited by itself (${signal ?? _code}): ${err.slice(0, 2000)}`));
        return;
      }
      // A line cut by the kill was never acknowledged: keep complete lines only.
      const lines = out.split("\n").slice(0, -1);
      resolvePromise({ acks: lines.map((l) => JSON.parse(l) as Ack), killed: true });
    });
  });
}

describe("crash safety", () => {
  let dir: string;
  let script: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "kms-local-crash-"));
    script = bundleForNode("src/crash-child.ts");
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(script, { force: true });
  });

  it(`keeps every acknowledged change after ${KILLS} kill -9s at random moments`, {
    timeout: 180_000,
  }, async () => {
    const acks: Ack[] = [];
    let kills = 0;
    for (let i = 0; i < KILLS; i++) {
      const r = await runAndKill(script, dir, 100 + Math.floor(Math.random() * 1100));
      if (r.killed) kills++;
      acks.push(...r.acks);
    }
    expect(kills).toBe(KILLS);

    const db = new Database(join(dir, "kms.db"), { readonly: true });
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    db.close();

    const kms = await LocalKms.open({ dataDir: dir });
    try {
      const keys = new Map<string, { rotations: number; pending: boolean }>();
      let ciphertexts = 0;
      let aliases = 0;
      let serviceKeys = 0;
      for (const a of acks) {
        if (a.op === "key") keys.set(a.keyId, { rotations: 0, pending: false });
        if (a.op === "rotate") keys.get(a.keyId)!.rotations = a.rotations;
        if (a.op === "schedule-deletion") keys.get(a.keyId)!.pending = true;
      }
      // A child may have committed one more change than it lived to print (each run ends with at most one).
      let unacknowledged = 0;
      for (const [keyId, expected] of keys) {
        const { KeyMetadata } = await kms.describeKey(ROOT, { KeyId: keyId });
        if (expected.pending) {
          expect(KeyMetadata.KeyState).toBe("PendingDeletion");
          continue;
        }
        if (KeyMetadata.KeyState === "PendingDeletion") {
          unacknowledged++;
          expected.pending = true;
          continue;
        }
        expect(KeyMetadata.KeyState).toBe("Enabled");
        const { Rotations } = await kms.listKeyRotations(ROOT, { KeyId: keyId });
        expect(Rotations.length).toBeGreaterThanOrEqual(expected.rotations);
        if (Rotations.length > expected.rotations) unacknowledged++;
        expect(Rotations.length).toBeLessThanOrEqual(expected.rotations + 1);
        await kms.encrypt(ROOT, { KeyId: keyId, Plaintext: new Uint8Array([1]) });
      }
      expect(unacknowledged).toBeLessThanOrEqual(KILLS);
      // Keys pending deletion still hold their material: bring them back to check their ciphertexts too.
      for (const [keyId, expected] of keys) {
        if (!expected.pending) continue;
        await kms.cancelKeyDeletion(ROOT, { KeyId: keyId });
        await kms.enableKey(ROOT, { KeyId: keyId });
      }
      for (const a of acks) {
        if (a.op === "alias") {
          aliases++;
          const { KeyMetadata } = await kms.describeKey(ROOT, { KeyId: a.name });
          expect(KeyMetadata.KeyId).toBe(a.keyId);
        }
        if (a.op === "ct") {
          ciphertexts++;
          if (a.viaService) serviceKeys++;
          const { Plaintext } = await kms.decrypt(
            a.viaService ? { ...ROOT, viaService: a.viaService } : ROOT,
            {
              CiphertextBlob: new Uint8Array(Buffer.from(a.blob, "base64")),
              EncryptionContext: a.context,
            },
          );
          expect(Buffer.from(Plaintext).toString("base64")).toBe(a.plaintext);
        }
      }
      // Enough happened for the test to mean something.
      expect(keys.size).toBeGreaterThan(5);
      expect(ciphertexts).toBeGreaterThan(10);
      console.log(
        `crash test: ${kills} kills survived; ${keys.size} keys, ${ciphertexts} ciphertexts, ${aliases} aliases, ${unacknowledged} unacknowledged last changes, ${serviceKeys} AWS managed keys created on first use, ` +
          `${acks.filter((a) => a.op === "rotate").length} rotations acknowledged and verified; integrity_check ok`,
      );
      const report = await kms.auditLog!.verify();
      expect(report.problems.filter((p) => p.kind !== "truncated-after-digest")).toEqual([]);
    } finally {
      await kms.close();
    }
  });
});
