// Micro-benchmark of AuditLog.append: N events from C concurrent "request" loops, every event fsync'd (group commit).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { AuditLog } from "./audit-log.js";

const total = Number(process.argv[2] ?? 100_000);
const concurrency = Number(process.argv[3] ?? 64);
const dir = mkdtempSync(join(process.env.AUDIT_BENCH_DIR ?? tmpdir(), "sealkit-audit-bench-"));
const log = await AuditLog.open(dir);
let issued = 0;
const latencies: number[] = [];
const started = performance.now();
const cpuStart = process.cpuUsage();
await Promise.all(
  Array.from({ length: concurrency }, async (_, loop) => {
    while (issued < total) {
      issued++;
      const t0 = performance.now();
      await log.append({
        eventName: "GenerateDataKey",
        caller: {
          principal: "arn:aws:iam::111122223333:user/alice",
          account: "111122223333",
          accessKeyId: "AKIAIOSFODNN7EXAMPLE",
          sourceIp: "127.0.0.1",
          userAgent: "aws-sdk-js/3.1164.0",
        },
        requestParameters: {
          keyId: "alias/app",
          keySpec: "AES_256",
          encryptionContext: { tenant: "acme", loop: String(loop) },
        },
        responseElements: null,
        resources: [
          {
            ARN: "arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-0000-4000-8000-000000000001",
            type: "AWS::KMS::Key",
            accountId: "111122223333",
          },
        ],
        keyId: "arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-0000-4000-8000-000000000001",
      });
      latencies.push(performance.now() - t0);
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStart);
const { batches, largestBatch } = log.diagnostics();
await log.close();
const verifyStart = performance.now();
const check = await AuditLog.open(dir);
const report = await check.verify();
const verifySeconds = (performance.now() - verifyStart) / 1000;
await check.close();
rmSync(dir, { recursive: true, force: true });
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(2);
console.log(
  JSON.stringify({
    events: total,
    concurrency,
    seconds: Number(seconds.toFixed(2)),
    eventsPerSecond: Math.round(total / seconds),
    cpuMicrosPerEvent: Math.round((cpu.user + cpu.system) / total),
    batches,
    meanBatch: Math.round(total / batches),
    largestBatch,
    p50ms: pct(50),
    p99ms: pct(99),
    verifyOk: report.ok,
    verifyEventsPerSecond: Math.round(report.events / verifySeconds),
  }),
);
