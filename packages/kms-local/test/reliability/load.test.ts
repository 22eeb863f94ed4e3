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

  it(`64 keep-alive connections for ${DURATION_MS / 1000} s: no errors, memory ${SOAK ? "flat" : "bounded"}`, {
    timeout: DURATION_MS + 60_000,
  }, async () => {
    const server = await startServerChild(join(dir, "data"), writeCredentials(dir));
    try {
      const requests = await presign(server.url);
      // Warm up (JIT, heap sizing, SQLite page cache) before sampling: 10,000 requests or 6 s.
      await drive(server.url, requests, 64, 6000, 10_000);
      const samples: number[] = []; // RssAnon: heap, thread arenas, buffers
      const total: number[] = []; // VmRSS: also node's and the addons' mapped files
      const sampler = setInterval(() => {
        samples.push(rssOf(server.pid, "RssAnon"));
        total.push(rssOf(server.pid));
      }, 100);
      const result = await drive(server.url, requests, 64, DURATION_MS, CAP);
      clearInterval(sampler);
      expect([...result.byStatus.keys()]).toEqual(["200"]);
      const third = Math.floor(samples.length / 3);
      const first = median(samples.slice(0, third));
      const middle = median(samples.slice(third, -third));
      const last = median(samples.slice(-third));
      const growth = last - first;
      const rps = Math.round(result.requests / result.seconds);
      const mib = (n: number) => (n / 2 ** 20).toFixed(1);
      console.log(
        `[reliability] load: ${result.requests} requests in ${result.seconds.toFixed(1)} s = ${rps}/s at 64 connections, ` +
          `all 200; server RssAnon medians by third ${mib(first)}, ${mib(middle)}, ${mib(last)} MiB ` +
          `(growth ${mib(growth)} MiB, max ${mib(Math.max(...samples))} MiB); VmRSS ${mib(median(total.slice(0, third)))} -> ` +
          `${mib(median(total.slice(-third)))} MiB (max ${mib(Math.max(...total))}); ${samples.length} samples`,
      );
      // Anonymous memory is what a leak grows (VmRSS adds the mapped files of node and better-sqlite3, constant).
      // Measured at 600 requests/s for 90 s with a forced GC every 3 s: RssAnon rises almost linearly for the
      // first ~8,000 requests (V8 heap sizing, malloc arenas of the main and audit writer threads), then stays
      // within 80-84 MiB up to 57,000 requests while the JS heap stays at 8-9 MiB. An 8 s run at a few hundred
      // requests/s ends inside that warm-up, where it cannot be told from a leak: the default run only checks
      // that memory stays bounded (64 MiB of growth, the warm-up's whole rise is about 45), and the soak (120 s)
      // checks that it stopped growing: under 8 MiB from the middle to the last third.
      expect(growth).toBeLessThan(64 * 2 ** 20);
      if (SOAK) expect(last - middle).toBeLessThan(8 * 2 ** 20);
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
