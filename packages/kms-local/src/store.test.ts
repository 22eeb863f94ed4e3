import { unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { openStore, SCHEMA_VERSION } from "./store.js";
import { tempDir } from "./test-helpers.js";

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

describe("store", () => {
  it("creates the schema in WAL mode with synchronous=FULL and records its version", () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const db = openStore(join(t.dir, "kms.db"));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("synchronous", { simple: true })).toBe(2);
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(
      (db.prepare("SELECT version FROM schema_version").all() as { version: number }[]).map((r) => r.version),
    ).toEqual([SCHEMA_VERSION]);
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    expect(tables).toEqual(
      expect.arrayContaining([
        "aliases",
        "grants",
        "key_history",
        "key_versions",
        "keys",
        "meta",
        "policies",
        "tags",
        "usage",
      ]),
    );
    db.close();
    // Reopening does not migrate again or duplicate the version row.
    const again = openStore(join(t.dir, "kms.db"));
    expect((again.prepare("SELECT count(*) AS n FROM schema_version").get() as { n: number }).n).toBe(1);
    again.close();
  });

  it("refuses a database written by a newer version", () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const path = join(t.dir, "kms.db");
    openStore(path).close();
    const raw = new Database(path);
    raw.prepare("UPDATE schema_version SET version = ?").run(SCHEMA_VERSION + 1);
    raw.close();
    expect(() => openStore(path)).toThrow(`schema version ${SCHEMA_VERSION + 1}`);
  });

  it("names the lock file and what to do when it is not a lock SQLite can use (a damaged kms.db.lock)", () => {
    const t = tempDir();
    cleanup = t.cleanup;
    writeFileSync(join(t.dir, "kms.db.lock"), "garbage ".repeat(1000));
    let error: unknown;
    try {
      openStore(join(t.dir, "kms.db")).close();
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "ERR_PROVIDER_UNAVAILABLE" });
    expect((error as Error).message).toContain(join(t.dir, "kms.db.lock"));
    expect((error as Error).message).toMatch(/holds no data: delete it while nothing uses the data dir/);
    // Deleted, as the message says: the data dir opens.
    unlinkSync(join(t.dir, "kms.db.lock"));
    openStore(join(t.dir, "kms.db")).close();
  });
});
