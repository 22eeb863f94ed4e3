// Reads a whole audit.db and reports every edited, deleted, inserted or reordered event and every bad digest.

import * as nodeCrypto from "node:crypto";
import { createHash, type KeyObject } from "node:crypto";
import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import { AuditUnreadableError, auditUnreadable } from "./audit-error.js";
import { MAX_EVENT_CHARS } from "./build-event.js";
import { CANONICAL_EVENT_KEYS, canonicalEventJson } from "./canonical-json.js";
import { type AuditDigest, checkDigestSignature } from "./digest.js";
import { type IndexCheck, schemaChanges, startIndexCheck } from "./index-check.js";
import { AUDIT_SCHEMA_VERSION } from "./schema.js";
import { parsePublicKey } from "./signing-key.js";
import type { AuditEvent, AuditProblem, AuditVerifyReport } from "./types.js";

/** Options of {@link verifyAuditDatabase} and `AuditLog.verify`. */
export interface AuditVerifyOptions {
  /**
   * Digests copied outside the data dir earlier (from `AuditLog.digests()`). Each must still be in the log,
   * unchanged, and its events must still be there: this catches truncation after the log's own last digest.
   */
  knownDigests?: readonly AuditDigest[];
}

/** What the running log itself knows about its head, so that `AuditLog.verify` catches a rollback of the file under it. */
export interface AuditHead {
  /** The last sequence this process has seen committed. */
  lastSequence: number;
  /** The hash of that event (the events after the last digest are not signed, but this process knows their head). */
  lastHash?: string;
  /** The last digest this process has seen committed (or read at open). */
  lastDigest: AuditDigest | undefined;
}

/** How long a verification waits for a lock held by another connection before giving up. */
const READ_BUSY_TIMEOUT_MS = 2000;

/**
 * Checks that `db` is an audit database of a schema version this code reads, and returns that version.
 * @throws AuditUnreadableError otherwise
 */
export function checkAuditSchema(db: Database.Database, path: string): number {
  const version = db.pragma("user_version", { simple: true }) as number;
  const tables = new Set(
    (
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('audit_events', 'audit_digests')",
        )
        .all() as { name: string }[]
    ).map((r) => r.name),
  );
  if (version === 0 || !tables.has("audit_events") || !tables.has("audit_digests")) {
    throw new AuditUnreadableError(
      "not-an-audit-log",
      `${path} is not a Sealkit audit log (${tables.size === 0 ? "no audit tables" : `missing ${tables.has("audit_events") ? "audit_digests" : "audit_events"}`}, schema version ${version})${tables.size === 0 && version === 0 ? `; if it is a copy of a log in use, its newest pages are in ${path}-wal: copy that file with it, or copy with sqlite3's .backup` : ""}`,
    );
  }
  if (version > AUDIT_SCHEMA_VERSION) {
    throw new AuditUnreadableError(
      "schema-version",
      `${path} has audit schema version ${version}; this code verifies up to ${AUDIT_SCHEMA_VERSION}: use a newer @sealkit/kms-local`,
    );
  }
  return version;
}

/** The prevHash of the first event. */
export const GENESIS_HASH = "0".repeat(64);

/** At most this many problems are listed; a log damaged beyond that is reported by its earliest problems. */
const MAX_PROBLEMS = 1000;

/** Digests that do not verify after which the signatures of the rest are not checked (see verifySnapshot). */
const MAX_BAD_SIGNATURES = 1000;

/**
 * Most bytes a value of audit_events can hold: an event's JSON is at most MAX_EVENT_CHARS UTF-16 code units (3
 * bytes of UTF-8 each at most), plus its sequence and prevHash.
 */
const MAX_VALUE_BYTES = (MAX_EVENT_CHARS + 1024) * 3;

/** Rows read between yields to the event loop, so a long verification does not stall a server. */
const ROWS_PER_SLICE = 5000;

interface EventRow {
  sequence: number;
  event_time: string;
  event_name: string;
  principal: string;
  key_id: string | null;
  error_code: string | null;
  event_json: string;
  hash: string;
}

interface DigestRow {
  digest_number: number;
  first_sequence: number;
  last_sequence: number;
  last_hash: string;
  last_event_id: string;
  digest_time: string;
  previous_signature: string;
  public_key_fingerprint: string;
  signature: string;
}

const oneShotHash = (nodeCrypto as Partial<Pick<typeof nodeCrypto, "hash">>).hash;

/** The chain hash of an event: hex SHA-256 of prevHash followed by the canonical JSON without hash. */
export function chainHash(prevHash: string, canonicalJsonText: string): string {
  // crypto.hash (Node 20.12+) is a one-shot without a Hash object: about twice as fast for an event's size.
  if (oneShotHash !== undefined) return oneShotHash("sha256", prevHash + canonicalJsonText, "hex");
  return createHash("sha256").update(prevHash, "utf8").update(canonicalJsonText, "utf8").digest("hex");
}

/** Reads a digest row as an AuditDigest. */
export function digestFromRow(row: DigestRow): AuditDigest {
  return {
    digestNumber: row.digest_number,
    firstSequence: row.first_sequence,
    lastSequence: row.last_sequence,
    lastHash: row.last_hash,
    lastEventId: row.last_event_id,
    digestTime: row.digest_time,
    previousSignature: row.previous_signature,
    publicKeyFingerprint: row.public_key_fingerprint,
    signature: row.signature,
  };
}

/** Why the indexed columns of a row disagree with its event, or undefined when they agree. */
/** True when `digest` names the trusted key and its Ed25519 signature verifies under it. */
function signedBy(digest: AuditDigest, trusted: { publicKey: KeyObject; fingerprint: string }): boolean {
  return (
    digest.publicKeyFingerprint === trusted.fingerprint && checkDigestSignature(digest, trusted.publicKey)
  );
}

function columnMismatch(row: EventRow, event: AuditEvent): string | undefined {
  if (row.event_name !== event.eventName) return "event_name";
  if (row.principal !== event.userIdentity?.arn) return "principal";
  if (row.event_time !== event.eventTime) return "event_time";
  if (row.key_id !== (event.keyId ?? null)) return "key_id";
  if (row.error_code !== (event.errorCode ?? null)) return "error_code";
  return undefined;
}

/**
 * Verifies the events and digests visible in one read transaction of `db` against the trusted public key.
 * The connection must not be used by anyone else until the promise settles.
 *
 * What is checked: every digest's signature, key and link to the previous digest; every event's hash
 * against its content, its link to the previous event, its sequence against its row, and its indexed
 * columns against its content; and that every digest's last event is present with the hash it signed.
 * With `head` (the running log's own), also that its last digest and its last events are still there.
 *
 * @throws AuditUnreadableError when the database is not an audit log of a known schema version, or cannot be read.
 */
export async function verifyAuditDatabase(
  db: Database.Database,
  trusted: { publicKey: KeyObject; fingerprint: string },
  options: AuditVerifyOptions = {},
  head?: AuditHead,
): Promise<AuditVerifyReport> {
  try {
    return await verifySnapshot(db, trusted, options, head);
  } catch (error) {
    throw auditUnreadable(db.name, error);
  }
}

async function verifySnapshot(
  db: Database.Database,
  trusted: { publicKey: KeyObject; fingerprint: string },
  options: AuditVerifyOptions,
  head: AuditHead | undefined,
): Promise<AuditVerifyReport> {
  // Problems are found digests first, then events in order: keeping the first 1,000 found would let 1,000 bad
  // digests hide every edited event. The 1,000 with the smallest sequences are kept (trimmed as they come).
  const problems: AuditProblem[] = [];
  let found = 0;
  const keepEarliest = () => {
    problems.sort((a, b) => a.sequence - b.sequence);
    problems.length = Math.min(problems.length, MAX_PROBLEMS);
  };
  const report = (sequence: number, kind: AuditProblem["kind"], detail: string) => {
    found++;
    // A digest row's sequence can hold anything (text, NULL): the list stays sortable.
    problems.push({ sequence: Number.isFinite(sequence) ? sequence : 0, kind, detail });
    if (problems.length >= 2 * MAX_PROBLEMS) keepEarliest();
  };
  db.exec("BEGIN");
  let indexCheck: IndexCheck | undefined;
  try {
    const version = checkAuditSchema(db, db.name);
    // query() finds events through the indexes, verify reads the table: an index rebuilt without some events (its
    // definition then put back in sqlite_master) hides them from queries while every row verifies. SQLite's
    // integrity check compares each index entry with its row; it runs in a thread of its own meanwhile.
    const changedSchema = schemaChanges(db, version);
    indexCheck = startIndexCheck(db, READ_BUSY_TIMEOUT_MS);
    // Digests first: only correctly signed, correctly linked digests are trusted below.
    // Read row by row, keeping only the digests that verify: a table filled with forged rows must not need a
    // heap of its size (400,000 rows ran a 96 MiB heap out of memory when read at once).
    const digestRows = db
      .prepare("SELECT * FROM audit_digests ORDER BY digest_number")
      .iterate() as IterableIterator<DigestRow>;
    let digestCount = 0;
    let maxDigestNumber = 0;
    const trustedDigests: AuditDigest[] = [];
    // Links are checked against the row just before, signed correctly or not: a digest whose signature fails
    // is reported once, and the ones after it still link to its (unchanged) signature.
    let previous: AuditDigest | undefined;
    // After this many digests that do not verify, the rest are counted, not checked: the report already fails,
    // and a table of forged rows would otherwise cost an Ed25519 verification each (minutes for 400,000).
    let badSignatures = 0;
    let unchecked = 0;
    let firstUnchecked: AuditDigest | undefined;
    for (const row of digestRows) {
      digestCount++;
      if (digestCount % ROWS_PER_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
      maxDigestNumber = row.digest_number;
      const digest = digestFromRow(row);
      const before = previous;
      previous = digest;
      if (badSignatures >= MAX_BAD_SIGNATURES) {
        unchecked++;
        firstUnchecked ??= digest;
        continue;
      }
      if (!signedBy(digest, trusted)) {
        badSignatures++;
        report(
          digest.lastSequence,
          "bad-digest-signature",
          `digest #${digest.digestNumber} (events ${digest.firstSequence}..${digest.lastSequence}) does not verify under the audit public key ${trusted.fingerprint.slice(0, 16)}${otherKey(digest, trusted.fingerprint)}`,
        );
        continue;
      }
      const expectedNumber = before === undefined ? 1 : before.digestNumber + 1;
      if (digest.digestNumber !== expectedNumber) {
        report(
          digest.firstSequence,
          "deleted",
          `digests #${expectedNumber}..#${digest.digestNumber - 1} are missing before digest #${digest.digestNumber}`,
        );
      } else if (digest.previousSignature !== (before?.signature ?? "")) {
        report(
          digest.firstSequence,
          "bad-digest-signature",
          `digest #${digest.digestNumber} does not link to the signature of digest #${expectedNumber - 1}`,
        );
      } else if (digest.firstSequence !== (before?.lastSequence ?? 0) + 1) {
        report(
          digest.firstSequence,
          "bad-digest-signature",
          `digest #${digest.digestNumber} starts at ${digest.firstSequence}, not after the previous digest's ${before?.lastSequence ?? 0}`,
        );
      }
      trustedDigests.push(digest);
    }
    if (firstUnchecked !== undefined) {
      report(
        firstUnchecked.lastSequence,
        "bad-digest-signature",
        `${unchecked} digest(s) from #${firstUnchecked.digestNumber} on were not checked: verification stops checking signatures after ${MAX_BAD_SIGNATURES} digests that do not verify`,
      );
    }
    // Digests kept outside the data dir: each must still be in the log, unchanged; a missing one still
    // vouches for its events, which is how truncation after the last digest in the log is caught.
    const external: AuditDigest[] = [...(options.knownDigests ?? [])];
    // The running log's own last digest is a copy kept outside the file, too: a rollback under it shows.
    if (head?.lastDigest !== undefined) external.push(head.lastDigest);
    const digestByNumber = db.prepare("SELECT * FROM audit_digests WHERE digest_number = ?");
    for (const known of knownDigests(external)) {
      if (!signedBy(known, trusted)) {
        report(
          Number(known.lastSequence) || 0,
          "bad-digest-signature",
          `the external copy of digest #${known.digestNumber} does not verify under the audit public key`,
        );
        continue;
      }
      const row = digestByNumber.get(known.digestNumber) as DigestRow | undefined;
      if (row === undefined) {
        report(
          known.firstSequence,
          known.digestNumber > maxDigestNumber ? "truncated-after-digest" : "deleted",
          `digest #${known.digestNumber} (events ${known.firstSequence}..${known.lastSequence}), kept outside the log, is missing from it`,
        );
        trustedDigests.push(known);
      } else if (row.signature !== known.signature) {
        report(
          known.lastSequence,
          "bad-digest-signature",
          `digest #${known.digestNumber} in the log differs from the copy kept outside it`,
        );
        if (!trustedDigests.some((d) => d.digestNumber === known.digestNumber)) trustedDigests.push(known);
      }
    }
    trustedDigests.sort((a, b) => a.lastSequence - b.lastSequence);

    // Where each digest's last event actually is now, to tell insertions from deletions after a re-chaining.
    const wanted = new Map<string, number>();
    for (const digest of trustedDigests) wanted.set(digest.lastEventId, -1);
    const hashAt = new Map<number, string>();
    const digestEnds = new Set(trustedDigests.map((d) => d.lastSequence));

    let expected = 1;
    let prevHash = GENESIS_HASH;
    let prevDisordered = false;
    let events = 0;
    let maxSequence = 0;
    // A value longer than any event the log writes is not loaded (SQLite gives its size without reading it):
    // 200 MB of JSON in one row, parsed and serialized again, ran a 96 MiB heap out of memory.
    const columns = ["event_time", "event_name", "principal", "key_id", "error_code", "event_json", "hash"];
    const iterator = db
      .prepare(
        `SELECT sequence, ${columns.map((c) => `CASE WHEN octet_length(${c}) > ${MAX_VALUE_BYTES} THEN NULL ELSE ${c} END AS ${c}`).join(", ")}, max(${columns.map((c) => `coalesce(octet_length(${c}), 0)`).join(", ")}) AS longest FROM audit_events ORDER BY sequence`,
      )
      .iterate() as IterableIterator<EventRow & { longest: number }>;
    for (const row of iterator) {
      events++;
      if (events % ROWS_PER_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
      const seq = row.sequence;
      maxSequence = seq;
      if (digestEnds.has(seq) || seq === head?.lastSequence) hashAt.set(seq, row.hash);
      let gap = false;
      if (seq > expected) {
        gap = true;
        report(
          expected,
          "deleted",
          seq - expected === 1
            ? `event ${expected} is missing`
            : `events ${expected}..${seq - 1} are missing`,
        );
      } else if (seq < expected) {
        report(seq, "inserted", `an event with sequence ${seq} precedes the first event`);
      }
      if (row.longest > MAX_VALUE_BYTES) {
        report(
          seq,
          "edited",
          `event ${seq} holds a value of ${row.longest} bytes, more than any audit event has (${MAX_VALUE_BYTES}): it was changed`,
        );
        prevDisordered = true; // its link to the next event cannot be checked
        expected = Math.max(expected, seq + 1);
        continue;
      }
      let event: AuditEvent | undefined;
      try {
        event = JSON.parse(row.event_json) as AuditEvent;
        if (event === null || typeof event !== "object" || Array.isArray(event)) event = undefined;
      } catch {
        event = undefined;
      }
      let disordered = false;
      if (event !== undefined && wanted.get(event.eventID) === -1) wanted.set(event.eventID, seq);
      if (event === undefined) {
        report(seq, "edited", `event ${seq} is not a JSON object`);
      } else if (event.sequence !== seq) {
        disordered = true;
        report(seq, "reordered", `the row at sequence ${seq} holds event ${String(event.sequence)}`);
      } else {
        const extra = Object.keys(event).find((key) => !CANONICAL_EVENT_KEYS.has(key));
        // The hash covers the canonical text, and the stored text must be exactly that: text that parses to
        // the same event (a duplicate member, 12.0 for 12, spaces) reads differently in other JSON readers.
        // An event nested too deeply for JSON.stringify is an edited row, not an unreadable log.
        const canonical = canonicalTextOf(event);
        const recomputed = canonical === undefined ? undefined : chainHash(String(event.prevHash), canonical);
        const column = columnMismatch(row, event);
        if (extra !== undefined) {
          report(seq, "edited", `event ${seq} has an unexpected member "${extra}"`);
        } else if (recomputed === undefined) {
          report(
            seq,
            "edited",
            `event ${seq} cannot be serialized again (nested too deeply): it was changed`,
          );
        } else if (recomputed !== row.hash) {
          report(seq, "edited", `event ${seq} does not match its hash: its content was changed`);
        } else if (canonical !== row.event_json) {
          report(
            seq,
            "edited",
            `event ${seq}'s stored text is not the canonical JSON of its content (a duplicate member, another number form or spacing): it was changed`,
          );
        } else if (column !== undefined) {
          report(seq, "edited", `event ${seq}: the indexed column ${column} does not match the event`);
        } else if (!gap && !prevDisordered && event.prevHash !== prevHash) {
          // The previous event was rewritten together with its own hash: only the link shows it.
          report(
            seq - 1,
            "edited",
            `event ${seq - 1} was changed and re-hashed: event ${seq}'s prevHash no longer matches it`,
          );
        }
      }
      prevDisordered = disordered;
      prevHash = row.hash;
      expected = Math.max(expected, seq + 1);
    }

    // Every trusted digest's last event must still be there with the hash that was signed.
    let lastGood = 0;
    let truncationReported = false;
    for (const digest of trustedDigests) {
      if (digest.lastSequence === 0) continue;
      const found = hashAt.get(digest.lastSequence);
      if (found === undefined && digest.lastSequence > maxSequence) {
        if (!truncationReported) {
          truncationReported = true;
          report(
            maxSequence + 1,
            "truncated-after-digest",
            `digest #${digest.digestNumber} covers events up to ${digest.lastSequence} but the log ends at ${maxSequence}`,
          );
        }
      } else if (found !== digest.lastHash) {
        const from = lastGood + 1;
        // Event-level findings in this range already say where; the digest adds nothing then.
        if (problems.some((p) => p.sequence >= from && p.sequence <= digest.lastSequence)) continue;
        const movedTo = wanted.get(digest.lastEventId) ?? -1;
        const range = `between ${from} and ${digest.lastSequence}`;
        if (movedTo > digest.lastSequence) {
          report(
            lastGood + 1,
            "inserted",
            `${movedTo - digest.lastSequence} event(s) were inserted ${range}: digest #${digest.digestNumber}'s last event is now at ${movedTo}`,
          );
        } else if (movedTo > 0 && movedTo < digest.lastSequence) {
          report(
            lastGood + 1,
            "deleted",
            `${digest.lastSequence - movedTo} event(s) were deleted ${range}: digest #${digest.digestNumber}'s last event is now at ${movedTo}`,
          );
        } else {
          report(
            lastGood + 1,
            "edited",
            `events ${range} were rewritten and re-chained: they do not end with the hash digest #${digest.digestNumber} signed`,
          );
        }
      } else {
        lastGood = digest.lastSequence;
      }
    }
    // Events this process committed after its last digest: unsigned, but the running log knows they were there.
    if (head !== undefined && head.lastSequence > maxSequence && !truncationReported) {
      report(
        maxSequence + 1,
        "truncated-after-digest",
        `events ${maxSequence + 1}..${head.lastSequence}, written by this service since it opened the log, are missing: the file was truncated or rolled back under it`,
      );
    }
    // The event the running log last committed must still be the one it wrote: events after the last digest
    // replaced by as many re-chained forgeries show only here.
    if (head?.lastHash !== undefined && head.lastSequence > 0) {
      const found = hashAt.get(head.lastSequence);
      if (found !== undefined && found !== head.lastHash) {
        report(
          head.lastSequence,
          "edited",
          `event ${head.lastSequence} is not the event this service wrote (its hash differs from the one the running log keeps): the events after the last digest were rewritten`,
        );
      }
    }
    for (const change of changedSchema) {
      report(0, "edited", `the schema of the events was changed: ${change}; queries may leave events out`);
    }
    for (const message of await indexCheck.result) {
      const row = /^row (\d+) missing from index/.exec(message);
      report(
        row === null ? 0 : Number(row[1]),
        "edited",
        `SQLite's integrity check of the events and their indexes: "${message}" (an index that does not match the events makes queries through it leave events out or return others)`,
      );
    }
    const lastDigestSequence = trustedDigests.at(-1)?.lastSequence ?? 0;
    keepEarliest();
    const firstBad = problems[0]?.sequence;
    const result: AuditVerifyReport = {
      ok: found === 0,
      events,
      digests: digestCount,
      problems,
      lastDigestSequence,
      eventsAfterLastDigest: Math.max(0, maxSequence - lastDigestSequence),
    };
    if (firstBad !== undefined) result.firstBadSequence = firstBad;
    return result;
  } finally {
    indexCheck?.cancel();
    // A read error may already have ended the transaction; COMMIT would then hide it.
    if (db.inTransaction) db.exec("COMMIT");
  }
}

/** Why a digest names another key, for the operator: a regenerated or replaced signing key, or the wrong public key given. */
function otherKey(digest: AuditDigest, fingerprint: string): string {
  const named = digest.publicKeyFingerprint;
  if (typeof named !== "string" || named === fingerprint) return "";
  return ` (it names the key ${named.slice(0, 16)}: the signing key was replaced or regenerated since, or this is not the log's public key)`;
}

/** canonicalEventJson of a parsed row, or undefined when it cannot be serialized (JSON.stringify's recursion limit). */
function canonicalTextOf(event: AuditEvent): string | undefined {
  try {
    return canonicalEventJson(event);
  } catch {
    return undefined;
  }
}

/** The caller's digests that are objects, once each (a digest listed twice, or also the log's own, counts once). */
function knownDigests(list: readonly AuditDigest[]): AuditDigest[] {
  const seen = new Set<string>();
  const out: AuditDigest[] = [];
  for (const digest of list) {
    if (digest === null || typeof digest !== "object") continue;
    const id = `${String(digest.digestNumber)}:${String(digest.signature)}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(digest);
  }
  return out;
}

/**
 * Verifies a copy of audit.db with only the public key (SPKI PEM, `audit-signing.key.pub`), for example on a
 * machine that never had the signing key. Opens the file read-only.
 *
 * @throws TypeError when the key is not an Ed25519 public key.
 * @throws AuditUnreadableError (`code` SEALKIT_AUDIT_UNREADABLE, with a `reason`) when the file is missing, not
 *   SQLite, not an audit log, of a newer schema, locked past 2 s, or damaged: a log that cannot be read is never "ok".
 */
export async function verifyAuditFile(
  path: string,
  publicKeyPem: string,
  options: AuditVerifyOptions = {},
): Promise<AuditVerifyReport> {
  const trusted = parsePublicKey(publicKeyPem);
  return verifyAuditPath(path, trusted, options);
}

/**
 * The digests of an audit.db, oldest first, read without taking the log's lock (the service may be running): what
 * to copy outside the data dir and later pass to `verifyAuditFile` as `knownDigests`.
 * @throws AuditUnreadableError when the file is missing, not an audit log, locked past 2 s or damaged.
 */
export function readAuditDigests(path: string): AuditDigest[] {
  const db = openReadOnly(path);
  try {
    checkAuditSchema(db, path);
    return (db.prepare("SELECT * FROM audit_digests ORDER BY digest_number").all() as DigestRow[]).map(
      digestFromRow,
    );
  } catch (error) {
    throw auditUnreadable(path, error);
  } finally {
    db.close();
  }
}

/**
 * Opens `path` read-only and verifies it (`verifyAuditFile`, `AuditLog.verify`).
 * @throws AuditUnreadableError when the file cannot be verified at all.
 */
export async function verifyAuditPath(
  path: string,
  trusted: { publicKey: KeyObject; fingerprint: string },
  options: AuditVerifyOptions = {},
  head?: AuditHead,
): Promise<AuditVerifyReport> {
  const db = openReadOnly(path);
  try {
    return await verifyAuditDatabase(db, trusted, options, head);
  } finally {
    db.close();
  }
}

/**
 * Opens an audit.db read-only, waiting up to 2 s for a writer's lock.
 * @throws AuditUnreadableError when it cannot be opened.
 */
export function openReadOnly(path: string): Database.Database {
  // better-sqlite3 says only "the directory does not exist" (a TypeError without a code) for a missing directory.
  if (!existsSync(path)) throw new AuditUnreadableError("missing", `${path} does not exist`);
  try {
    return new Database(path, { readonly: true, fileMustExist: true, timeout: READ_BUSY_TIMEOUT_MS });
  } catch (error) {
    throw auditUnreadable(path, error);
  }
}
