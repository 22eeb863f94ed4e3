// Timing helpers shared by the Node and browser runs: warm-up, interleaved rounds, medians. Runtime-neutral.

/** The median of a list of numbers (the mean of the two middle values for an even count). */
export function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Milliseconds since an arbitrary origin, from the high-resolution clock every runtime has. */
export function now() {
  return performance.now();
}

/** Waits one macrotask, so timers (memory samplers, the browser's event loop) get a turn between rounds. */
export function yieldToEventLoop() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** CPU milliseconds (user + system, every thread of the process) where the runtime tells (Node), else undefined. */
export function cpuNow() {
  const usage = globalThis.process?.cpuUsage?.();
  return usage ? (usage.user + usage.system) / 1000 : undefined;
}

/**
 * Times every case `rounds` times after `warmup` untimed runs. Rounds are interleaved (case A, case B, ...,
 * then again) so that a burst of load from other processes hits all cases alike and the ratios stay fair.
 * Each case is `{ id, run: () => Promise<void> | void }`; returns a Map id -> { wall: ms[], cpu: ms[] } (cpu is
 * empty outside Node). CPU time is the steadier measure when other processes compete for the cores.
 */
export async function timeInterleaved(cases, { rounds, warmup, onProgress }) {
  const samples = new Map(cases.map((c) => [c.id, { wall: [], cpu: [] }]));
  // With --expose-gc (Node) or --js-flags=--expose-gc (Chromium), collect the previous case's garbage before
  // each timed run, so that no case pays for another's concurrent GC work.
  const collect = typeof globalThis.gc === "function" ? () => globalThis.gc() : () => {};
  for (let w = 0; w < warmup; w++) {
    for (const c of cases) {
      await c.run();
      await yieldToEventLoop();
    }
  }
  for (let r = 0; r < rounds; r++) {
    // Rotate the order each round so that no case always follows the same neighbour.
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + r) % cases.length];
      collect();
      await yieldToEventLoop();
      const cpuStart = cpuNow();
      const start = now();
      await c.run();
      const wall = now() - start;
      const cpuEnd = cpuNow();
      samples.get(c.id).wall.push(wall);
      if (cpuStart !== undefined) samples.get(c.id).cpu.push(cpuEnd - cpuStart);
    }
    onProgress?.(r + 1, rounds);
  }
  return samples;
}
