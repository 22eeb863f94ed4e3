// The audit writer thread: commits batches to audit.db (synchronous=FULL) off the main thread, so requests go on being served during the fsync.

import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** One event row, positionally: sequence, event_time, event_name, principal, key_id, error_code, event_json, hash. */
export type EventRow = [number, string, string, string, string | null, string | null, string, string];

/** One digest row, positionally, in the column order of audit_digests. */
export type DigestRow = [number, number, number, string, string, string, string, string, string];

interface Reply {
  id: number;
  ok: boolean;
  message?: string;
  code?: string;
}

// CommonJS, run with `eval: true`, so that it needs no file of its own in src/ or dist/ and works from both.
const WRITER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.sqlitePath);
let db, write;
function open() {
  db = new Database(workerData.path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 2000");
  const insertEvent = db.prepare("INSERT INTO audit_events (sequence, event_time, event_name, principal, key_id, error_code, event_json, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  const insertDigest = db.prepare("INSERT INTO audit_digests (digest_number, first_sequence, last_sequence, last_hash, last_event_id, digest_time, previous_signature, public_key_fingerprint, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  write = db.transaction((rows, digest) => {
    for (const row of rows) insertEvent.run(row);
    if (digest) insertDigest.run(digest);
  });
}
parentPort.on("message", (message) => {
  try {
    if (message.type === "close") {
      if (db) db.close();
      db = undefined;
    } else if (message.type === "open") {
      if (!db) open();
    } else {
      if (!db) open();
      write(message.rows, message.digest);
    }
    parentPort.postMessage({ id: message.id, ok: true });
  } catch (error) {
    try { if (db && db.inTransaction) db.exec("ROLLBACK"); } catch {}
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

/**
 * A thread that owns the writing connection of audit.db. One request at a time; the thread is only
 * referenced while a write is in flight, so an idle log does not keep the process alive.
 */
export class AuditWriter {
  readonly #path: string;
  #worker: Worker | undefined;
  #nextId = 1;
  #waiting: { id: number; resolve: () => void; reject: (error: unknown) => void } | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  #start(): Worker {
    const sqlitePath = createRequire(import.meta.url).resolve("better-sqlite3");
    const worker = new Worker(WRITER_SOURCE, { eval: true, workerData: { path: this.#path, sqlitePath } });
    worker.unref();
    worker.on("message", (reply: Reply) => {
      const waiting = this.#waiting;
      if (waiting === undefined || waiting.id !== reply.id) return;
      this.#waiting = undefined;
      worker.unref();
      if (reply.ok) waiting.resolve();
      else waiting.reject(new AuditWriteError(reply.message ?? "audit write failed", reply.code));
    });
    const fail = (error: unknown) => {
      if (this.#worker === worker) this.#worker = undefined;
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting?.reject(
        error instanceof Error ? error : new AuditWriteError(`audit writer exited (${String(error)})`),
      );
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new AuditWriteError(`audit writer exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #send(message: Record<string, unknown>): Promise<void> {
    if (this.#waiting !== undefined)
      return Promise.reject(new Error("audit writer: a write is already in flight"));
    let worker: Worker;
    try {
      worker = this.#worker ?? this.#start();
    } catch (error) {
      // A thread that cannot start (out of memory, too many threads) fails the batch, not the process.
      return Promise.reject(error);
    }
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      this.#waiting = { id, resolve, reject };
      worker.ref();
      worker.postMessage({ ...message, id });
    });
  }

  /** Starts the thread and opens its connection, so that the first append does not pay for it. */
  open(): Promise<void> {
    return this.#send({ type: "open" });
  }

  /** Commits the rows (and the digest, if any) in one transaction; resolves once the commit is durable. */
  write(rows: EventRow[], digest: DigestRow | undefined): Promise<void> {
    return this.#send({ type: "write", rows, digest });
  }

  /** Closes the writing connection and stops the thread. */
  async close(): Promise<void> {
    const worker = this.#worker;
    if (worker === undefined) return;
    try {
      await this.#send({ type: "close" });
    } finally {
      this.#worker = undefined;
      await worker.terminate();
    }
  }
}
