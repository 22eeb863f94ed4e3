// The audit writer thread: commits batches to audit.db (synchronous=FULL) off the main thread, so requests go on being served during the fsync.

import * as nodeCrypto from "node:crypto";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { SCHEMA_QUERY, type SchemaObject } from "./index-check.js";

/** One event row, positionally: sequence, event_time, event_name, principal, key_id, error_code, event_json, hash. */
export type EventRow = [number, string, string, string, string | null, string | null, string, string];

/** One digest row, positionally, in the column order of audit_digests. */
export type DigestRow = [number, number, number, string, string, string, string, string, string];

/**
 * Columns per event row in an {@link EventBatch}: event_time, event_name, principal, key_id, error_code, then the
 * row's prevHash followed by event_json (adjacent, as the chain hash covers them), then hash.
 */
const FIELDS = 8;

/** The one-shot hash of Node 20.12+ (no Hash object per event); createHash before that. */
const oneShotHash = (nodeCrypto as Partial<Pick<typeof nodeCrypto, "hash">>).hash;

/**
 * Consecutive event rows packed for the writer thread: one byte buffer (UTF-8), transferred rather than copied,
 * and one length per column. A structured clone of hundreds of small strings cost more than the insert; a
 * single string still had to be flattened and copied. The chain hash is computed over the same bytes.
 */
export interface EventBatch {
  /** Sequence of the first row; row i has sequence `first + i`. */
  first: number;
  /** prevHash of the first row: the writer refuses a batch that does not continue its last committed hash. */
  prevHash: string;
  /** The columns of every row, UTF-8, concatenated. */
  bytes: Uint8Array;
  /** Byte length of each column in `bytes`, {@link FIELDS} per row; -1 for NULL. */
  lengths: Int32Array;
  /** True when every byte is ASCII, so the writer can decode columns as Latin-1 (faster than UTF-8). */
  ascii: boolean;
}

/**
 * Buffers made by {@link EventBatchBuilder.finish}: nothing else refers to them, so {@link AuditWriter.writeBatch}
 * transfers them whole (with their unused tail) instead of copying the used part. Removed when transferred.
 */
const ownBuffers = new WeakSet<ArrayBufferLike>();

/** Builds an {@link EventBatch} row by row. */
export class EventBatchBuilder {
  readonly #first: number;
  readonly #prevHash: string;
  readonly #lengths: Int32Array;
  #bytes: Buffer;
  #size = 0;
  #rows = 0;
  #at = 0;
  #ascii = true;
  /** The last row's hash, written at the start of the next row's text (or by finish): one write per row. */
  #pendingHash: string | undefined;

  constructor(first: number, prevHash: string, capacity: number) {
    this.#first = first;
    this.#prevHash = prevHash;
    this.#lengths = new Int32Array(capacity * FIELDS);
    // Transferred to the writer thread, so never a slice of Node's shared pool.
    this.#bytes = Buffer.allocUnsafeSlow(Math.max(4096, capacity * 1536));
  }

  /** Makes room for `chars` UTF-16 code units of text (a code unit takes at most 3 bytes of UTF-8). */
  #reserve(chars: number): void {
    const room = chars * 3;
    if (this.#size + room > this.#bytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.#bytes.length * 2, this.#size + room));
      this.#bytes.copy(grown, 0, 0, this.#size);
      this.#bytes = grown;
    }
  }

  /** Appends `value` as UTF-8 and returns its byte length. */
  #write(value: string): number {
    this.#reserve(value.length);
    const written = this.#bytes.write(value, this.#size, "utf8");
    if (written !== value.length) this.#ascii = false;
    this.#size += written;
    return written;
  }

  /** Writes the previous row's hash, when it has not been written yet. */
  #flushHash(): void {
    if (this.#pendingHash === undefined) return;
    this.#write(this.#pendingHash);
    this.#pendingHash = undefined;
  }

  /**
   * Adds the next row (sequence `first + rows so far`) and returns its hash: `hash` when given (tests), else the
   * chain hash, hex SHA-256 of `prevHash` followed by `json`, computed over the bytes just written.
   *
   * The bytes are those of each column written with `Buffer.write` on its own. When the row is ASCII (the common
   * case) the columns, preceded by the previous row's hash, are written with one call instead: for ASCII text
   * the byte lengths are the string lengths and the bytes are the same. Otherwise the row is written column by
   * column, as UTF-8 of a concatenation can differ (two lone surrogates at a column boundary would pair up).
   */
  add(
    eventTime: string,
    eventName: string,
    principal: string,
    keyId: string | null,
    errorCode: string | null,
    prevHash: string,
    json: string,
    hash?: string,
  ): string {
    const lengths = this.#lengths;
    let at = this.#at;
    // A typed array ignores writes past its end: a row over the capacity would lose its lengths without a word.
    if (at + FIELDS > lengths.length)
      throw new RangeError(`EventBatchBuilder: more than ${lengths.length / FIELDS} rows`);
    const pending = this.#pendingHash ?? "";
    const text = `${pending}${eventTime}${eventName}${principal}${keyId ?? ""}${errorCode ?? ""}${prevHash}${json}`;
    this.#reserve(text.length);
    const written = this.#bytes.write(text, this.#size, "utf8");
    let start: number;
    if (written === text.length) {
      // All ASCII: one byte per code unit.
      this.#pendingHash = undefined;
      lengths[at++] = eventTime.length;
      lengths[at++] = eventName.length;
      lengths[at++] = principal.length;
      lengths[at++] = keyId === null ? -1 : keyId.length;
      lengths[at++] = errorCode === null ? -1 : errorCode.length;
      lengths[at++] = prevHash.length;
      lengths[at++] = json.length;
      start = this.#size + written - prevHash.length - json.length;
      this.#size += written;
    } else {
      // Overwrites what the single write put there.
      this.#flushHash();
      lengths[at++] = this.#write(eventTime);
      lengths[at++] = this.#write(eventName);
      lengths[at++] = this.#write(principal);
      lengths[at++] = keyId === null ? -1 : this.#write(keyId);
      lengths[at++] = errorCode === null ? -1 : this.#write(errorCode);
      start = this.#size;
      lengths[at++] = this.#write(prevHash);
      lengths[at++] = this.#write(json);
    }
    let rowHash: string;
    if (hash === undefined) {
      const covered = this.#bytes.subarray(start, this.#size);
      rowHash =
        oneShotHash !== undefined
          ? oneShotHash("sha256", covered, "hex")
          : createHash("sha256").update(covered).digest("hex");
      // 64 hex digits (ASCII), written with the next row or by finish.
      this.#pendingHash = rowHash;
      lengths[at++] = 64;
    } else {
      rowHash = hash;
      lengths[at++] = this.#write(hash);
    }
    this.#at = at;
    this.#rows++;
    return rowHash;
  }

  get rows(): number {
    return this.#rows;
  }

  finish(): EventBatch {
    this.#flushHash();
    ownBuffers.add(this.#bytes.buffer);
    return {
      first: this.#first,
      prevHash: this.#prevHash,
      bytes: new Uint8Array(this.#bytes.buffer, this.#bytes.byteOffset, this.#size),
      lengths: this.#at === this.#lengths.length ? this.#lengths : this.#lengths.slice(0, this.#at),
      ascii: this.#ascii,
    };
  }
}

interface Reply {
  id: number;
  ok: boolean;
  message?: string;
  code?: string;
}

// CommonJS, run with `eval: true`, so that it needs no file of its own in src/ or dist/ and works from both.
// The thread keeps the chain head it last committed (sequence, hash, digest number and signature) and refuses a
// batch that does not continue it: a batch prepared on top of one that failed can never be committed, whatever
// the main thread does. After a failed write it refuses every write until the main thread sends "resync" (so the
// batches already queued behind the failed one fail too), then re-reads the head from the database.
const WRITER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.sqlitePath);
const FIELDS = ${FIELDS};
const GENESIS = "0".repeat(64);
let db, writeBatch, writeDigest, readHead, readDigest;
let head; // { sequence, hash, digestNumber, signature } or undefined when it must be re-read
// Set when a write fails, cleared by "resync": writes sent before the main thread learnt of the failure were
// built on the failed batch, so every one of them is refused, whatever its sequence says.
let poisoned = false;
function fenceError(message) {
  const error = new Error(message);
  error.code = "SEALKIT_AUDIT_CHAIN";
  return error;
}
// The schema objects of the events and digests tables the log made, and the schema_version last found to match them:
// a trigger planted in the file runs inside these inserts (a BEFORE INSERT one with RAISE(IGNORE) drops the row
// without an error), so no batch is written through a schema that is not the log's own.
const expectedSchema = workerData.schema;
let checkedSchemaVersion = -1;
let readSchemaVersion, readSchema;
function schemaChange() {
  const version = readSchemaVersion.get();
  if (version === checkedSchemaVersion) return undefined;
  const key = (o) => [o.type, o.name, o.tbl_name, o.sql].join("\u0000");
  const want = new Set(expectedSchema.map(key));
  const found = readSchema.all();
  for (const o of found) {
    if (!want.has(key(o))) return "a " + o.type + " " + o.name + " that the log did not make (" + String(o.sql).slice(0, 200) + ")";
  }
  if (found.length !== expectedSchema.length) return "an index or table of the log was dropped";
  checkedSchemaVersion = version;
  return undefined;
}
function open() {
  db = new Database(workerData.path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 2000");
  const insertEvent = db.prepare("INSERT INTO audit_events (sequence, event_time, event_name, principal, key_id, error_code, event_json, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  const insertDigest = db.prepare("INSERT INTO audit_digests (digest_number, first_sequence, last_sequence, last_hash, last_event_id, digest_time, previous_signature, public_key_fingerprint, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  readHead = db.prepare("SELECT sequence, hash FROM audit_events ORDER BY sequence DESC LIMIT 1");
  readDigest = db.prepare("SELECT digest_number, signature FROM audit_digests ORDER BY digest_number DESC LIMIT 1");
  if (expectedSchema) {
    readSchemaVersion = db.prepare("PRAGMA schema_version").pluck();
    readSchema = db.prepare(workerData.schemaQuery);
  }
  const insertDigestRow = (digest, next) => {
    if (digest[0] !== next.digestNumber + 1 || digest[6] !== next.signature) {
      throw fenceError("audit digest #" + digest[0] + " does not follow digest #" + next.digestNumber);
    }
    insertDigest.run(digest);
    next.digestNumber = digest[0];
    next.signature = digest[8];
  };
  writeBatch = db.transaction((batch, digest, next) => {
    if (expectedSchema) {
      const change = schemaChange();
      if (change) {
        const error = new Error("audit.db's schema was changed outside this service: " + change + "; nothing is written through it");
        error.code = "SEALKIT_AUDIT_SCHEMA_CHANGED";
        throw error;
      }
    }
    const { first, lengths } = batch;
    if (lengths.length > 0) {
      if (first !== next.sequence + 1 || batch.prevHash !== next.hash) {
        throw fenceError("audit batch from sequence " + first + " does not follow the committed head " + next.sequence);
      }
      const bytes = Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength);
      const encoding = batch.ascii ? "latin1" : "utf8";
      const rows = lengths.length / FIELDS;
      let at = 0, f = 0, hash = next.hash;
      const field = () => {
        const n = lengths[f++];
        if (n < 0) return null;
        const value = bytes.toString(encoding, at, at + n);
        at += n;
        return value;
      };
      for (let i = 0; i < rows; i++) {
        const eventTime = field(), eventName = field(), principal = field(), keyId = field(), errorCode = field();
        const prevHash = field(), json = field();
        if (prevHash !== hash) throw fenceError("audit event " + (first + i) + " does not link to the event before it");
        hash = field();
        insertEvent.run(first + i, eventTime, eventName, principal, keyId, errorCode, json, hash);
      }
      next.sequence = first + rows - 1;
      next.hash = hash;
    }
    if (digest) insertDigestRow(digest, next);
  });
}
function loadHead() {
  const row = readHead.get();
  const digest = readDigest.get();
  head = {
    sequence: row ? row.sequence : 0,
    hash: row ? row.hash : GENESIS,
    digestNumber: digest ? digest.digest_number : 0,
    signature: digest ? digest.signature : "",
  };
}
parentPort.on("message", (message) => {
  try {
    if (message.type === "close") {
      if (db) db.close();
      db = undefined;
      head = undefined;
    } else if (message.type === "resync") {
      poisoned = false;
      head = undefined;
    } else {
      if (message.type === "write" && poisoned) {
        const error = fenceError("audit batch refused: an earlier batch failed and the head was not re-read since");
        parentPort.postMessage({ id: message.id, ok: false, message: error.message, code: error.code });
        return;
      }
      if (!db) open();
      if (!head) loadHead();
      if (message.type === "write") {
        const next = { ...head };
        try {
          // IMMEDIATE: the write lock first (waiting busy_timeout for it), as the schema is read before the inserts; a
          // deferred transaction that has read cannot wait for the lock and fails at once.
          writeBatch.immediate(message.batch, message.digest, next);
        } catch (error) {
          poisoned = true;
          throw error;
        }
        head = next;
      }
    }
    parentPort.postMessage({ id: message.id, ok: true });
  } catch (error) {
    try { if (db && db.inTransaction) db.exec("ROLLBACK"); } catch {}
    head = undefined;
    parentPort.postMessage({ id: message.id, ok: false, message: String(error && error.message), code: error && error.code });
  }
});
`;

/** Error raised by the writer thread, with SQLite's code (SQLITE_FULL, SQLITE_IOERR_WRITE, ...) when there is one. */
export class AuditWriteError extends Error {
  override readonly name = "AuditWriteError";
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

interface Waiting {
  id: number;
  resolve: (reply: Reply) => void;
  reject: (error: unknown) => void;
}

/**
 * A thread that owns the writing connection of audit.db. Requests are answered in the order they were sent;
 * the thread is only referenced while a request is in flight, so an idle log does not keep the process alive.
 */
export class AuditWriter {
  readonly #path: string;
  readonly #schema: SchemaObject[] | undefined;
  #worker: Worker | undefined;
  #nextId = 1;
  /** Requests sent and not yet answered, oldest first (the thread answers in order). */
  #waiting: Waiting[] = [];

  /**
   * @param schema the schema objects of the events and digests tables as the log made them: when given, a batch is
   *   refused (`SEALKIT_AUDIT_SCHEMA_CHANGED`, nothing written) while the file's differ (a trigger planted in it).
   */
  constructor(path: string, schema?: SchemaObject[]) {
    this.#path = path;
    this.#schema = schema;
  }

  /** Requests sent to the thread and not answered yet. */
  get inFlight(): number {
    return this.#waiting.length;
  }

  #start(): Worker {
    const sqlitePath = createRequire(import.meta.url).resolve("better-sqlite3");
    const worker = new Worker(WRITER_SOURCE, {
      eval: true,
      workerData: { path: this.#path, sqlitePath, schema: this.#schema, schemaQuery: SCHEMA_QUERY },
    });
    worker.unref();
    worker.on("message", (reply: Reply) => {
      if (this.#worker !== worker) return;
      const waiting = this.#waiting[0];
      if (waiting === undefined || waiting.id !== reply.id) return;
      this.#waiting.shift();
      if (this.#waiting.length === 0) worker.unref();
      if (reply.ok) waiting.resolve(reply);
      else waiting.reject(new AuditWriteError(reply.message ?? "audit write failed", reply.code));
    });
    const fail = (error: unknown) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      const failure =
        error instanceof Error ? error : new AuditWriteError(`audit writer exited (${String(error)})`);
      for (const waiting of this.#waiting.splice(0)) waiting.reject(failure);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new AuditWriteError(`audit writer exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #send(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    let worker: Worker;
    try {
      worker = this.#worker ?? this.#start();
    } catch (error) {
      // A thread that cannot start (out of memory, too many threads) fails the batch, not the process.
      return Promise.reject(error);
    }
    const id = this.#nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.#waiting.push({ id, resolve, reject });
      worker.ref();
      message.id = id;
      worker.postMessage(message, transfer);
    });
  }

  /** Starts the thread and opens its connection, so that the first append does not pay for it. */
  async open(): Promise<void> {
    await this.#send({ type: "open" });
  }

  /**
   * Commits the batch (and the digest, if any) in one transaction; resolves once the commit is durable.
   * Rejects, committing nothing, when the batch does not continue the last committed event (sequence and
   * hash) or the digest the last committed digest, e.g. because it was prepared on top of a batch that failed.
   */
  async writeBatch(batch: EventBatch, digest: DigestRow | undefined): Promise<void> {
    // The bytes move to the writer thread (no copy) when the buffer is the builder's own or holds nothing else;
    // any other buffer is copied, as transferring it would detach memory the caller still uses.
    const whole = batch.bytes.byteOffset === 0 && batch.bytes.byteLength === batch.bytes.buffer.byteLength;
    const bytes = whole || ownBuffers.delete(batch.bytes.buffer) ? batch.bytes : batch.bytes.slice();
    await this.#send({ type: "write", batch: { ...batch, bytes }, digest }, [bytes.buffer as ArrayBuffer]);
  }

  /**
   * After a failed write the thread refuses every write (those already sent were built on the failed batch)
   * until this request: it then re-reads the head from the database before the next write.
   */
  async resync(): Promise<void> {
    await this.#send({ type: "resync" });
  }

  /** {@link writeBatch} for rows given one by one; their sequences must be consecutive. */
  write(rows: EventRow[], digest: DigestRow | undefined): Promise<void> {
    const first = rows[0]?.[0] ?? 0;
    const prevHash = rows[0] === undefined ? "" : rowPrevHash(rows[0]);
    const builder = new EventBatchBuilder(first, prevHash, rows.length);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      if (row[0] !== first + i) {
        return Promise.reject(new RangeError("audit rows must have consecutive sequences"));
      }
      builder.add(row[1], row[2], row[3], row[4], row[5], rowPrevHash(row), row[6], row[7]);
    }
    return this.writeBatch(builder.finish(), digest);
  }

  /** Closes the writing connection and stops the thread. */
  async close(): Promise<void> {
    const worker = this.#worker;
    if (worker === undefined) return;
    try {
      await this.#send({ type: "close" });
    } finally {
      this.#worker = undefined;
      for (const waiting of this.#waiting.splice(0))
        waiting.reject(new AuditWriteError("audit writer closed"));
      await worker.terminate();
    }
  }
}

/** The prevHash member of a row's event JSON (for {@link AuditWriter.write}); empty when it has none. */
function rowPrevHash(row: EventRow): string {
  try {
    const prevHash = (JSON.parse(row[6]) as { prevHash?: unknown }).prevHash;
    return typeof prevHash === "string" ? prevHash : "";
  } catch {
    return "";
  }
}
