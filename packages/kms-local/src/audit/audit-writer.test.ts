// Tests of the writer thread on its own: failures come back as rejections, never as a crash or a hang.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { AuditLog } from "./audit-log.js";
import { AuditWriteError, AuditWriter, type EventRow } from "./audit-writer.js";
import { GENESIS_HASH } from "./verify-log.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("AuditWriter", () => {
  it("rejects when its database cannot be opened, and again on the next try", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-writer-"));
    dirs.push(dir);
    const writer = new AuditWriter(join(dir, "missing-dir", "audit.db"));
    await expect(writer.open()).rejects.toBeInstanceOf(AuditWriteError);
    await expect(writer.write([], undefined)).rejects.toThrow(
      /Cannot open database because the directory does not exist/,
    );
    await writer.close();
  });

  it("rejects opening and writing a database without the audit tables with SQLite's error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-writer-"));
    dirs.push(dir);
    const writer = new AuditWriter(join(dir, "empty.db"));
    await expect(writer.open()).rejects.toThrow(/no such table: audit_events/);
    const failure = writer.write([[1, "t", "n", "p", null, null, "{}", "h"]], undefined);
    await expect(failure).rejects.toBeInstanceOf(AuditWriteError);
    await writer.close();
  });

  it("refuses a batch that does not continue the committed head, and after a failure every write until resync", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-writer-"));
    dirs.push(dir);
    await (await AuditLog.open(dir, { digestEvery: 1_000_000 })).close(); // creates the schema, no events
    const writer = new AuditWriter(join(dir, "audit.db"));
    const row = (sequence: number, prevHash: string, hash: string): EventRow => [
      sequence,
      "2026-01-01T00:00:00.000Z",
      "Decrypt",
      "p",
      null,
      null,
      JSON.stringify({ sequence, prevHash }),
      hash,
    ];
    const h = (n: number) => String(n).repeat(64).slice(0, 64);
    try {
      await writer.write([row(1, GENESIS_HASH, h(1)), row(2, h(1), h(2))], undefined);
      // A gap, a repeated sequence and a wrong previous hash are refused with nothing written.
      for (const bad of [[row(4, h(2), h(4))], [row(2, h(1), h(9))], [row(3, h(9), h(3))]]) {
        await expect(writer.write(bad, undefined)).rejects.toMatchObject({ code: "SEALKIT_AUDIT_CHAIN" });
        await writer.resync();
      }
      // After a failure, even a correct batch (one sent before the failure was known) is refused ...
      await expect(writer.write([row(4, h(2), h(4))], undefined)).rejects.toBeInstanceOf(AuditWriteError);
      await expect(writer.write([row(3, h(2), h(3))], undefined)).rejects.toThrow(/earlier batch failed/);
      // ... and accepted after resync.
      await writer.resync();
      await writer.write([row(3, h(2), h(3))], undefined);
      // A digest must follow the last one (number and previous signature).
      const digest = (n: number, previous: string): Parameters<AuditWriter["write"]>[1] => [
        n,
        1,
        3,
        h(3),
        "e",
        "t",
        previous,
        "f",
        `sig${n}`,
      ];
      await expect(writer.write([], digest(2, ""))).rejects.toMatchObject({ code: "SEALKIT_AUDIT_CHAIN" });
      await writer.resync();
      await writer.write([], digest(1, ""));
      await expect(writer.write([], digest(2, "wrong"))).rejects.toMatchObject({
        code: "SEALKIT_AUDIT_CHAIN",
      });
      await writer.resync();
      await writer.write([], digest(2, "sig1"));
    } finally {
      await writer.close();
    }
    const db = new Database(join(dir, "audit.db"), { readonly: true });
    try {
      expect(db.prepare("SELECT sequence, hash FROM audit_events ORDER BY sequence").all()).toEqual([
        { sequence: 1, hash: h(1) },
        { sequence: 2, hash: h(2) },
        { sequence: 3, hash: h(3) },
      ]);
      expect(db.prepare("SELECT digest_number FROM audit_digests").pluck().all()).toEqual([1, 2]);
    } finally {
      db.close();
    }
  });
});
