// Profiles one Sealkit case so the time can be attributed: runs it under the V8 sampling profiler (node:inspector)
// and prints the functions with the most self time, grouped by file.
//
//   node tools/bench/src/cipher/profile.mjs <xchacha|aes> <bulk|small> <encrypt|decrypt> [seconds]

import { Session } from "node:inspector/promises";
import { randomBytes } from "./data.mjs";
import { loadSealkit } from "./sealkit.mjs";

const [suiteArg = "xchacha", workload = "bulk", op = "encrypt", secondsArg = "5"] = process.argv.slice(2);
const suite = suiteArg === "aes" ? "AES_256_GCM" : "XCHACHA20_POLY1305";
const seconds = Number(secondsArg);

const { cipher, providers, oneShot, notes } = await loadSealkit();
if (!oneShot) throw new Error(`Sealkit is not available: ${notes.join("; ")}`);
const context = { purpose: "bench" };
const inputs =
  workload === "bulk"
    ? [randomBytes(64 * 1024 * 1024)]
    : Array.from({ length: 512 }, () => randomBytes(1024));
const envelopes = [];
for (const input of inputs) envelopes.push(await cipher.encrypt(input, { providers, context, suite }));
const once = async () => {
  if (op === "encrypt")
    for (const input of inputs) await cipher.encrypt(input, { providers, context, suite });
  else for (const envelope of envelopes) await cipher.decrypt(envelope, { providers });
};
await once();

const session = new Session();
session.connect();
await session.post("Profiler.enable");
await session.post("Profiler.setSamplingInterval", { interval: 200 });
await session.post("Profiler.start");
const start = performance.now();
let rounds = 0;
while (performance.now() - start < seconds * 1000) {
  await once();
  rounds++;
}
const elapsed = performance.now() - start;
const { profile } = await session.post("Profiler.stop");
session.disconnect();

const bytes = inputs.reduce((n, i) => n + i.length, 0) * rounds;
console.log(
  `${suite} ${workload} ${op}: ${rounds} rounds, ${(bytes / (elapsed / 1000) / 1e6).toFixed(0)} MB/s, ` +
    `${((inputs.length * rounds) / (elapsed / 1000)).toFixed(0)} messages/s`,
);

// Self time per node from the samples, then summed per function and per file.
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const deltas = profile.timeDeltas;
for (let i = 0; i < profile.samples.length; i++) {
  self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (deltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const perFunction = new Map();
for (const [id, us] of self) {
  const { callFrame } = byId.get(id);
  const file =
    callFrame.url.replace(/^.*\/(node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?)?/, "") || "(native)";
  const key = `${callFrame.functionName || "(anonymous)"}  ${file}:${callFrame.lineNumber + 1}`;
  perFunction.set(key, (perFunction.get(key) ?? 0) + us);
}
const top = [...perFunction].sort((a, b) => b[1] - a[1]).slice(0, 25);
for (const [key, us] of top) console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`);
