// Checks that audit.db's indexes and schema are the ones the log made: query() reads through the indexes, verify()
// reads the table, so an index that no longer matches its table would let queries hide events that verify passes.

import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { MIGRATIONS } from "./schema.js";

/** The tables whose schema objects (the table itself, its indexes) must be exactly the log's own; no trigger anywhere. */
const CHECKED_TABLES = ["audit_events", "audit_digests"] as const;

/** One schema object as sqlite_master lists it. */
export interface SchemaObject {
  type: string;
  name: string;
  tbl_name: string;
  sql: string | null;
}

/**
 * The schema objects of the events and digests tables, and every trigger in the file (the log makes none; one on any
 * table can change the events), as sqlite_master lists them. The writer thread runs it too.
 */
export const SCHEMA_QUERY = `SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name IN (${CHECKED_TABLES.map((t) => `'${t}'`).join(", ")}) OR type = 'trigger' ORDER BY type, name`;

/** The schema objects of the checked tables as the migrations up to `version` create them, by version. */
const expectedByVersion = new Map<number, Map<string, SchemaObject>>();

function expectedSchema(version: number): Map<string, SchemaObject> {
  let expected = expectedByVersion.get(version);
  if (expected === undefined) {
    const db = new Database(":memory:");
    try {
      for (let v = 0; v < version && v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
      expected = new Map((db.prepare(SCHEMA_QUERY).all() as SchemaObject[]).map((o) => [o.name, o]));
    } finally {
      db.close();
    }
    expectedByVersion.set(version, expected);
  }
  return expected;
}

/** The schema objects of the events and digests tables as the log creates them at `version`. */
export function expectedSchemaObjects(version: number): SchemaObject[] {
  return [...expectedSchema(version).values()];
}

/**
 * How the schema of the events and digests tables differs from the one the log creates at `version`: an index
 * dropped, redefined (a partial index that leaves some events out) or added, a trigger added, a table redefined.
 * Empty when it is the log's own. Other tables in the file are not looked at.
 */
export function schemaChanges(db: Database.Database, version: number): string[] {
  const expected = expectedSchema(version);
  const found = new Map((db.prepare(SCHEMA_QUERY).all() as SchemaObject[]).map((o) => [o.name, o]));
  const changes: string[] = [];
  for (const [name, object] of expected) {
    const now = found.get(name);
    if (now === undefined) changes.push(`the ${object.type} ${name} was dropped`);
    else if (now.type !== object.type || now.tbl_name !== object.tbl_name || now.sql !== object.sql)
      changes.push(`the ${object.type} ${name} was redefined (${String(now.sql).slice(0, 200)})`);
  }
  for (const [name, object] of found) {
    if (!expected.has(name))
      changes.push(
        `a ${object.type} ${name} was added on ${object.tbl_name} (${String(object.sql).slice(0, 200)})`,
      );
  }
  return changes;
}

/** Messages of SQLite's integrity check of the events table (at most this many). */
const MAX_MESSAGES = 100;

// CommonJS, run with `eval: true` (no file of its own in src/ or dist/), like the writer thread.
const CHECKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.sqlitePath);
try {
  const db = new Database(workerData.path, { readonly: true, fileMustExist: true, timeout: workerData.timeout });
  try {
    const rows = db.prepare("PRAGMA integrity_check(audit_events)").all();
    const messages = rows.map((r) => String(r.integrity_check)).filter((m) => m !== "ok").slice(0, ${MAX_MESSAGES});
    parentPort.postMessage({ ok: true, messages });
  } finally {
    db.close();
  }
} catch (error) {
  parentPort.postMessage({ ok: false, message: String(error && error.message), code: error && error.code });
}
`;

/** What SQLite's integrity check found wrong in the events table and its indexes; empty when nothing. */
export interface IndexCheck {
  /** Resolves with SQLite's messages ("row 7 missing from index audit_events_key", ...). */
  result: Promise<string[]>;
  /** Stops the check (the verification failed for another reason). */
  cancel(): void;
}

/**
 * Runs `PRAGMA integrity_check(audit_events)` on the file at `path` in a thread of its own, through its own
 * read-only connection: it compares every index entry with its row, which takes seconds for a million events,
 * and a server's main thread must go on serving meanwhile. An in-memory database is checked here, at once.
 *
 * The result rejects with the SQLite error (its `code` kept) when the file cannot be checked.
 */
export function startIndexCheck(db: Database.Database, timeoutMs: number): IndexCheck {
  if (db.memory) {
    const rows = db.prepare("PRAGMA integrity_check(audit_events)").all() as { integrity_check: string }[];
    const messages = rows.map((r) => r.integrity_check).filter((m) => m !== "ok");
    return { result: Promise.resolve(messages), cancel: () => undefined };
  }
  let worker: Worker;
  try {
    const sqlitePath = createRequire(import.meta.url).resolve("better-sqlite3");
    worker = new Worker(CHECKER_SOURCE, {
      eval: true,
      workerData: { path: db.name, sqlitePath, timeout: timeoutMs },
    });
  } catch (error) {
    return { result: Promise.reject(error), cancel: () => undefined };
  }
  const result = new Promise<string[]>((resolve, reject) => {
    worker.once("message", (reply: { ok: boolean; messages?: string[]; message?: string; code?: string }) => {
      if (reply.ok) resolve(reply.messages ?? []);
      else reject(Object.assign(new Error(reply.message ?? "integrity check failed"), { code: reply.code }));
      void worker.terminate();
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the audit index check thread exited with code ${code}`)));
  });
  // Settled by whoever awaits it; a cancelled check must not surface as an unhandled rejection.
  result.catch(() => undefined);
  return { result, cancel: () => void worker.terminate() };
}
