// Queries of audit.db, shared by AuditLog.query (the running log's connection) and queryAuditFile (read-only, beside
// a running service): the filters, how a key id or alias names events, and the time bounds.

import type Database from "better-sqlite3";
import { auditUnreadable } from "./audit-error.js";
import { FIRST_EVENT_TIME_MS, LAST_EVENT_TIME_MS } from "./build-event.js";
import type { AuditEvent, AuditQuery } from "./types.js";
import { checkAuditSchema, openReadOnly } from "./verify-log.js";

const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 100_000;

/** A key ARN (`arn:<partition>:kms:<region>:<account>:key/<id>`). */
const KEY_ARN = /^arn:[^:]+:kms:[^:]*:[^:]*:key\/./;
/** An alias ARN; group 1 is the alias name. */
const ALIAS_ARN = /^arn:[^:]+:kms:[^:]*:[^:]*:(alias\/.+)$/;

/**
 * The text a query compares event_time with for the instant `ms`. toISOString writes years outside 0000..9999 with a
 * sign and six digits ("+010000-...", "-000001-..."), which do not sort among 4-digit years: a bound before them is
 * "" (below every event time), one after them "~" (above every event time, as "~" follows the digits).
 */
function timeBound(ms: number): string {
  if (ms < FIRST_EVENT_TIME_MS) return "";
  if (ms > LAST_EVENT_TIME_MS) return "~";
  return new Date(ms).toISOString();
}

/**
 * The SQL condition on key_id for a key ARN, a key id, an alias name or an alias ARN. Events are indexed by key ARN;
 * a key id matches the ARNs ending in `:key/<id>`; an alias names the key its latest successful CreateAlias or
 * UpdateAlias in the log targeted (no key after a DeleteAlias), as the log cannot know what kms.db says now.
 */
function keyCondition(db: Database.Database, keyId: string): { sql: string; params: unknown[] } {
  if (KEY_ARN.test(keyId)) return { sql: "key_id = ?", params: [keyId] };
  const alias = keyId.startsWith("alias/") ? keyId : ALIAS_ARN.exec(keyId)?.[1];
  if (alias !== undefined) {
    const last = db
      .prepare(
        "SELECT event_name, json_extract(event_json, '$.requestParameters.targetKeyId') AS target FROM audit_events WHERE event_name IN ('CreateAlias', 'UpdateAlias', 'DeleteAlias') AND error_code IS NULL AND json_extract(event_json, '$.requestParameters.aliasName') = ? ORDER BY sequence DESC LIMIT 1",
      )
      .get(alias) as { event_name: string; target: unknown } | undefined;
    if (last === undefined || last.event_name === "DeleteAlias" || typeof last.target !== "string")
      return { sql: "0", params: [] };
    // TargetKeyId is a key id or key ARN (CreateAlias and UpdateAlias refuse an alias there).
    return keyCondition(db, last.target.startsWith("alias/") ? "" : last.target);
  }
  if (keyId === "" || keyId.includes(":")) return { sql: "key_id = ?", params: [keyId] };
  const arns = keyArnsOf(db, keyId);
  if (arns === undefined) {
    // More ARN prefixes than ever seen in one data dir: compare the end of every key ARN instead (a scan).
    const suffix = `:key/${keyId}`;
    // substr counts characters (code points), not UTF-16 units.
    return { sql: "substr(key_id, ?) = ?", params: [-[...suffix].length, suffix] };
  }
  if (arns.length === 0) return { sql: "0", params: [] };
  return { sql: `key_id IN (${arns.map(() => "?").join(", ")})`, params: arns };
}

/** Distinct ARN prefixes (`arn:aws:kms:<region>:<account>:key/`) looked at before giving up on the index. */
const MAX_PREFIXES = 256;

/**
 * The key ARNs `id` can have in this log: `<prefix><id>` for each distinct `arn:...:key/` prefix of the key ARNs
 * recorded (one per region and account the data dir was opened with), found by seeking the key index from one
 * prefix to the next rather than reading every event. Undefined when there are too many prefixes.
 */
function keyArnsOf(db: Database.Database, id: string): string[] | undefined {
  const next = db.prepare("SELECT key_id FROM audit_events WHERE key_id > ? ORDER BY key_id LIMIT 1");
  const arns: string[] = [];
  let after = "";
  for (let seen = 0; seen < MAX_PREFIXES; seen++) {
    const row = next.get(after) as { key_id: unknown } | undefined;
    if (row === undefined) return arns;
    const value = String(row.key_id);
    const at = value.indexOf(":key/");
    if (at === -1) {
      after = value;
      continue;
    }
    const prefix = value.slice(0, at + 5);
    if (!arns.includes(prefix + id)) arns.push(prefix + id);
    // Past every value with this prefix (U+10FFFF is the greatest character); a later one that still has it (a
    // key id starting with U+10FFFF) is only skipped past itself.
    after = value.startsWith(`${prefix}\u{10ffff}`) ? value : `${prefix}\u{10ffff}`;
  }
  return undefined;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`"${name}" expected a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Events of `db` matching every given filter, oldest first. With `after`, the first `limit` events after that
 * sequence; without it, the latest `limit` events.
 *
 * @throws TypeError or RangeError for malformed filters.
 */
export function queryEvents(db: Database.Database, filter: AuditQuery = {}): AuditEvent[] {
  if (filter === null || typeof filter !== "object") throw new TypeError(`"filter" expected an object`);
  const where: string[] = [];
  const params: unknown[] = [];
  const text = (value: unknown, name: string): string => {
    if (typeof value !== "string") throw new TypeError(`"${name}" expected a string`);
    return value;
  };
  const date = (value: unknown, name: string): string => {
    if (!(value instanceof Date) || Number.isNaN(value.getTime()))
      throw new TypeError(`"${name}" expected a valid Date`);
    return timeBound(value.getTime());
  };
  let key: { sql: string; params: unknown[] } | undefined;
  if (filter.keyId !== undefined) key = { sql: "", params: [text(filter.keyId, "keyId")] };
  if (filter.eventName !== undefined) {
    where.push("event_name = ?");
    params.push(text(filter.eventName, "eventName"));
  }
  if (filter.principal !== undefined) {
    where.push("principal = ?");
    params.push(text(filter.principal, "principal"));
  }
  if (filter.from !== undefined) {
    where.push("event_time >= ?");
    params.push(date(filter.from, "from"));
  }
  if (filter.to !== undefined) {
    where.push("event_time <= ?");
    params.push(date(filter.to, "to"));
  }
  if (filter.errorsOnly === true) where.push("error_code IS NOT NULL");
  const limit = filter.limit === undefined ? DEFAULT_LIMIT : positiveInteger(filter.limit, "limit");
  if (limit > MAX_LIMIT) throw new RangeError(`"limit" expected at most ${MAX_LIMIT}, got ${limit}`);
  if (filter.after !== undefined && (!Number.isSafeInteger(filter.after) || filter.after < 0)) {
    throw new RangeError(`"after" expected a non-negative integer, got ${String(filter.after)}`);
  }
  // Resolved once every filter is known to be well formed (an alias reads the log).
  if (key !== undefined) {
    key = keyCondition(db, key.params[0] as string);
    where.unshift(key.sql);
    params.unshift(...key.params);
  }
  let sql: string;
  if (filter.after !== undefined) {
    where.push("sequence > ?");
    params.push(filter.after);
    sql = `SELECT sequence, event_json, hash FROM audit_events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY sequence ASC LIMIT ?`;
  } else {
    sql = `SELECT * FROM (SELECT sequence, event_json, hash FROM audit_events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY sequence DESC LIMIT ?) ORDER BY sequence ASC`;
  }
  params.push(limit);
  const rows = db.prepare(sql).all(...params) as { sequence: number; event_json: string; hash: string }[];
  return rows.map((row) => ({ ...(JSON.parse(row.event_json) as Omit<AuditEvent, "hash">), hash: row.hash }));
}

/**
 * {@link AuditLog.query} on an audit.db opened read-only, without the log's lock: works beside the running service
 * (it waits up to 2 s for a checkpoint's lock) and never writes (a log opened to be read would sign the events after
 * its last digest when closed, whoever appended them). What it returns is what the file says: verify it
 * (`verifyAuditFile`) before relying on it.
 *
 * @throws TypeError or RangeError for malformed filters.
 * @throws AuditUnreadableError when the file is missing, not an audit log, locked past 2 s or damaged.
 */
export function queryAuditFile(path: string, filter: AuditQuery = {}): AuditEvent[] {
  const db = openReadOnly(path);
  try {
    try {
      checkAuditSchema(db, path);
    } catch (error) {
      throw auditUnreadable(path, error);
    }
    try {
      return queryEvents(db, filter);
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) throw error;
      throw auditUnreadable(path, error);
    }
  } finally {
    db.close();
  }
}
