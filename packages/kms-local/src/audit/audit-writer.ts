// The audit writer thread: commits batches to audit.db (synchronous=FULL) off the main thread, so requests go on being served during the fsync.

import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** One event row, positionally: sequence, event_time, event_name, principal, key_id, error_code, event_json, hash. */
export type EventRow = [number, string, string, string, string | null, string | null, string, string];

/** One digest row, positionally, in the column order of audit_digests. */
export type DigestRow = [number, number, number, string, string, string, string, string, string];

/** Text columns per event row in an {@link EventBatch}: event_time, event_name, principal, key_id, error_code, event_json, hash. */
const FIELDS = 7;

/**
 * Consecutive event rows packed for the writer thread: one string and one length per column, so that a batch
 * crosses threads as two objects (a structured clone of hundreds of small strings cost more than the insert).
 */
export interface EventBatch {
  /** Sequence of the first row; row i has sequence `first + i`. */
  first: number;
  /** prevHash of the first row: the writer refuses a batch that does not continue its last committed hash. */
  prevHash: string;
  /** The columns of every row, concatenated. */
  text: string;
  /** Length of each column in `text`, {@link FIELDS} per row; -1 for NULL. */
  lengths: Int32Array;
}

/** Builds an {@link EventBatch} row by row. */
export class EventBatchBuilder {
  readonly #first: number;
  readonly #prevHash: string;
  readonly #lengths: Int32Array;
  #text = "";
  #rows = 0;
  #at = 0;

  constructor(first: number, prevHash: string, capacity: number) {
    this.#first = first;
    this.#prevHash = prevHash;
    this.#lengths = new Int32Array(capacity * FIELDS);
  }

  /** Adds the next row (sequence `first + rows so far`). */
  add(
    eventTime: string,
    eventName: string,
    principal: string,
    keyId: string | null,
    errorCode: string | null,
    json: string,
    hash: string,
  ): void {
    const lengths = this.#lengths;
    let at = this.#at;
    lengths[at++] = eventTime.length;
    lengths[at++] = eventName.length;
    lengths[at++] = principal.length;
    lengths[at++] = keyId === null ? -1 : keyId.length;
    lengths[at++] = errorCode === null ? -1 : errorCode.length;
    lengths[at++] = json.length;
    lengths[at++] = hash.length;
    this.#at = at;
    this.#text += eventTime + eventName + principal + (keyId ?? "") + (errorCode ?? "") + json + hash;
    this.#rows++;
  }

  get rows(): number {
    return this.#rows;
  }

  finish(): EventBatch {
    return {
      first: this.#first,
      prevHash: this.#prevHash,
      text: this.#text,
      lengths: this.#at === this.#lengths.length ? this.#lengths : this.#lengths.slice(0, this.#at),
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
function open() {
  db = new Database(workerData.path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 2000");
  const insertEvent = db.prepare("INSERT INTO audit_events (sequence, event_time, event_name, principal, key_id, error_code, event_json, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  const insertDigest = db.prepare("INSERT INTO audit_digests (digest_number, first_sequence, last_sequence, last_hash, last_event_id, digest_time, previous_signature, public_key_fingerprint, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  readHead = db.prepare("SELECT sequence, hash FROM audit_events ORDER BY sequence DESC LIMIT 1");
  readDigest = db.prepare("SELECT digest_number, signature FROM audit_digests ORDER BY digest_number DESC LIMIT 1");
  const insertDigestRow = (digest, next) => {
    if (digest[0] !== next.digestNumber + 1 || digest[6] !== next.signature) {
      throw fenceError("audit digest #" + digest[0] + " does not follow digest #" + next.digestNumber);
    }
    insertDigest.run(digest);
    next.digestNumber = digest[0];
    next.signature = digest[8];
  };
  writeBatch = db.transaction((batch, digest, next) => {
    const { first, text, lengths } = batch;
    if (lengths.length > 0) {
      if (first !== next.sequence + 1 || batch.prevHash !== next.hash) {
        throw fenceError("audit batch from sequence " + first + " does not follow the committed head " + next.sequence);
      }
      const rows = lengths.length / FIELDS;
      let at = 0, f = 0, hash = next.hash;
      const field = () => {
        const n = lengths[f++];
        if (n < 0) return null;
        const value = text.slice(at, at + n);
        at += n;
        return value;
      };
      for (let i = 0; i < rows; i++) {
        const eventTime = field(), eventName = field(), principal = field(), keyId = field(), errorCode = field(), json = field();
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
          writeBatch(message.batch, message.digest, next);
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
  #worker: Worker | undefined;
  #nextId = 1;
  /** Requests sent and not yet answered, oldest first (the thread answers in order). */
  #waiting: Waiting[] = [];

  constructor(path: string) {
    this.#path = path;
  }

  /** Requests sent to the thread and not answered yet. */
  get inFlight(): number {
    return this.#waiting.length;
  }

  #start(): Worker {
    const sqlitePath = createRequire(import.meta.url).resolve("better-sqlite3");
    const worker = new Worker(WRITER_SOURCE, { eval: true, workerData: { path: this.#path, sqlitePath } });
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

  #send(message: Record<string, unknown>): Promise<Reply> {
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
      worker.postMessage(message);
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
    await this.#send({ type: "write", batch, digest });
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
      if (row[0] !== first + i)
        return Promise.reject(new RangeError("audit rows must have consecutive sequences"));
      builder.add(row[1], row[2], row[3], row[4], row[5], row[6], row[7]);
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
