// pnpm bench:kms: the KMS server (built dist, audit on) in its own process, driven by wrk (or load.mjs) from
// another, with pre-signed GenerateDataKey and Decrypt requests at 1, 16 and 64 connections; plus SigV4 verify cost.
//
// Options: --duration <s> (default 10), --connections 1,16,64, --quick (3 s runs), --no-write (do not touch
// BENCHMARKS.md), --cpu-prof (profile the server: .cpuprofile files in the printed directory), --node (use load.mjs),
// --bin <path> (start another build's dist/bin.js, never written to BENCHMARKS.md: run two builds in alternation to
// compare them on a drifting machine).

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startServerProcess } from "./server-process.mjs";
import { signedVerifyCase, signKmsRequest } from "./sign.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../../..");
const kmsLocal = join(repo, "packages/kms-local");
const OWN_BIN = join(kmsLocal, "dist/bin.js");
const CRED = {
  accessKeyId: "AKIABENCH00000000001",
  secretAccessKey: "bench-secret-0000000000000000000000000",
  principal: "arn:aws:iam::111122223333:user/bench",
};

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "1,16,64" },
    quick: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
    "cpu-prof": { type: "boolean", default: false },
    node: { type: "boolean", default: false },
    operations: { type: "string", default: "GenerateDataKey,Decrypt" },
    "no-null": { type: "boolean", default: false },
    bin: { type: "string" },
  },
});
const BIN = values.bin === undefined ? OWN_BIN : resolve(values.bin);
const duration = values.quick ? 3 : Number(values.duration);
const connectionCounts = values.connections.split(",").map(Number);
const operations = values.operations.split(",");
const useWrk = !values.node && spawnSync("wrk", ["--version"]).error === undefined;

if (
  values.bin === undefined &&
  (!existsSync(BIN) || newestSource(join(kmsLocal, "src")) > statSync(BIN).mtimeMs)
) {
  console.log("building @sealkit/kms-local (dist/bin.js is missing or older than src/) ...");
  execFileSync("pnpm", ["--filter", "@sealkit/kms-local", "build"], { cwd: repo, stdio: "inherit" });
}

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts"))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

// Other work on the machine changes everything here: record the load at the start.
const loadAtStart = loadavg()[0];
const dir = mkdtempSync(join(tmpdir(), "sealkit-bench-kms-"));
writeFileSync(join(dir, "creds.json"), JSON.stringify({ credentials: [CRED] }));
writeFileSync(
  join(dir, "seed.json"),
  JSON.stringify({ keys: [{ alias: "alias/bench", description: "bench:kms" }] }),
);

// 1. SigV4 verification alone, in this process, with the server's own verifier.
const { SigV4Verifier } = await import(join(kmsLocal, "dist/index.js"));
const verifyUs = measureVerify(SigV4Verifier);
console.log(`SigV4 verify: ${verifyUs.toFixed(2)} µs/op`);

// 2. The server in its own process.
const serverArgs = [
  ...(values["cpu-prof"] ? ["--cpu-prof", "--cpu-prof-dir", join(dir, "profiles")] : []),
  BIN,
  "serve",
  "--port",
  "0",
  "--data-dir",
  join(dir, "data"),
  "--credentials",
  join(dir, "creds.json"),
  "--seed",
  join(dir, "seed.json"),
  "--max-connections",
  "4096",
];
const { proc: server, url } = await startServerProcess(serverArgs, { stderr: "inherit" });
console.log(
  `server: ${url} (node ${process.version}, ${cpus().length} cores, load tool: ${useWrk ? "wrk" : "load.mjs"})`,
);

const results = [];
const protocolOnly = [];
let auditNote = "";
try {
  const dk = await kmsCall("GenerateDataKey", {
    KeyId: "alias/bench",
    KeySpec: "AES_256",
    EncryptionContext: { tenant: "bench" },
  });
  const bodies = {
    GenerateDataKey: JSON.stringify({
      KeyId: "alias/bench",
      KeySpec: "AES_256",
      EncryptionContext: { tenant: "bench" },
    }),
    Decrypt: JSON.stringify({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: { tenant: "bench" } }),
  };
  const auditBefore = await auditAppended();
  let total = 0;
  for (const operation of operations) {
    // Warm up (JIT, SQLite page cache) before measuring.
    await load(operation, bodies[operation], 16, 2);
    for (const c of connectionCounts) {
      const r = await load(operation, bodies[operation], c, duration);
      total += r.requests;
      results.push({ operation, connections: c, ...r });
      console.log(`${operation.padEnd(16)} c=${String(c).padStart(2)}  ${summary(r)}`);
    }
  }
  const auditAfter = await auditAppended();
  auditNote = `${auditAfter - auditBefore} audit events were made durable during the runs, for ${total} requests in the measured runs (plus warm-ups).`;
  console.log(`audit: ${auditNote}`);
} finally {
  server.kill("SIGTERM");
  await new Promise((r) => server.once("exit", r));
}

if (!values["no-null"]) {
  // The protocol layer alone (SigV4, codec, metrics; a backend with fixed answers, no cryptography, no audit).
  await measureBaseline(
    [join(here, "null-server.mjs"), join(dir, "creds.json")],
    "GenerateDataKey (protocol layer only)",
    "protocol only",
  );
  // The ceiling: a Node process that only frames HTTP and answers fixed bytes, driven the same way.
  await measureBaseline(
    [join(here, "empty-server.mjs")],
    "empty Node.js responder (ceiling)",
    "empty responder",
  );
  // The machine's ceiling: the same responder in two cluster workers, so Node.js may use both cores.
  await measureBaseline(
    [join(here, "empty-server.mjs"), "--processes", String(cpus().length)],
    `empty Node.js responder, ${cpus().length} processes (machine ceiling)`,
    "empty, cluster",
  );
}
// The issue's bare pipeline (SigV4, AES-GCM, hash-chained insert with group commit) in one thread, without HTTP;
// then the same with Sealkit's own audit log in place of the bare insert.
const barePipeline = (...extra) =>
  JSON.parse(
    execFileSync(process.execPath, [
      join(here, "bare-pipeline.mjs"),
      JSON.stringify(CRED),
      String(duration),
      ...extra,
    ]).toString(),
  );
const bare = barePipeline();
bare.withAuditLog = barePipeline("--audit-log");
console.log(
  `bare pipeline (no HTTP): ${Math.round(bare.rps).toLocaleString("en-US")} req/s in one thread, ${bare.cpuUsPerRequest.toFixed(1)} µs CPU/req; with Sealkit's audit log: ${Math.round(bare.withAuditLog.rps).toLocaleString("en-US")} req/s, ${bare.withAuditLog.cpuUsPerRequest.toFixed(1)} µs CPU/req`,
);

/** Starts a baseline server process and drives it with the GenerateDataKey request at each connection count. */
async function measureBaseline(args, label, shortLabel) {
  const baseline = await startServerProcess(args, { stderr: "inherit" });
  try {
    const body = JSON.stringify({
      KeyId: "alias/bench",
      KeySpec: "AES_256",
      EncryptionContext: { tenant: "bench" },
    });
    await load("GenerateDataKey", body, 16, 2, baseline.url, baseline.proc.pid);
    for (const c of connectionCounts) {
      const r = await load("GenerateDataKey", body, c, duration, baseline.url, baseline.proc.pid);
      protocolOnly.push({ operation: label, connections: c, ...r });
      console.log(`${shortLabel.padEnd(16)} c=${String(c).padStart(2)}  ${summary(r)}`);
    }
  } finally {
    baseline.proc.kill("SIGTERM");
    await new Promise((r) => baseline.proc.once("exit", r));
  }
}

try {
  if (!values["no-write"] && !values.quick && values.bin === undefined)
    await writeSection(results, protocolOnly, verifyUs, bare);
} finally {
  if (values["cpu-prof"]) console.log(`profiles: ${join(dir, "profiles")}`);
  else rmSync(dir, { recursive: true, force: true });
}

function measureVerify(Verifier) {
  const { verifier, parts } = signedVerifyCase(Verifier, CRED);
  for (let i = 0; i < 20_000; i++) verifier.verify(parts);
  const n = 200_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) verifier.verify(parts);
  return ((performance.now() - t0) * 1000) / n;
}

async function kmsCall(operation, payload) {
  const body = JSON.stringify(payload);
  const res = await fetch(url, {
    method: "POST",
    headers: signKmsRequest({ url, operation, body, ...CRED }),
    body,
  });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`${operation}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function auditAppended() {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^sealkit_kms_audit_appended (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

/** CPU seconds (user + system) of a process, of its main thread, and of the whole machine, from /proc. */
function cpuSnapshot(pid) {
  const ticks = (stat) => {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  };
  try {
    const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    const busy = (cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7]) / 100;
    const tree = processTree(pid);
    return {
      process: tree.reduce((sum, p) => sum + ticks(readFileSync(`/proc/${p}/stat`, "utf8")), 0),
      // A cluster has no one main thread that does the work.
      main: tree.length > 1 ? Number.NaN : ticks(readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8")),
      machine: busy,
      at: performance.now(),
    };
  } catch {
    return undefined;
  }
}

/** A process and its descendants (a cluster's workers), from the parent pids in /proc. */
function processTree(root) {
  const parentOf = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // The process ended while being listed.
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, parent] of parentOf) if (parent === tree[i]) tree.push(pid);
  }
  return tree;
}

/** Server CPU per request (µs, all threads and main thread) and the machine's busy cores during a run. */
function cpuUse(before, after, requests) {
  if (!before || !after || !(requests > 0)) return {};
  const seconds = (after.at - before.at) / 1000;
  return {
    serverUs: ((after.process - before.process) * 1e6) / requests,
    mainUs: ((after.main - before.main) * 1e6) / requests,
    busyCores: (after.machine - before.machine) / seconds,
  };
}

async function load(operation, body, connections, seconds, target = url, pid = server?.pid) {
  // Signed now: replayable for 5 minutes, longer than any run.
  const headers = signKmsRequest({ url: target, operation, body, ...CRED });
  if (!useWrk) {
    const out = execFileSync(process.execPath, [
      join(here, "load.mjs"),
      JSON.stringify({ url: target, headers, body, connections, durationMs: seconds * 1000 }),
    ]);
    return JSON.parse(out.toString());
  }
  const script = join(dir, `${operation}.lua`);
  const lua = [
    'wrk.method = "POST"',
    `wrk.body = ${luaString(body)}`,
    // wrk sets "Host" itself from the URL: replace that one rather than adding a second host header.
    ...Object.entries(headers).map(
      ([k, v]) => `wrk.headers[${luaString(k === "host" ? "Host" : k)}] = ${luaString(v)}`,
    ),
  ].join("\n");
  writeFileSync(script, `${lua}\n`);
  const threads = connections === 1 ? 1 : 2;
  const before = pid === undefined ? undefined : cpuSnapshot(pid);
  const out = await new Promise((resolveOut, reject) => {
    const child = spawn("wrk", [
      "-t",
      String(threads),
      "-c",
      String(connections),
      "-d",
      `${seconds}s`,
      "--latency",
      "-s",
      script,
      target,
    ]);
    let text = "";
    child.stdout.on("data", (d) => (text += d));
    child.stderr.on("data", (d) => (text += d));
    child.once("exit", (code) =>
      code === 0 ? resolveOut(text) : reject(new Error(`wrk exited with ${code}: ${text}`)),
    );
  });
  const after = pid === undefined ? undefined : cpuSnapshot(pid);
  const parsed = parseWrk(out);
  return { ...parsed, ...cpuUse(before, after, parsed.requests) };
}

function mainThread(r) {
  return Number.isNaN(r.mainUs) ? "n/a" : r.mainUs.toFixed(0);
}

function summary(r) {
  const cpu =
    r.serverUs === undefined
      ? ""
      : `  server CPU ${r.serverUs.toFixed(0)} µs/req (main thread ${mainThread(r)})  machine ${r.busyCores.toFixed(2)} cores busy`;
  return `${Math.round(r.rps).toLocaleString("en-US").padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  non-200: ${r.errors}  socket errors: ${r.socket ?? 0}${cpu}`;
}

/**
 * Where a GenerateDataKey's CPU goes at 64 connections, from the three servers measured the same way: the empty
 * responder (what Node.js and the kernel cost for any HTTP exchange), the protocol layer on top of it, and the rest.
 */
function layerBreakdown(full, protocolRows) {
  const at64 = (name) => protocolRows.find((r) => r.operation.startsWith(name) && r.connections === 64);
  const empty = at64("empty Node.js responder (ceiling)");
  const protocol = at64("GenerateDataKey (protocol");
  if (!full || !empty || !protocol || full.mainUs === undefined || empty.mainUs === undefined) return "";
  const us = (v) => `${Math.round(v)} µs`;
  return `
Where the time goes (GenerateDataKey, 64 connections, CPU per request from /proc): the server's main thread spent
${us(full.mainUs)}, of which ${us(empty.mainUs)} is what the empty responder's main thread spends on the same exchange
(reading the request, writing the answer: mostly the two system calls; a loopback write also runs the receiving
side's TCP code), ${us(protocol.mainUs - empty.mainUs)} the protocol layer (SigV4, JSON codec, metrics), and
${us(full.mainUs - protocol.mainUs)} the local KMS and the audit log's main-thread part (policy, AES-GCM, building,
hashing and handing over the event). The audit writer thread and the rest of the process added
${us(full.serverUs - full.mainUs)}. At 20,000 requests/s this machine has ${us((cpus().length * 1e6) / 20_000)} of CPU
per request for everything, the load tool included, and one thread at most ${us(1e6 / 20_000)}.
`;
}

/**
 * Whether the target is reachable at all here: what the machine spends on an empty HTTP exchange with both cores in
 * use (the load tool included), plus the issue's bare pipeline, against the CPU the machine has per request at
 * 20,000/s.
 */
function targetFloor(full, protocolRows, bare) {
  const cluster = protocolRows.find((r) => r.operation.includes("machine ceiling") && r.connections === 64);
  if (!full || !cluster || cluster.busyCores === undefined || full.busyCores === undefined || !bare)
    return "";
  const machineUs = (r) => (r.busyCores * 1e6) / r.rps;
  const exchange = machineUs(cluster);
  const floor = exchange + bare.cpuUsPerRequest;
  const budget = (cpus().length * 1e6) / 20_000;
  const fmt = (v) => Math.round(v).toLocaleString("en-US");
  const verdict =
    floor >= budget
      ? `more than the ${fmt(budget)} µs the machine has per request at 20,000/s: no server doing even just those three things can reach the target here (${fmt((cpus().length * 1e6) / floor)}/s at most)`
      : `against the ${fmt(budget)} µs the machine has per request at 20,000/s. That leaves ${fmt(budget - floor)} µs for all else a KMS request needs (JSON, key lookup, policy, building the audit event, metrics), and only if the work is spread over both cores with no overhead, which a single Node.js thread cannot do`;
  return `
The target's floor on this machine: with both cores in use, Node.js answers at most ${fmt(cluster.rps)} empty requests/s
here (the cluster row), so an HTTP exchange costs the machine ${fmt(exchange)} µs, wrk and the kernel included. The
issue's bare pipeline (\`tools/bench/src/kms/bare-pipeline.mjs\`: the server's SigV4 check, AES-256-GCM of a data key
from a random pool, a hash-chained SQLite insert with group commit; one thread, no HTTP) costs ${bare.cpuUsPerRequest.toFixed(0)} µs of CPU per
request (${fmt(bare.rps)}/s). Together ${fmt(floor)} µs, ${verdict}.${auditLogFloor(bare, exchange, budget, fmt)} This server costs the machine ${fmt(machineUs(full))} µs per
GenerateDataKey at 64 connections.
`;
}

/**
 * The floor again with Sealkit's audit log in place of the bare insert: the CloudTrail-shaped event this KMS keeps
 * (about 1 KB of JSON, five indexes, signed digests), built, chained and committed by the real AuditLog.
 */
function auditLogFloor(bare, exchange, budget, fmt) {
  const withLog = bare.withAuditLog;
  if (!withLog) return "";
  const floor = exchange + withLog.cpuUsPerRequest;
  return ` With Sealkit's audit log in place of the bare insert (\`bare-pipeline.mjs --audit-log\`: the CloudTrail-shaped event
this KMS records, about 1 KB of JSON in a row with five indexes, built, hash-chained and committed by the real \`AuditLog\`
and its writer thread) the same pipeline costs ${withLog.cpuUsPerRequest.toFixed(0)} µs (${fmt(withLog.rps)}/s), so the floor is ${fmt(floor)} µs${
    floor >= budget
      ? `, over the budget: ${fmt((cpus().length * 1e6) / floor)}/s at most, before JSON, key lookup, policy and metrics.`
      : "."
  }`;
}

function luaString(s) {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

function parseWrk(text) {
  const ms = (v, unit) => Number(v) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 }[unit] ?? Number.NaN);
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)`, "m").exec(text);
    return m ? ms(m[1], m[2]) : Number.NaN;
  };
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? Number.NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socket = socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    requests,
    errors: non2xx,
    socket,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]),
    p50: pct(50),
    p99: pct(99),
  };
}

async function writeSection(rows, protocolRows, verify, bare) {
  const { replaceSection, BENCHMARKS_MD } = await import("../cipher/benchmarks-md.mjs");
  const when = new Date().toISOString().slice(0, 16).replace("T", " ");
  const table = [
    "| operation | connections | req/s | p50 (ms) | p99 (ms) | non-200 | socket errors | server CPU µs/req (main thread) | busy cores |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...[...rows, ...protocolRows].map(
      (r) =>
        `| ${r.operation} | ${r.connections} | ${Math.round(r.rps).toLocaleString("en-US")} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} | ${r.socket ?? 0} | ${r.serverUs === undefined ? "?" : `${r.serverUs.toFixed(0)} (${mainThread(r)})`} | ${r.busyCores === undefined ? "?" : r.busyCores.toFixed(2)} |`,
    ),
  ].join("\n");
  const gdk64 = rows.find((r) => r.operation === "GenerateDataKey" && r.connections === 64);
  const verdict = gdk64
    ? `Target (20,000 GenerateDataKey/s at 64 connections, p99 < 10 ms): ${gdk64.rps >= 20_000 && gdk64.p99 < 10 ? "met" : "not met"} (${Math.round(gdk64.rps).toLocaleString("en-US")} req/s, p99 ${gdk64.p99.toFixed(2)} ms).`
    : "";
  const breakdown = layerBreakdown(gdk64, protocolRows) + targetFloor(gdk64, protocolRows, bare);
  const body = `Command: \`pnpm bench:kms\` (tools/bench/src/kms/run.mjs). Measured ${when} UTC on this machine (${cpus().length} cores, ${cpus()[0]?.model ?? "?"}, Node ${process.version}),
the load tool (${useWrk ? "wrk, 1 thread at 1 connection, 2 threads otherwise" : "load.mjs"}) on the same machine, ${duration} s per run after a 2 s warm-up.
One-minute load average when the run started: ${loadAtStart.toFixed(1)} (on ${cpus().length} cores: ${loadAtStart > cpus().length ? "other work was competing for the CPU, so these numbers understate the server" : "the machine was otherwise quiet"}).

The server is \`packages/kms-local/dist/bin.js serve\` in its own process with the audit log on: every request is
SigV4-verified, checked against the key policy, and answered only after its audit event is committed to SQLite
(WAL, synchronous=FULL, group commit). Requests are pre-signed once per run and replayed (SigV4 allows it within
5 minutes); GenerateDataKey asks for AES_256 under \`alias/bench\` with an encryption context, Decrypt opens one
such data key.

${table}

${auditNote}
Socket errors are wrk's connect/read/write errors and its 2-second request timeouts (a slow answer counts there).
Server CPU is the server process's user + system time during the run (from /proc) per request, all threads (the
main thread, the audit writer thread, libuv) and, in brackets, the main thread alone; busy cores is the whole
machine's (2 cores at most): server, wrk and anything else running.
${[...rows, ...protocolRows].some((r) => r.errors > 0) ? "Some responses were not 200: see the non-200 column." : "Every response received was a 200."}

"Empty Node.js responder" is a node:net process that frames each request by Content-Length and writes fixed bytes
(\`tools/bench/src/kms/empty-server.mjs\`): no SigV4, JSON, cryptography or audit. No Node.js server can answer this
request faster on this machine with this load tool, so it is the ceiling the other rows are measured against. The
"${cpus().length} processes" row runs it in ${cpus().length} cluster workers sharing the listening socket: the most Node.js can answer here with
every core (its CPU column sums the workers).

"Protocol layer only" is the same HTTP server (\`createKmsServer\`: SigV4, JSON codec, metrics) in front of a backend
that answers fixed bytes with no cryptography and no audit (\`tools/bench/src/kms/null-server.mjs\`): the ceiling
the HTTP layer allows on this machine, so the difference from the rows above is the local KMS's own cost.

SigV4 verification alone (the server's \`SigV4Verifier\`, signing key cached, in one process):
${verify.toFixed(2)} µs per request.

${verdict}
${breakdown}
`;
  const current = existsSync(BENCHMARKS_MD) ? readFileSync(BENCHMARKS_MD, "utf8") : "# Sealkit benchmarks\n";
  writeFileSync(BENCHMARKS_MD, replaceSection(current, "## KMS server", body));
  console.log(`wrote the "## KMS server" section of ${BENCHMARKS_MD}`);
}
