// What one audit row costs SQLite here: the CloudTrail-shaped event (about 1 KB of JSON) with the chain hash,
// inserted into audit.db's event table with and without its five indexes, 64 rows per transaction, WAL,
// synchronous=FULL (one fsync per transaction). CPU time per row, in one thread; the hash alone for comparison.
// Usage: node tools/bench/src/kms/audit-row.mjs [rows]  → prints one line per variant.

import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(new URL("../../../../packages/kms-local/package.json", import.meta.url));
const Database = require("better-sqlite3");

const ROWS = Number(process.argv[2] ?? 64_000);
const GROUP = 64;
const KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const PRINCIPAL = "arn:aws:iam::111122223333:user/alice";
// As audit.db's schema (packages/kms-local/src/audit/schema.ts).
const TABLE = `CREATE TABLE audit_events (sequence INTEGER PRIMARY KEY, event_time TEXT NOT NULL,
  event_name TEXT NOT NULL, principal TEXT NOT NULL, key_id TEXT, error_code TEXT, event_json TEXT NOT NULL,
  hash TEXT NOT NULL)`;
const INDEXES = `
  CREATE INDEX audit_events_key ON audit_events (key_id) WHERE key_id IS NOT NULL;
  CREATE INDEX audit_events_name ON audit_events (event_name);
  CREATE INDEX audit_events_principal ON audit_events (principal);
  CREATE INDEX audit_events_time ON audit_events (event_time);
  CREATE INDEX audit_events_errors ON audit_events (error_code) WHERE error_code IS NOT NULL;`;
const json = JSON.stringify({
  eventVersion: "1.08",
  userIdentity: { type: "IAMUser", principalId: "user/alice", arn: PRINCIPAL, accountId: "111122223333" },
  eventTime: "2026-11-29T14:00:00.000Z",
  eventSource: "kms.amazonaws.com",
  eventName: "GenerateDataKey",
  awsRegion: "us-east-1",
  sourceIPAddress: "127.0.0.1",
  userAgent: "aws-sdk-js/3.700.0 ua/2.1 os/linux#6 lang/js md/nodejs#20.20.2 api/kms#3.700.0",
  requestParameters: { keyId: KEY, keySpec: "AES_256", encryptionContext: { tenant: "acme" } },
  responseElements: null,
  requestID: crypto.randomUUID(),
  eventID: crypto.randomUUID(),
  readOnly: true,
  resources: [{ accountId: "111122223333", type: "AWS::KMS::Key", ARN: KEY }],
  eventType: "AwsApiCall",
  managementEvent: true,
  eventCategory: "Management",
  recipientAccountId: "111122223333",
});

function measure(variant) {
  const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-row-"));
  const db = new Database(join(dir, "audit.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec(TABLE);
  if (variant === "row + 5 indexes") db.exec(INDEXES);
  const insert = db.prepare("INSERT INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  let sequence = 0;
  let previous = "0".repeat(64);
  const cpu0 = process.cpuUsage();
  for (let b = 0; b < ROWS / GROUP; b++) {
    db.transaction(() => {
      for (let i = 0; i < GROUP; i++) {
        sequence++;
        const time = new Date(1.8e12 + sequence * 10).toISOString();
        previous = createHash("sha256").update(previous).update(json).digest("hex");
        if (variant !== "chain hash only") {
          insert.run(sequence, time, "GenerateDataKey", PRINCIPAL, KEY, null, json, previous);
        }
      }
    })();
  }
  const cpu = process.cpuUsage(cpu0);
  db.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `${variant.padEnd(18)} ${((cpu.user + cpu.system) / ROWS).toFixed(1)} µs CPU per row (${json.length}-byte event)`,
  );
}

for (const variant of ["row + 5 indexes", "row, no index", "chain hash only"]) measure(variant);
