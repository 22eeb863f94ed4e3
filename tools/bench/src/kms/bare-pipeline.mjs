// The "bare" measurement, for `pnpm bench:kms`: per request only the SigV4 check (the server's own
// verifier), AES-256-GCM of a 32-byte data key (node:crypto) and a hash-chained SQLite insert (WAL,
// synchronous=FULL, one transaction and fsync per group of 64 requests), in one thread, with no HTTP, JSON, policy,
// key lookup or audit event to build. What the whole server needs at the very least on top of the HTTP exchange.
// With --audit-log the insert is replaced by Sealkit's own AuditLog (the CloudTrail-shaped event the server writes,
// five indexes, signed digests, its writer thread), 64 appends in flight as under load: the same floor with the
// audit log this KMS keeps. CPU is counted over all the process's threads.
// Usage: node bare-pipeline.mjs <one credential as JSON> [seconds] [--audit-log] → prints one JSON line.

import { createCipheriv, createHash, randomBytes, randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog, SigV4Verifier } from "../../../../packages/kms-local/dist/index.js";
import { signedVerifyCase } from "./sign.mjs";

const require = createRequire(new URL("../../../../packages/kms-local/package.json", import.meta.url));
const Database = require("better-sqlite3");

const credential = JSON.parse(process.argv[2]);
const GROUP = 64;
const SECONDS = Number(process.argv[3] ?? 3);
const WITH_AUDIT_LOG = process.argv.includes("--audit-log");

const { verifier, parts: request } = signedVerifyCase(SigV4Verifier, credential);

const dir = mkdtempSync(join(tmpdir(), "sealkit-bare-"));
const db = new Database(join(dir, "chain.db"));
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.exec("CREATE TABLE events (seq INTEGER PRIMARY KEY, event BLOB NOT NULL, hash BLOB NOT NULL)");
const insert = db.prepare("INSERT INTO events (seq, event, hash) VALUES (?, ?, ?)");
const key = randomBytes(32);
const aad = Buffer.from('{"tenant":"bench"}');
const keyArn = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000";
const event = Buffer.from(
  JSON.stringify({
    eventName: "GenerateDataKey",
    principal: credential.principal,
    keyId: keyArn,
    encryptionContext: { tenant: "bench" },
    requestId: "00000000-0000-4000-8000-000000000000",
    time: new Date().toISOString(),
  }),
);

let previous = Buffer.alloc(32);
let seq = 0;
const group = db.transaction((rows) => {
  for (const row of rows) insert.run(row.seq, row.event, row.hash);
});

// Random bytes from a pool refilled 64 KiB at a time, as the server does (one randomBytes call costs ~4 µs here).
const pool = Buffer.alloc(65_536);
let used = pool.length;
function random(n) {
  if (used + n > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += n;
  return pool.subarray(used - n, used);
}

function sealDataKey() {
  verifier.verify(request); // throws on any failure
  const cipher = createCipheriv("aes-256-gcm", key, random(12));
  cipher.setAAD(aad);
  cipher.update(random(32));
  cipher.final();
  cipher.getAuthTag();
}

function once() {
  sealDataKey();
  previous = createHash("sha256").update(previous).update(event).digest();
  return { seq: ++seq, event, hash: previous };
}

/** Runs `serve(until)`, which serves requests until performance.now() reaches `until` and returns how many. */
async function measure(ms, serve) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const n = await serve(t0 + ms);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  // CPU time leaves out the fsync waits, which a server overlaps with other work.
  return { rps: (n * 1000) / wall, cpuUsPerRequest: (cpu.user + cpu.system) / n };
}

/** The bare insert: groups of GROUP rows, one transaction each. */
const run = (ms) =>
  measure(ms, (until) => {
    let n = 0;
    while (performance.now() < until) {
      const rows = [];
      for (let i = 0; i < GROUP; i++) rows.push(once());
      group(rows);
      n += GROUP;
    }
    return n;
  });

// The event LocalKms hands the audit log for a GenerateDataKey (the server's caller, parameters and resources).
const auditInput = () => ({
  eventName: "GenerateDataKey",
  eventTime: new Date(),
  caller: {
    principal: credential.principal,
    account: "111122223333",
    accessKeyId: credential.accessKeyId,
    sourceIp: "127.0.0.1",
    userAgent: "wrk",
  },
  requestParameters: { keyId: "alias/bench", keySpec: "AES_256", encryptionContext: { tenant: "bench" } },
  responseElements: null,
  resources: [{ ARN: keyArn, type: "AWS::KMS::Key", accountId: "111122223333" }],
  readOnly: true,
  requestId: crypto.randomUUID(),
  keyId: keyArn,
});

/** Sealkit's audit log: GROUP requests in flight, each answered once its event is durable. */
const runWithAuditLog = (log, ms) =>
  measure(ms, async (until) => {
    let n = 0;
    const worker = async () => {
      while (performance.now() < until) {
        sealDataKey();
        await log.append(auditInput()); // resolves once the event is durable
        n++;
      }
    };
    await Promise.all(Array.from({ length: GROUP }, worker));
    return n;
  });

let result;
if (WITH_AUDIT_LOG) {
  const log = await AuditLog.open(join(dir, "audit"));
  await runWithAuditLog(log, 500);
  result = await runWithAuditLog(log, SECONDS * 1000);
  await log.close();
} else {
  await run(500);
  result = await run(SECONDS * 1000);
}
db.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(result)}\n`);
