// Runs a set of implementations over one workload: set up (each checks its own round trip), warm up, then time
// encrypt and decrypt in interleaved rounds and keep the medians. Runtime-neutral: the browser page uses it too.

import { median, timeInterleaved } from "./measure.mjs";

/**
 * @returns {Promise<Array<{ workload, id, name, op, bytes, messages, ms, mbps, perSecond, cpuMs, cpuMbps, samples }>>}
 * (`mbps` from wall-clock time; `cpuMbps` from the process's CPU time, Node only)
 * @throws {Error} with `correctness: true` when an implementation fails its round trip
 */
export async function runWorkload(implementations, workload, { rounds, warmup, log = () => {} }) {
  const cases = [];
  for (const impl of implementations) {
    if (impl.bulkOnly && workload.kind !== "bulk") continue;
    // Slow implementations (the AWS SDK signs every message) time fewer small messages: rates stay comparable.
    const own =
      workload.kind === "small" && impl.maxSmallMessages && workload.messages > impl.maxSmallMessages
        ? subset(workload, impl.maxSmallMessages)
        : workload;
    log(`  checking ${impl.name}`);
    const ops = await impl.setup(own);
    cases.push({ id: `${impl.id}:encrypt`, impl, op: "encrypt", run: ops.encrypt, workload: own });
    cases.push({ id: `${impl.id}:decrypt`, impl, op: "decrypt", run: ops.decrypt, workload: own });
  }
  log(`  timing ${cases.length} cases, ${warmup} warm-up + ${rounds} rounds`);
  const samples = await timeInterleaved(cases, {
    rounds,
    warmup,
    onProgress: (r, n) => log(`  round ${r}/${n}`),
  });
  return cases.map((c) => {
    const { wall, cpu } = samples.get(c.id);
    const ms = median(wall);
    const seconds = ms / 1000;
    const cpuMs = cpu.length ? median(cpu) : undefined;
    return {
      workload: workload.kind,
      id: c.impl.id,
      name: c.impl.name,
      op: c.op,
      bytes: c.workload.bytes,
      messages: c.workload.messages,
      ms,
      mbps: c.workload.bytes / seconds / 1e6,
      perSecond: c.workload.messages / seconds,
      cpuMs,
      cpuMbps: cpuMs ? c.workload.bytes / (cpuMs / 1000) / 1e6 : undefined,
      samples: wall,
    };
  });
}

function subset(workload, n) {
  const pieces = workload.pieces.slice(0, n);
  return { ...workload, pieces, messages: n, bytes: pieces.reduce((sum, p) => sum + p.length, 0) };
}
