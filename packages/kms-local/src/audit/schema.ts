// The SQLite schema of audit.db: events (hash chained), signed digests and metadata, with its migrations.

import type Database from "better-sqlite3";

/** Version of the schema this code writes; older databases are migrated on open. */
export const AUDIT_SCHEMA_VERSION = 1;

/** The SQL of each migration step (index 0: version 0 to 1); verification rebuilds the expected schema from it. */
export const MIGRATIONS: readonly string[] = [
  // 0 -> 1
  `
  CREATE TABLE audit_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE audit_events (
    sequence INTEGER PRIMARY KEY,
    event_time TEXT NOT NULL,
    event_name TEXT NOT NULL,
    principal TEXT NOT NULL,
    key_id TEXT,
    error_code TEXT,
    event_json TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE INDEX audit_events_key ON audit_events (key_id) WHERE key_id IS NOT NULL;
  CREATE INDEX audit_events_name ON audit_events (event_name);
  CREATE INDEX audit_events_principal ON audit_events (principal);
  CREATE INDEX audit_events_time ON audit_events (event_time);
  CREATE INDEX audit_events_errors ON audit_events (error_code) WHERE error_code IS NOT NULL;
  CREATE TABLE audit_digests (
    digest_number INTEGER PRIMARY KEY,
    first_sequence INTEGER NOT NULL,
    last_sequence INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    last_event_id TEXT NOT NULL,
    digest_time TEXT NOT NULL,
    previous_signature TEXT NOT NULL,
    public_key_fingerprint TEXT NOT NULL,
    signature TEXT NOT NULL
  );
  CREATE TABLE audit_public_keys (
    fingerprint TEXT PRIMARY KEY,
    public_key_pem TEXT NOT NULL,
    first_used TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
];

/**
 * Brings `db` to {@link AUDIT_SCHEMA_VERSION} in one transaction per step.
 *
 * @throws Error when the database is newer than this code.
 */
export function migrateAuditSchema(db: Database.Database): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > AUDIT_SCHEMA_VERSION) {
    throw new Error(`audit.db has schema version ${current}; this code knows up to ${AUDIT_SCHEMA_VERSION}`);
  }
  for (let version = current; version < AUDIT_SCHEMA_VERSION; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
