// AuditLog: the durable, hash-chained, digest-signed audit trail of the local KMS, written by group commit.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { lockDatabase } from "../store.js";
import { auditUnavailable, auditUnreadable } from "./audit-error.js";
import { AuditWriter, type DigestRow, EventBatchBuilder } from "./audit-writer.js";
import { type AuditEventBody, type PreparedEvent, prepareEvent } from "./build-event.js";
import { type AuditDigest, signDigest } from "./digest.js";
import { expectedSchemaObjects, schemaChanges } from "./index-check.js";
import { queryEvents } from "./query.js";
import { AUDIT_SCHEMA_VERSION, migrateAuditSchema } from "./schema.js";
import { type DigestSigningKey, loadOrCreateSigningKey, parsePublicKey } from "./signing-key.js";
import type {
  AuditEvent,
  AuditEventInput,
  AuditLogOptions,
  AuditQuery,
  AuditStats,
  AuditVerifyReport,
} from "./types.js";
import { type AuditVerifyOptions, digestFromRow, GENESIS_HASH, verifyAuditPath } from "./verify-log.js";

interface PendingEvent {
  body: AuditEventBody;
  prefix: string;
  enqueuedAt: number;
  resolve: (event: AuditEvent) => void;
  reject: (error: unknown) => void;
}

/** A batch sent to the writer thread. */
interface InFlight {
  /** Its events (none for a digest written on its own). */
  batch: PendingEvent[];
  /** Settles, never rejecting, once the writer thread has answered and the batch's promises are settled. */
  done: Promise<void>;
}

/**
 * Batches in flight at most: one being committed and the next, already hashed and sent, waiting for it in the
 * writer thread. More would not make the thread any busier.
 */
const MAX_IN_FLIGHT = 2;

/** `code` of the error (the `cause` of the KMSInternalException) when audit.db was changed behind the log's back. */
const HEAD_CHANGED = "SEALKIT_AUDIT_HEAD_CHANGED";

function positiveInteger(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`"${name}" expected a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * The audit log of the local KMS, in `<dataDir>/audit.db` (SQLite, WAL, synchronous=FULL).
 *
 * Every event carries the hash of the previous one; signed Ed25519 digests are written every `digestEvery`
 * events, every `digestIntervalMs` while events arrive, and on {@link AuditLog.close}. Appends are grouped:
 * all events appended in one turn of the event loop are written in one transaction with one fsync, and each
 * promise resolves only after that commit. A write failure rejects the whole batch (fail closed).
 *
 * @example
 * ```ts
 * const log = await AuditLog.open("/var/lib/sealkit-kms");
 * await log.append({ eventName: "Decrypt", caller: { principal: "arn:aws:iam::111122223333:user/alice", account: "111122223333" } });
 * (await log.verify()).ok; // true
 * await log.close();
 * ```
 */
export class AuditLog {
  readonly #db: Database.Database;
  /** This log's exclusive lock (`audit.db.lock`), released by close. */
  readonly #lock: Database.Database;
  readonly #path: string;
  readonly #key: DigestSigningKey;
  readonly #clock: () => Date;
  readonly #eventSource: string;
  readonly #region: string | undefined;
  readonly #digestEvery: number;
  readonly #digestIntervalMs: number;
  readonly #writer: AuditWriter;
  readonly #timer: NodeJS.Timeout;

  #pending: PendingEvent[] = [];
  /** Batches sent to the writer thread and not answered yet, oldest first (it answers in order). */
  #inFlight: InFlight[] = [];
  /** Set while a digest is written on its own with nothing else in flight (writeDigest, close, the idle timer). */
  #exclusive: Promise<void> | undefined;
  #flushScheduled = false;
  #closed = false;
  /** A write failed: re-read the head (here and in the writer thread) once nothing is in flight. */
  #needsResync = false;
  // The durable head: what the last successful commit left in the database.
  #lastSequence = 0;
  #lastHash = GENESIS_HASH;
  #lastEventId = "";
  #lastDigest: AuditDigest | undefined;
  // The sent head: the durable head followed by every batch in flight; the next batch continues it.
  #sentSequence = 0;
  #sentHash = GENESIS_HASH;
  #sentEventId = "";
  #sentDigest: AuditDigest | undefined;
  /**
   * Heads that a failed write may have committed all the same (the writer thread died after its commit, before
   * its answer): after a failure the head re-read from the file must be the durable head or one of these.
   */
  #maybeCommitted: { sequence: number; hash: string; digest: AuditDigest | undefined }[] = [];
  #lastDigestAt = 0;
  #appended = 0;
  #batches = 0;
  #largestBatch = 0;
  #lastError: unknown;

  private constructor(
    db: Database.Database,
    lock: Database.Database,
    path: string,
    key: DigestSigningKey,
    options: AuditLogOptions,
  ) {
    this.#db = db;
    this.#lock = lock;
    this.#path = path;
    this.#key = key;
    this.#clock = options.clock ?? (() => new Date());
    this.#eventSource = options.eventSource ?? "kms.amazonaws.com";
    this.#region = options.region;
    this.#digestEvery = positiveInteger(options.digestEvery, "digestEvery", 1000);
    this.#digestIntervalMs = positiveInteger(options.digestIntervalMs, "digestIntervalMs", 60_000);
    this.#writer = new AuditWriter(path, expectedSchemaObjects(AUDIT_SCHEMA_VERSION));
    this.#setHead(this.#readHead());
    this.#lastDigestAt = performance.now();
    this.#timer = setInterval(() => this.#digestIfDue(), Math.min(this.#digestIntervalMs, 2 ** 31 - 1));
    this.#timer.unref();
  }

  /**
   * Opens (creating if needed) the audit log in `dataDir`: `audit.db`, and the signing key
   * `audit-signing.key` (Ed25519, PKCS#8 PEM, mode 0600) with its public key `audit-signing.key.pub`.
   *
   * @throws RangeError for a non-positive `digestEvery` or `digestIntervalMs`.
   * @throws TypeError when `trustedPublicKey` is not an Ed25519 public key.
   * @throws KmsError KMSInternalException when the signing key does not match `trustedPublicKey`.
   * @throws KmsError KMSInternalException when audit.db cannot be opened: not SQLite, damaged, locked, not
   *   writable, or of a schema newer than this code (the SQLite error in `cause`).
   * @throws Error when the directory or the signing key cannot be created or read.
   */
  static async open(dataDir: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    if (typeof dataDir !== "string" || dataDir.length === 0) {
      throw new TypeError(`"dataDir" expected a non-empty string`);
    }
    positiveInteger(options.digestEvery, "digestEvery", 1);
    positiveInteger(options.digestIntervalMs, "digestIntervalMs", 1);
    let pinned: { fingerprint: string } | undefined;
    if (options.trustedPublicKey !== undefined) {
      try {
        pinned = parsePublicKey(options.trustedPublicKey);
      } catch (cause) {
        throw new TypeError(`"trustedPublicKey" expected an Ed25519 public key (SPKI PEM)`, { cause });
      }
    }
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const keyPath = options.signingKey ?? join(dataDir, "audit-signing.key");
    const key = await loadOrCreateSigningKey(keyPath);
    if (pinned !== undefined && pinned.fingerprint !== key.fingerprint) {
      throw auditUnavailable(
        `the signing key ${keyPath} (public key fingerprint ${key.fingerprint.slice(0, 16)}) is not the trusted one (${pinned.fingerprint.slice(0, 16)}): it was replaced or regenerated; restore the original key`,
      );
    }
    const path = join(dataDir, "audit.db");
    // One writer per log: a second one would write digests and rows the first one's chain head does not know.
    let lock: Database.Database;
    try {
      lock = lockDatabase(path, "AuditLog (verify a running log with verifyAuditFile, which only reads)");
    } catch (error) {
      throw auditUnavailable((error as Error).message, error);
    }
    let db: Database.Database;
    try {
      db = new Database(path);
    } catch (error) {
      lock.close();
      throw auditUnavailable(`${path} cannot be opened`, error);
    }
    let changed: string[];
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("busy_timeout = 2000");
      migrateAuditSchema(db);
      // A trigger planted in the file would run inside the log's inserts (RAISE(IGNORE) drops a row without an
      // error; one on audit_public_keys could rewrite the events at every open): nothing is written through a schema
      // of the events or digests that is not the log's own, nor with any trigger in the file.
      changed = schemaChanges(db, AUDIT_SCHEMA_VERSION);
      if (changed.length === 0) {
        db.prepare(
          "INSERT OR IGNORE INTO audit_public_keys (fingerprint, public_key_pem, first_used) VALUES (?, ?, ?)",
        ).run(key.fingerprint, key.publicKeyPem, new Date().toISOString());
      }
    } catch (error) {
      db.close();
      lock.close();
      const unreadable = auditUnreadable(path, error);
      throw auditUnavailable(unreadable.message, error);
    }
    if (changed.length > 0) {
      db.close();
      lock.close();
      throw auditUnavailable(
        `${path}'s schema was changed outside this service: ${changed.join("; ")}; verify the log, then restore its schema`,
      );
    }
    let log: AuditLog;
    try {
      log = new AuditLog(db, lock, path, key, options);
    } catch (error) {
      db.close();
      lock.close();
      throw auditUnavailable(auditUnreadable(path, error).message, error);
    }
    try {
      await log.#writer.open();
    } catch (error) {
      clearInterval(log.#timer);
      await log.#writer.close().catch(() => undefined);
      db.close();
      lock.close();
      throw error;
    }
    return log;
  }

  /** The SPKI PEM public key that verifies this log's digests; keep a copy outside the data dir. */
  get publicKeyPem(): string {
    return this.#key.publicKeyPem;
  }

  /** Path of the SQLite file. */
  get path(): string {
    return this.#path;
  }

  /**
   * Appends an event. Resolves with the stored event only once it is durable on disk (committed with
   * synchronous=FULL); concurrent appends share one commit.
   *
   * @throws TypeError (as a rejection) for a malformed input or a secret-looking field (Plaintext,
   *   CiphertextBlob, KeyMaterial, binary values) in requestParameters or responseElements.
   * @throws RangeError (as a rejection) for an event of more than 256 Ki characters of JSON.
   * @throws KmsError KMSInternalException (as a rejection) when the event could not be written, or the log is
   *   closed: the caller must fail the operation and return nothing.
   */
  append(event: AuditEventInput): Promise<AuditEvent> {
    if (this.#closed) return Promise.reject(auditUnavailable("the audit log is closed"));
    let prepared: PreparedEvent;
    try {
      prepared = prepareEvent(event, {
        now: this.#clock(),
        eventSource: this.#eventSource,
        region: this.#region,
      });
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<AuditEvent>((resolve, reject) => {
      this.#pending.push({
        body: prepared.body,
        prefix: prepared.prefix,
        enqueuedAt: performance.now(),
        resolve,
        reject,
      });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /**
   * Sends every pending event to the writer thread as one transaction. Up to {@link MAX_IN_FLIGHT} batches
   * are in flight: while the writer thread commits one, the next is hashed and sent, continuing the sent head.
   * After a failure nothing is sent until every batch in flight has settled; the writer thread refuses those
   * (they were built on the failed one), and the head is re-read from the database before the next batch.
   */
  #flush(): void {
    this.#flushScheduled = false;
    if (this.#pending.length === 0 || this.#exclusive !== undefined) return;
    if (this.#inFlight.length >= MAX_IN_FLIGHT) return;
    if (this.#needsResync) {
      if (this.#inFlight.length > 0) return; // the last one to settle calls #flush again
      try {
        this.#resync();
      } catch (error) {
        const batch = this.#pending;
        this.#pending = [];
        this.#fail(batch, error);
        return;
      }
    }
    const batch = this.#pending;
    this.#pending = [];
    this.#send(batch);
  }

  #send(batch: PendingEvent[]): void {
    let events: AuditEvent[];
    let builder: EventBatchBuilder;
    let digest: AuditDigest | undefined;
    let sequence = this.#sentSequence;
    let prevHash = this.#sentHash;
    let lastEventId: string;
    try {
      events = new Array(batch.length);
      builder = new EventBatchBuilder(sequence + 1, prevHash, batch.length);
      for (let i = 0; i < batch.length; i++) {
        const item = batch[i]!;
        const event = item.body as AuditEvent;
        sequence++;
        event.sequence = sequence;
        event.prevHash = prevHash;
        // Same text as canonicalEventJson(event): sequence and prevHash are the last canonical members.
        const json = `${item.prefix},"sequence":${sequence},"prevHash":"${prevHash}"}`;
        // chainHash(prevHash, json), over the bytes sent to the writer thread.
        const hash = builder.add(
          event.eventTime,
          event.eventName,
          event.userIdentity.arn,
          event.keyId ?? null,
          event.errorCode ?? null,
          prevHash,
          json,
        );
        event.hash = hash;
        prevHash = hash;
        events[i] = event;
      }
      lastEventId = events[events.length - 1]!.eventID;
      // Under steady load the interval timer rarely finds the writer idle, so the interval is also checked here.
      // A log truncated below its last digest (while stopped) ends before it: a digest then would sign a range
      // that runs backwards; the events that refill the signed sequences wait until they pass it.
      const uncovered = sequence - (this.#sentDigest?.lastSequence ?? 0);
      if (
        uncovered >= this.#digestEvery ||
        (uncovered > 0 && performance.now() - this.#lastDigestAt >= this.#digestIntervalMs)
      ) {
        digest = this.#makeDigest(this.#sentDigest, sequence, prevHash, lastEventId);
      }
    } catch (error) {
      this.#fail(batch, error);
      return;
    }
    this.#sentSequence = sequence;
    this.#sentHash = prevHash;
    this.#sentEventId = lastEventId;
    if (digest !== undefined) {
      this.#sentDigest = digest;
      this.#lastDigestAt = performance.now();
    }
    const entry: InFlight = { batch, done: Promise.resolve() };
    const settled = (): void => {
      const at = this.#inFlight.indexOf(entry);
      if (at !== -1) this.#inFlight.splice(at, 1);
    };
    entry.done = this.#writer
      .writeBatch(builder.finish(), digest === undefined ? undefined : digestRow(digest))
      .then(
        () => {
          settled();
          this.#lastSequence = sequence;
          this.#lastHash = prevHash;
          this.#lastEventId = lastEventId;
          if (digest !== undefined) this.#lastDigest = digest;
          this.#appended += batch.length;
          this.#batches++;
          if (batch.length > this.#largestBatch) this.#largestBatch = batch.length;
          for (let i = 0; i < batch.length; i++) batch[i]!.resolve(events[i]!);
          this.#flush();
        },
        (error: unknown) => {
          settled();
          this.#maybeCommitted.push({ sequence, hash: prevHash, digest });
          this.#fail(batch, error);
          this.#flush();
        },
      );
    this.#inFlight.push(entry);
  }

  /**
   * Rejects a whole batch. Nothing of it is acknowledged, and the chain head is re-read from the database
   * before the next attempt, in case a failed commit left anything behind.
   */
  #fail(batch: PendingEvent[], error: unknown): void {
    this.#needsResync = true;
    this.#lastError = error;
    const failure = auditUnavailable(
      (error as { code?: unknown } | undefined)?.code === HEAD_CHANGED
        ? "audit.db was changed outside this service; verify it, then restart the service"
        : (error as { code?: unknown } | undefined)?.code === "SEALKIT_AUDIT_SCHEMA_CHANGED"
          ? `${(error as Error).message}; verify the log, then restore its schema`
          : "the event could not be written",
      error,
    );
    for (const item of batch) item.reject(failure);
  }

  /**
   * Re-reads the head from the database and lets the writer thread accept batches again. Nothing may be in flight.
   *
   * The head read must be one this log wrote: the durable head, or one that a failed write may have committed
   * after all. Anything else means that someone else deleted, replaced or appended rows (or digests) since: the
   * log then refuses to go on, as its next batch and digest would continue, and sign, what it did not write.
   * @throws Error with `code` SEALKIT_AUDIT_HEAD_CHANGED in that case (the writer thread stays refusing too).
   */
  #resync(): void {
    const read = this.#readHead();
    const known = [{ sequence: this.#lastSequence, hash: this.#lastHash }, ...this.#maybeCommitted];
    const signatures = new Set([
      this.#lastDigest?.signature ?? "",
      ...this.#maybeCommitted.map((h) => h.digest?.signature ?? ""),
    ]);
    let changed: string | undefined;
    if (!known.some((h) => h.sequence === read.sequence && h.hash === read.hash)) {
      changed = `its last event is now ${read.sequence} (hash ${read.hash.slice(0, 16)}), but this log wrote up to ${this.#lastSequence} (hash ${this.#lastHash.slice(0, 16)})`;
    } else if (!signatures.has(read.digest?.signature ?? "")) {
      changed = `its last digest is now #${read.digest?.digestNumber ?? 0}, but this log wrote up to #${this.#lastDigest?.digestNumber ?? 0}`;
    }
    if (changed !== undefined) {
      const error = new Error(
        `${this.#path} was changed outside this service after a failed write: ${changed}. Appends are refused until the service is restarted; verify the log first`,
      );
      (error as Error & { code: string }).code = HEAD_CHANGED;
      throw error;
    }
    this.#setHead(read);
    this.#maybeCommitted = [];
    // Ordered before any later write; if the thread is gone, the next write starts a fresh one.
    this.#writer.resync().catch(() => undefined);
  }

  /** Resolves when no event is pending or in flight (each batch settled, durable or rejected). */
  async #drain(): Promise<void> {
    for (;;) {
      if (this.#exclusive !== undefined) await this.#exclusive;
      else if (this.#inFlight.length > 0) await this.#inFlight[this.#inFlight.length - 1]!.done;
      else if (this.#pending.length > 0) this.#flush();
      else return;
    }
  }

  #makeDigest(
    previous: AuditDigest | undefined,
    lastSequence: number,
    lastHash: string,
    lastEventId: string,
  ): AuditDigest {
    return signDigest(
      {
        digestNumber: (previous?.digestNumber ?? 0) + 1,
        firstSequence: (previous?.lastSequence ?? 0) + 1,
        lastSequence,
        lastHash,
        lastEventId,
        digestTime: this.#clock().toISOString(),
        previousSignature: previous?.signature ?? "",
        publicKeyFingerprint: this.#key.fingerprint,
      },
      this.#key.privateKey,
    );
  }

  /** Reads the chain head and the last digest from the database. */
  #readHead(): { sequence: number; hash: string; eventId: string; digest: AuditDigest | undefined } {
    const head = this.#db
      .prepare("SELECT sequence, hash, event_json FROM audit_events ORDER BY sequence DESC LIMIT 1")
      .get() as { sequence: number; hash: string; event_json: string } | undefined;
    let lastEventId = "";
    if (head !== undefined) {
      try {
        lastEventId = String((JSON.parse(head.event_json) as { eventID?: unknown }).eventID ?? "");
      } catch {
        // A damaged row: verify() reports it; the digest then names no event id.
      }
    }
    const digestRow = this.#db
      .prepare("SELECT * FROM audit_digests ORDER BY digest_number DESC LIMIT 1")
      .get();
    const lastDigest =
      digestRow === undefined ? undefined : digestFromRow(digestRow as Parameters<typeof digestFromRow>[0]);
    return {
      sequence: head?.sequence ?? 0,
      hash: head?.hash ?? GENESIS_HASH,
      eventId: lastEventId,
      digest: lastDigest,
    };
  }

  /** Makes `head` both the durable and the sent head. */
  #setHead(head: { sequence: number; hash: string; eventId: string; digest: AuditDigest | undefined }): void {
    this.#lastSequence = this.#sentSequence = head.sequence;
    this.#lastHash = this.#sentHash = head.hash;
    this.#lastEventId = this.#sentEventId = head.eventId;
    this.#lastDigest = this.#sentDigest = head.digest;
    this.#needsResync = false;
  }

  /** Writes a digest if durable events are not yet covered by one. Call only when nothing is in flight. */
  async #writeDigestNow(): Promise<void> {
    if (this.#needsResync) this.#resync();
    // Nothing new to cover, or a log truncated below its last digest (no digest of a range that runs backwards).
    if (this.#lastSequence <= (this.#lastDigest?.lastSequence ?? 0)) return;
    const digest = this.#makeDigest(this.#lastDigest, this.#lastSequence, this.#lastHash, this.#lastEventId);
    try {
      await this.#writer.writeBatch(
        new EventBatchBuilder(this.#lastSequence + 1, this.#lastHash, 0).finish(),
        digestRow(digest),
      );
    } catch (error) {
      this.#maybeCommitted.push({ sequence: this.#lastSequence, hash: this.#lastHash, digest });
      throw error;
    }
    this.#lastDigest = this.#sentDigest = digest;
    this.#lastDigestAt = performance.now();
  }

  /** Writes a digest with the writer to itself: batches arriving meanwhile wait, then go on. */
  #digestExclusive(): Promise<void> {
    const done = this.#writeDigestNow();
    const settled = done.then(
      () => undefined,
      () => undefined,
    );
    this.#exclusive = settled;
    void settled.then(() => {
      this.#exclusive = undefined;
      this.#flush();
    });
    return done;
  }

  #digestIfDue(): void {
    if (
      this.#closed ||
      this.#exclusive !== undefined ||
      this.#inFlight.length > 0 ||
      this.#pending.length > 0
    )
      return;
    if (performance.now() - this.#lastDigestAt < this.#digestIntervalMs) return;
    this.#digestExclusive().catch((error: unknown) => {
      // The next tick retries; appends are unaffected unless the store really is unwritable.
      this.#needsResync = true;
      this.#lastError = error;
    });
  }

  /**
   * Writes pending events, then a signed digest covering every durable event (no-op when the last digest
   * already covers them).
   *
   * @throws KmsError KMSInternalException when the digest cannot be written.
   */
  async writeDigest(): Promise<void> {
    if (this.#closed) throw auditUnavailable("the audit log is closed");
    await this.#drain();
    try {
      await this.#digestExclusive();
    } catch (error) {
      this.#needsResync = true;
      this.#lastError = error;
      throw auditUnavailable("the digest could not be written", error);
    }
  }

  /**
   * Events matching every given filter, oldest first (newest last). With `after`, the first `limit` events
   * after that sequence (paging from `after: 0`); without it, the latest `limit` events. `keyId` takes a key ARN,
   * a key id, an alias name or an alias ARN (see {@link AuditQuery.keyId}). To read a log that a running service
   * holds, from another process, use `queryAuditFile`.
   *
   * @throws TypeError or RangeError for malformed filters.
   * @throws KmsError KMSInternalException when the log is closed.
   */
  query(filter: AuditQuery = {}): AuditEvent[] {
    if (this.#closed) throw auditUnavailable("the audit log is closed");
    return queryEvents(this.#db, filter);
  }

  /** Every digest written so far, oldest first, for copying outside the data dir. */
  digests(): AuditDigest[] {
    if (this.#closed) throw auditUnavailable("the audit log is closed");
    return (
      this.#db.prepare("SELECT * FROM audit_digests ORDER BY digest_number").all() as Parameters<
        typeof digestFromRow
      >[0][]
    ).map(digestFromRow);
  }

  /**
   * Reads the whole log through a separate read-only connection and checks the chain and the digests
   * against this service's signing key. Events appended meanwhile are not included. Pass digests kept
   * outside the data dir as `knownDigests` to also catch truncation after the log's own last digest.
   * The log's own head counts as such a copy: its last digest and every event it committed since it was
   * opened must still be there, so deleting the newest digests or events (or restoring an older copy of
   * audit.db) while the service runs is reported as `truncated-after-digest`.
   *
   * @throws AuditUnreadableError (`code` SEALKIT_AUDIT_UNREADABLE) when the database cannot be read at all
   *   (not SQLite, not an audit log, a newer schema, locked, damaged).
   */
  async verify(options: AuditVerifyOptions = {}): Promise<AuditVerifyReport> {
    return verifyAuditPath(this.#path, this.#key, options, {
      lastSequence: this.#lastSequence,
      lastHash: this.#lastHash,
      lastDigest: this.#lastDigest,
    });
  }

  /** Counters for /metrics. `lagMs` is the age of the oldest event still waiting for its commit. */
  stats(): AuditStats {
    let inFlight = 0;
    for (const entry of this.#inFlight) inFlight += entry.batch.length;
    const oldest = this.#inFlight[0]?.batch[0] ?? this.#pending[0];
    return {
      appended: this.#appended,
      pending: this.#pending.length + inFlight,
      lastSequence: this.#lastSequence,
      lagMs: oldest === undefined ? 0 : performance.now() - oldest.enqueuedAt,
    };
  }

  /** Group-commit counters (batches written, largest batch, batches in flight now) and the last write error, for diagnostics and tests. */
  diagnostics(): { batches: number; largestBatch: number; inFlight: number; lastError: unknown } {
    return {
      batches: this.#batches,
      largestBatch: this.#largestBatch,
      inFlight: this.#inFlight.length,
      lastError: this.#lastError,
    };
  }

  /**
   * Writes pending events and a final digest, then closes the database. Later appends reject.
   *
   * @throws KmsError KMSInternalException when the final digest cannot be written (the database is closed anyway).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    let failure: unknown;
    try {
      await this.#drain();
      await this.#digestExclusive();
    } catch (error) {
      failure = auditUnavailable("the final digest could not be written", error);
    }
    await this.#writer.close().catch(() => undefined);
    this.#db.close();
    this.#lock.close();
    if (failure !== undefined) throw failure;
  }
}

/** A digest as the writer's positional row, in the column order of audit_digests. */
function digestRow(d: AuditDigest): DigestRow {
  return [
    d.digestNumber,
    d.firstSequence,
    d.lastSequence,
    d.lastHash,
    d.lastEventId,
    d.digestTime,
    d.previousSignature,
    d.publicKeyFingerprint,
    d.signature,
  ];
}
