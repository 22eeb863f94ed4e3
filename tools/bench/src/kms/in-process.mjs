// GenerateDataKey through the local KMS's in-process API, no HTTP: what the KMS layer and its audit log cost on
// their own. 64 concurrent calls (as the server's 64 connections), the default key policy, a one-pair encryption
// context, the audit log on (fsync'd group commit). CPU per call counts every thread (the audit writer too).
// Usage: node tools/bench/src/kms/in-process.mjs [--calls 30000] [--dist <a kms-local build's dist/index.js>]
// (--dist runs another build, e.g. a git worktree's, to compare two builds in alternation.)

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    calls: { type: "string", default: "30000" },
    dist: {
      type: "string",
      default: new URL("../../../../packages/kms-local/dist/index.js", import.meta.url).href,
    },
  },
});
const CALLS = Number(values.calls);
const CONCURRENCY = 64;
const { LocalKms } = await import(
  values.dist.startsWith("file:") ? values.dist : pathToFileURL(resolve(values.dist)).href
);

const dir = mkdtempSync(join(tmpdir(), "sealkit-bench-in-process-"));
const kms = await LocalKms.open({ dataDir: dir });
try {
  const ROOT = { principal: "arn:aws:iam::111122223333:root", account: "111122223333" };
  const { KeyMetadata } = await kms.createKey(ROOT, {});
  const request = { KeyId: KeyMetadata.KeyId, KeySpec: "AES_256", EncryptionContext: { tenant: "acme" } };

  const measure = async (calls) => {
    let started = 0;
    const caller = async () => {
      while (started++ < calls) await kms.generateDataKey(ROOT, request);
    };
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, caller));
    const seconds = (performance.now() - t0) / 1000;
    const used = process.cpuUsage(cpu);
    return { cpuUs: (used.user + used.system) / calls, perSecond: calls / seconds };
  };

  await measure(Math.min(5000, CALLS)); // warm-up
  const { cpuUs, perSecond } = await measure(CALLS);
  console.log(
    `in-process GenerateDataKey (${CONCURRENCY} concurrent, audit on): ${Math.round(perSecond).toLocaleString("en-US")} calls/s, ${cpuUs.toFixed(1)} µs CPU/call (all threads)`,
  );
} finally {
  await kms.close();
  rmSync(dir, { recursive: true, force: true });
}
