// Micro-benchmark of AuditLog.append: N events from C concurrent "request" loops, every event fsync'd (group commit).

import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { AuditLog } from "./audit-log.js";

/** CPU time of each thread of this process in microseconds (Linux /proc; empty elsewhere), by thread id. */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      try {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        // utime and stime, in clock ticks of 10 ms (USER_HZ 100).
        out.set(tid, (Number(fields[11]) + Number(fields[12])) * 10_000);
      } catch {
        // The thread ended meanwhile.
      }
    }
  } catch {
    // Not Linux.
  }
  return out;
}

const total = Number(process.argv[2] ?? 100_000);
const concurrency = Number(process.argv[3] ?? 64);
const dir = mkdtempSync(join(process.env.AUDIT_BENCH_DIR ?? tmpdir(), "sealkit-audit-bench-"));
const log = await AuditLog.open(dir);
let issued = 0;
const latencies: number[] = [];
const started = performance.now();
const cpuStart = process.cpuUsage();
const threadsStart = threadCpu();
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
// The main thread's id is the process id; of the others, the busiest is the writer (the rest: GC, libuv).
const threadsEnd = threadCpu();
const used = [...threadsEnd].map(([tid, micros]) => [tid, micros - (threadsStart.get(tid) ?? 0)] as const);
const mainThread = used.find(([tid]) => tid === String(process.pid))?.[1] ?? Number.NaN;
const others = used.filter(([tid]) => tid !== String(process.pid)).map(([, micros]) => micros);
const writerThread = others.length > 0 ? Math.max(...others) : Number.NaN;
const otherThreads = others.reduce((a, b) => a + b, 0) - writerThread;
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
    mainThreadMicrosPerEvent: Number((mainThread / total).toFixed(1)),
    writerThreadMicrosPerEvent: Number((writerThread / total).toFixed(1)),
    otherThreadsMicrosPerEvent: Number((otherThreads / total).toFixed(1)),
    batches,
    meanBatch: Math.round(total / batches),
    largestBatch,
    p50ms: pct(50),
    p99ms: pct(99),
    verifyOk: report.ok,
    verifyEventsPerSecond: Math.round(report.events / verifySeconds),
  }),
);
