// The SQLite store of the local KMS (kms.db): schema, migrations and the statements every operation uses.

import { accessSync, constants } from "node:fs";
import { basename, dirname } from "node:path";
import { SealkitError } from "@sealkit/core";
import Database from "better-sqlite3";

/** The schema version this code writes; older databases are migrated on open. */
export const SCHEMA_VERSION = 4;

/** Which kind of master key a row is (AWS's key managers, plus keys the service keeps for itself). */
export type KeyKind = "customer" | "aws" | "owned";
export type KeyState = "Enabled" | "Disabled" | "PendingDeletion";

/** A row of `keys`. Times are milliseconds since the epoch. */
export interface KeyRow {
  id: string;
  kind: KeyKind;
  service: string | null;
  description: string;
  key_spec: string;
  key_usage: string;
  origin: string;
  state: KeyState;
  created_at: number;
  deletion_date: number | null;
  pending_window_days: number | null;
  rotation_enabled: number;
  rotation_period_days: number | null;
  next_rotation_at: number | null;
  current_version: number;
  on_demand_rotations: number;
}

export interface KeyVersionRow {
  key_id: string;
  version: number;
  wrapped: Uint8Array;
  created_at: number;
  rotation_type: "INITIAL" | "AUTOMATIC" | "ON_DEMAND";
}

export interface AliasRow {
  name: string;
  key_id: string;
  created_at: number;
  updated_at: number;
}

export interface GrantRow {
  grant_id: string;
  key_id: string;
  name: string | null;
  grantee: string;
  retiring: string | null;
  operations: string;
  constraints: string | null;
  issuing_account: string;
  created_at: number;
  token: string;
}

export interface UsageRow {
  key_id: string;
  operation: string;
  month: string;
  count: number;
  last_used: number;
  /** The request id and CloudTrail event id of the call at last_used (null in rows written before version 2). */
  last_request_id: string | null;
  last_event_id: string | null;
}

const MIGRATIONS: readonly string[] = [
  // 1: the first schema. Later versions add to it below, so that every data dir goes through the same steps.
  `
  CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('customer', 'aws', 'owned')),
    service TEXT,
    description TEXT NOT NULL DEFAULT '',
    key_spec TEXT NOT NULL,
    key_usage TEXT NOT NULL,
    origin TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('Enabled', 'Disabled', 'PendingDeletion')),
    created_at INTEGER NOT NULL,
    deletion_date INTEGER,
    pending_window_days INTEGER,
    rotation_enabled INTEGER NOT NULL DEFAULT 0,
    rotation_period_days INTEGER,
    next_rotation_at INTEGER,
    current_version INTEGER NOT NULL,
    on_demand_rotations INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX keys_deletion ON keys (deletion_date) WHERE deletion_date IS NOT NULL;
  CREATE INDEX keys_rotation ON keys (next_rotation_at) WHERE next_rotation_at IS NOT NULL;
  CREATE UNIQUE INDEX keys_service ON keys (kind, service) WHERE service IS NOT NULL;
  CREATE TABLE key_versions (
    key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    wrapped BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    rotation_type TEXT NOT NULL,
    PRIMARY KEY (key_id, version)
  );
  CREATE TABLE aliases (
    name TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX aliases_key ON aliases (key_id);
  CREATE TABLE policies (
    key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (key_id, name)
  );
  CREATE TABLE grants (
    grant_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    name TEXT,
    grantee TEXT NOT NULL,
    retiring TEXT,
    operations TEXT NOT NULL,
    constraints TEXT,
    issuing_account TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    token TEXT NOT NULL UNIQUE
  );
  CREATE INDEX grants_key ON grants (key_id, created_at);
  CREATE TABLE tags (
    key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    tag_key TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (key_id, tag_key)
  );
  CREATE TABLE usage (
    key_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    month TEXT NOT NULL,
    count INTEGER NOT NULL,
    last_used INTEGER NOT NULL,
    PRIMARY KEY (key_id, operation, month)
  );
  CREATE TABLE key_history (
    key_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    destroyed_at INTEGER,
    PRIMARY KEY (key_id, version)
  );
  `,
  // 2: GetKeyLastUsage's KmsRequestId and CloudTrailEventId, of the call at last_used.
  `
  ALTER TABLE usage ADD COLUMN last_request_id TEXT;
  ALTER TABLE usage ADD COLUMN last_event_id TEXT;
  `,
  // 3: ListRetirableGrants finds a retiring principal's grants, in its page order, without reading every grant.
  `
  CREATE INDEX IF NOT EXISTS grants_retiring ON grants (retiring, created_at, grant_id) WHERE retiring IS NOT NULL;
  `,
  // 4: ListKeys pages through keys in their order without sorting every key for each page.
  `
  CREATE INDEX IF NOT EXISTS keys_created ON keys (created_at, id);
  `,
];

/** How long `openStore` waits for another holder of the data dir lock to let go (a restart overlapping a shutdown). */
const LOCK_WAIT_MS = 1000;

/**
 * Takes the exclusive lock of the database at `path`: `<path>.lock`, a small SQLite file held with
 * `locking_mode=EXCLUSIVE` through its own connection; close the returned connection to release it. SQLite's
 * locks are POSIX advisory locks, which the kernel releases when the process dies (kill -9 included), so a
 * crash never leaves a stale lock behind; within one process SQLite tracks its locks per file, so a second
 * opener in the same process is refused too. `holder` names the kind of owner in the error message.
 * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE when another holder, in this or another process, has it, the
 * directory is not writable, or the lock file is damaged (not SQLite)
 */
export function lockDatabase(path: string, holder: string): Database.Database {
  const lockPath = `${path}.lock`;
  let lock: Database.Database;
  try {
    lock = new Database(lockPath, { timeout: LOCK_WAIT_MS });
  } catch (cause) {
    // SQLite says only "unable to open database file"; the file system says why.
    try {
      accessSync(dirname(path), constants.W_OK);
    } catch (why) {
      const code = (why as NodeJS.ErrnoException).code;
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `the data dir ${dirname(path)} is not writable (${code}${code === "EROFS" ? ": a read-only file system" : ""}); ${basename(path)} and its lock must be written there`,
        { cause },
      );
    }
    throw cause;
  }
  try {
    lock.pragma("locking_mode = EXCLUSIVE");
    // The first write in exclusive locking mode takes the file's EXCLUSIVE lock and keeps it until close.
    lock.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL)");
    lock.exec("BEGIN EXCLUSIVE");
    lock.prepare("DELETE FROM holder").run();
    lock.prepare("INSERT INTO holder (pid) VALUES (?)").run(process.pid);
    lock.exec("COMMIT");
  } catch (cause) {
    lock.close();
    const code = String((cause as { code?: unknown }).code ?? "");
    if (code === "SQLITE_BUSY") {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `${path} is already open (its lock ${lockPath} is held by another ${holder}, in this or another process); close the other one first`,
        { cause },
      );
    }
    if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
      // SQLite says only "file is not a database": the operator would look at the database, not at its lock.
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `the lock file ${lockPath} is damaged (${(cause as Error).message}); it holds no data: delete it while nothing uses the data dir, then start again`,
        { cause },
      );
    }
    throw cause;
  }
  return lock;
}

/**
 * Opens (creating or migrating) kms.db: WAL, synchronous=FULL, foreign keys on. Holds the data dir's exclusive
 * lock (`kms.db.lock`) until the returned connection is closed, so two LocalKms instances never share a data dir
 * (their caches and the audit chain would diverge) and the root key is not changed under a running one.
 * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE when the data dir is already open (in this or another process)
 * @throws {Error} when the database is newer than this code or cannot be opened
 */
export function openStore(path: string): Database.Database {
  const lock = lockDatabase(path, "LocalKms: one data dir takes one LocalKms at a time");
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const row = db.prepare("SELECT version FROM schema_version").get() as { version: number } | undefined;
    const current = row?.version ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new Error(
        `kms.db has schema version ${current}; this version of @sealkit/kms-local reads up to ${SCHEMA_VERSION}`,
      );
    }
    const opened = db;
    opened
      .transaction(() => {
        for (let v = current; v < SCHEMA_VERSION; v++) opened.exec(MIGRATIONS[v]!);
        if (row === undefined)
          opened.prepare("INSERT INTO schema_version (version) VALUES (?)").run(SCHEMA_VERSION);
        else opened.prepare("UPDATE schema_version SET version = ?").run(SCHEMA_VERSION);
      })
      .immediate();
  } catch (error) {
    db?.close();
    lock.close();
    throw error;
  }
  // Closing the store releases the lock.
  const store = db;
  const close = store.close.bind(store);
  store.close = () => {
    try {
      return close();
    } finally {
      if (lock.open) lock.close();
    }
  };
  return store;
}
