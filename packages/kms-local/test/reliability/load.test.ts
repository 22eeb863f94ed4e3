// Bounded load on loopback: 64 keep-alive connections of pre-signed GenerateDataKey and Decrypt against the
// sealkit-kms server in a child process, with its RSS sampled; then a run with a small throttling quota.

import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startKmsServer } from "../../src/server/start.js";
import { ALICE, call, type RawRequest, signRequest } from "../../src/server/test-support.js";
import { median, rssOf, SOAK, sleep, startServerChild, writeCredentials } from "./support.js";

interface LoadResult {
  requests: number;
  byStatus: Map<string, number>;
  seconds: number;
}

/** Sends the pre-signed requests round-robin from `connections` workers until `ms` passed or `cap` were sent. */
async function drive(
  url: string,
  requests: readonly RawRequest[],
  connections: number,
  ms: number,
  cap: number,
): Promise<LoadResult> {
  const u = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const byStatus = new Map<string, number>();
  let sent = 0;
  const start = performance.now();
  const deadline = start + ms;
  const one = (req: RawRequest) =>
    new Promise<void>((resolve, reject) => {
      const r = request(
        { host: u.hostname, port: Number(u.port), method: "POST", path: "/", headers: req.headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            let key = String(res.statusCode);
            if (res.statusCode !== 200) key += ` ${JSON.parse(Buffer.concat(chunks).toString()).__type}`;
            byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
            resolve();
          });
          res.on("error", reject);
        },
      );
      r.on("error", reject);
      r.end(req.body);
    });
  await Promise.all(
    Array.from({ length: connections }, async (_, w) => {
      for (let i = w; performance.now() < deadline && sent < cap; i++) {
        sent++;
        await one(requests[i % requests.length] as RawRequest);
      }
    }),
  );
  agent.destroy();
  return { requests: sent, byStatus, seconds: (performance.now() - start) / 1000 };
}

async function presign(url: string): Promise<RawRequest[]> {
  const created = await call(url, "CreateKey", {});
  const keyId = (created.json().KeyMetadata as { KeyId: string }).KeyId;
  const gdk = await call(url, "GenerateDataKey", { KeyId: keyId, KeySpec: "AES_256" });
  expect(gdk.status).toBe(200);
  return [
    await signRequest(url, "GenerateDataKey", JSON.stringify({ KeyId: keyId, KeySpec: "AES_256" })),
    await signRequest(url, "Decrypt", JSON.stringify({ CiphertextBlob: gdk.json().CiphertextBlob })),
  ];
}

const DURATION_MS = SOAK ? 120_000 : 8_000;
const CAP = SOAK ? 5_000_000 : 200_000;

describe("load on loopback", () => {
  const dir = mkdtempSync(join(tmpdir(), "sealkit-rel-load-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`64 keep-alive connections for ${DURATION_MS / 1000} s: no errors, RSS stops growing`, {
    timeout: DURATION_MS + 60_000,
  }, async () => {
    const server = await startServerChild(join(dir, "data"), writeCredentials(dir));
    try {
      const requests = await presign(server.url);
      // Warm up (JIT, SQLite page cache, group-commit buffers) before sampling.
      await drive(server.url, requests, 64, 2000, CAP);
      const samples: number[] = [];
      const sampler = setInterval(() => samples.push(rssOf(server.pid)), 100);
      const result = await drive(server.url, requests, 64, DURATION_MS, CAP);
      clearInterval(sampler);
      expect([...result.byStatus.keys()]).toEqual(["200"]);
      const third = Math.floor(samples.length / 3);
      const first = median(samples.slice(0, third));
      const last = median(samples.slice(-third));
      const growth = last - first;
      const rps = Math.round(result.requests / result.seconds);
      console.log(
        `[reliability] load: ${result.requests} requests in ${result.seconds.toFixed(1)} s = ${rps}/s at 64 connections, ` +
          `all 200; server RSS median first third ${(first / 2 ** 20).toFixed(1)} MiB, last third ${(last / 2 ** 20).toFixed(1)} MiB ` +
          `(growth ${(growth / 2 ** 20).toFixed(1)} MiB, max ${(Math.max(...samples) / 2 ** 20).toFixed(1)} MiB, ${samples.length} samples)`,
      );
      // After warm-up, what still moves is V8's young generation (semi-spaces of 16 MiB each on 64-bit Node 20)
      // and SQLite's page caches (about 2 MiB per connection): 32 MiB covers that noise. A leak of 1 KiB per
      // request grows RSS by requests/3 KiB between the medians (10 MiB per 30,000 requests): the soak run
      // (SEALKIT_SOAK=1, 120 s) is the one with enough requests to see leaks of that size.
      expect(growth).toBeLessThan(32 * 2 ** 20);
      expect(result.requests).toBeGreaterThan(200);
      // And the server still answers and shuts down cleanly.
      expect((await call(server.url, "GenerateRandom", { NumberOfBytes: 8 })).status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it("with a small throttling quota, every error is ThrottlingException and the quota holds", {
    timeout: 30_000,
  }, async () => {
    const quota = 20;
    const started = await startKmsServer({
      dataDir: join(dir, "throttled"),
      credentials: [ALICE],
      port: 0,
      throttle: { quotas: { cryptographic: quota } },
    });
    try {
      const requests = await presign(started.url);
      await sleep(1100); // let the bucket refill after the set-up calls
      const result = await drive(started.url, requests, 16, 3000, CAP);
      const ok = result.byStatus.get("200") ?? 0;
      const throttled = result.byStatus.get("400 ThrottlingException") ?? 0;
      expect(ok + throttled).toBe(result.requests);
      expect(throttled).toBeGreaterThan(0);
      // Burst of one second of quota plus the quota for the run's duration (rounded up a little for timer slack).
      expect(ok).toBeLessThanOrEqual(Math.ceil(quota * (1 + result.seconds + 0.2)));
      expect(ok).toBeGreaterThanOrEqual(quota);
      console.log(
        `[reliability] throttled load: quota ${quota}/s, ${result.requests} requests in ${result.seconds.toFixed(1)} s: ` +
          `${ok} ok, ${throttled} ThrottlingException, nothing else`,
      );
    } finally {
      await started.close();
    }
  });
});
