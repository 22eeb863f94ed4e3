// Tests of the writer thread on its own: failures come back as rejections, never as a crash or a hang.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AuditWriteError, AuditWriter } from "./audit-writer.js";

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
});
