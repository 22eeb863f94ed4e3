// Child process of the memory benchmark: streams N bytes of generated plaintext through encryptStream and then
// decryptStream, never holding the data, and prints the peaks of process.memoryUsage() above a baseline as JSON.
//
//   node --expose-gc src/cipher/memory-child.mjs <bytes> <suite>

import { PatternSource } from "./data.mjs";
import { loadSealkit } from "./sealkit.mjs";

const CHUNK = 64 * 1024;
const total = Number(process.argv[2] ?? 1024 * 1024 * 1024);
const suite = process.argv[3] ?? "XCHACHA20_POLY1305";

const sealkit = await loadSealkit();
if (!sealkit.streams) {
  console.log(JSON.stringify({ skipped: sealkit.notes.join("; ") }));
  process.exit(0);
}
const { cipher, providers } = sealkit;
const pattern = new PatternSource(7);

/** Streams `bytes` through encrypt and decrypt, checking every output byte; calls `sample` as it goes. */
async function roundTrip(bytes, sample) {
  let produced = 0;
  let chunks = 0;
  const source = new ReadableStream({
    pull(controller) {
      if (produced >= bytes) return controller.close();
      const n = Math.min(CHUNK, bytes - produced);
      controller.enqueue(pattern.fill(new Uint8Array(n), produced));
      produced += n;
      if ((++chunks & 3) === 0) sample();
    },
  });
  let checked = 0;
  let mismatch;
  // One reusable buffer for the expected bytes, so that the check itself adds no garbage.
  let scratch = new Uint8Array(CHUNK);
  const sink = new WritableStream({
    write(chunk) {
      if (scratch.length < chunk.length) scratch = new Uint8Array(chunk.length);
      const expected = pattern.fill(scratch.subarray(0, chunk.length), checked);
      if (
        mismatch === undefined &&
        !Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).equals(expected)
      ) {
        mismatch = checked;
      }
      checked += chunk.length;
      sample();
    },
  });
  await source
    .pipeThrough(cipher.encryptStream({ providers, context: { purpose: "bench-memory" }, suite }))
    .pipeThrough(cipher.decryptStream({ providers }))
    .pipeTo(sink);
  if (mismatch !== undefined)
    throw new Error(`decrypted stream differs from the plaintext at byte ${mismatch}`);
  if (checked !== bytes) throw new Error(`decrypted stream has ${checked} bytes, expected ${bytes}`);
}

// Warm up: load the WASM, compile the hot paths, then let the heap settle before taking the baseline.
await roundTrip(4 * 1024 * 1024, () => {});
for (let i = 0; i < 3; i++) globalThis.gc?.();
await new Promise((r) => setTimeout(r, 50));
const baseline = process.memoryUsage();

const peak = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
let samples = 0;
const sample = () => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peak)) if (m[k] > peak[k]) peak[k] = m[k];
  samples++;
};
const timer = setInterval(sample, 5);
const start = performance.now();
let error;
try {
  await roundTrip(total, sample);
} catch (e) {
  error = e;
}
const ms = performance.now() - start;
clearInterval(timer);
sample();

if (error) {
  console.log(JSON.stringify({ error: String(error?.stack ?? error) }));
  process.exit(1);
}
const above = Object.fromEntries(Object.keys(peak).map((k) => [k, peak[k] - baseline[k]]));
console.log(
  JSON.stringify({
    suite,
    bytes: total,
    ms,
    mbps: total / (ms / 1000) / 1e6,
    samples,
    baseline: {
      rss: baseline.rss,
      heapUsed: baseline.heapUsed,
      external: baseline.external,
      arrayBuffers: baseline.arrayBuffers,
    },
    peak,
    above,
  }),
);
