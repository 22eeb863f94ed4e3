// Node load generator (used when wrk is not installed): replays one pre-signed request on N keep-alive connections.
// Usage: node load.mjs '<json: { url, headers, body, connections, durationMs }>'  → prints a JSON result line.

import { Agent, request } from "node:http";

const cfg = JSON.parse(process.argv[2]);
const agent = new Agent({ keepAlive: true, maxSockets: cfg.connections });
const url = new URL(cfg.url);
const latencies = [];
let ok = 0;
let errors = 0;
const statuses = {};
const end = performance.now() + cfg.durationMs;

function one() {
  return new Promise((resolve) => {
    const start = performance.now();
    const req = request(
      { host: url.hostname, port: url.port, method: "POST", path: "/", headers: cfg.headers, agent },
      (res) => {
        res.on("data", () => {});
        res.on("end", () => {
          latencies.push(performance.now() - start);
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          if (res.statusCode === 200) ok++;
          else errors++;
          resolve();
        });
      },
    );
    req.on("error", () => {
      errors++;
      resolve();
    });
    req.end(cfg.body);
  });
}

async function worker() {
  while (performance.now() < end) await one();
}

const t0 = performance.now();
await Promise.all(Array.from({ length: cfg.connections }, worker));
const seconds = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
process.stdout.write(
  `${JSON.stringify({ requests: ok + errors, ok, errors, statuses, rps: (ok + errors) / seconds, p50: pct(50), p99: pct(99) })}\n`,
);
agent.destroy();
