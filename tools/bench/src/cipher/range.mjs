// The decryptRange benchmark: writes a large envelope to a temp file with encryptStream, then decrypts 1 MiB from
// its middle through a counting file source, and shows which bytes and frames of the envelope were read.

import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PatternSource } from "./data.mjs";
import { median } from "./measure.mjs";

const CHUNK = 64 * 1024;
const MiB = 1024 * 1024;

function correctness(message) {
  const error = new Error(`correctness check failed for decryptRange: ${message}`);
  error.correctness = true;
  return error;
}

/** Writes an envelope of `bytes` pattern bytes to `path` through encryptStream, without holding it in memory. */
async function writeEnvelope(cipher, providers, suite, pattern, bytes, path) {
  const file = await open(path, "w");
  let produced = 0;
  let position = 0;
  try {
    await new ReadableStream({
      pull(controller) {
        if (produced >= bytes) return controller.close();
        const n = Math.min(CHUNK, bytes - produced);
        controller.enqueue(pattern.fill(new Uint8Array(n), produced));
        produced += n;
      },
    })
      .pipeThrough(cipher.encryptStream({ providers, context: { purpose: "bench-range" }, suite }))
      .pipeTo(
        new WritableStream({
          async write(chunk) {
            await file.write(chunk, 0, chunk.length, position);
            position += chunk.length;
          },
        }),
      );
  } finally {
    await file.close();
  }
  return position;
}

/** A decryptRange source over a file handle that records every read. */
function countingSource(file, size) {
  const reads = [];
  return {
    reads,
    source: {
      size,
      async read(offset, length) {
        reads.push([offset, length]);
        const buffer = new Uint8Array(length);
        const { bytesRead } = await file.read(buffer, 0, length, offset);
        return bytesRead === length ? buffer : buffer.subarray(0, bytesRead);
      },
    },
  };
}

/**
 * Which parts of the envelope the reads covered: header bytes, the frames read in full, frames touched in part,
 * and bytes outside the header and the frames that hold the range.
 */
export function analyseReads(reads, { headerLength, frameSize, start, end }) {
  const regular = frameSize + 17;
  const firstNeeded = Math.floor(start / frameSize) + 1;
  const lastNeeded = Math.floor((end - 1) / frameSize) + 1;
  const neededLo = headerLength + (firstNeeded - 1) * regular;
  const neededHi = headerLength + lastNeeded * regular; // a final frame is shorter; the range is mid-envelope
  // Merge the read intervals so that overlapping reads count once.
  const intervals = reads.map(([o, l]) => [o, o + l]).sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const [a, b] of intervals) {
    const last = merged[merged.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }
  let bytesRead = 0;
  let headerBytes = 0;
  let neededBytes = 0;
  const touched = new Map();
  for (const [a, b] of merged) {
    bytesRead += b - a;
    headerBytes += Math.max(0, Math.min(b, headerLength) - a);
    neededBytes += Math.max(0, Math.min(b, neededHi) - Math.max(a, neededLo));
    for (let f = Math.floor((Math.max(a, headerLength) - headerLength) / regular) + 1; ; f++) {
      const lo = headerLength + (f - 1) * regular;
      if (lo >= b || b <= headerLength) break;
      const covered = Math.min(b, lo + regular) - Math.max(a, lo);
      touched.set(f, (touched.get(f) ?? 0) + covered);
    }
  }
  const full = [...touched].filter(([, n]) => n >= regular).map(([f]) => f);
  const partial = [...touched].filter(([, n]) => n < regular).map(([f]) => f);
  const outsideFull = full.filter((f) => f < firstNeeded || f > lastNeeded);
  return {
    reads: reads.length,
    bytesRead,
    headerBytes,
    neededFrames: lastNeeded - firstNeeded + 1,
    neededFrameRange: [firstNeeded, lastNeeded],
    framesReadInFull: full.length,
    framesTouchedInPart: partial,
    extraBytes: bytesRead - headerBytes - neededBytes,
    framesReadOutsideRange: outsideFull,
    // Met when no frame outside the range was read whole (a frame must be read whole to be authenticated) and
    // the bytes read beyond the header and those frames stay under one frame (a bounded header probe).
    onlyNeededFrames: outsideFull.length === 0 && bytesRead - headerBytes - neededBytes <= regular,
  };
}

/**
 * Creates the envelope, decrypts `rangeBytes` from its middle `runs` times, checks the bytes, analyses the reads.
 * @throws {Error} with `correctness: true` when the range comes back wrong
 */
export async function measureRange(
  { cipher, core, providers },
  { envelopeBytes, rangeBytes = MiB, runs = 5, log },
) {
  const suite = "XCHACHA20_POLY1305";
  const pattern = new PatternSource(11);
  const dir = await mkdtemp(join(tmpdir(), "sealkit-bench-range-"));
  const path = join(dir, "envelope.slk");
  try {
    log?.(`  writing a ${envelopeBytes / MiB} MiB envelope to ${path}`);
    const writeStart = performance.now();
    const size = await writeEnvelope(cipher, providers, suite, pattern, envelopeBytes, path);
    const writeMs = performance.now() - writeStart;
    const file = await open(path, "r");
    try {
      const probe = new Uint8Array(Math.min(size, 1024 * 1024));
      await file.read(probe, 0, probe.length, 0);
      const header = core.parseHeader(probe);
      // Start mid-frame, so the range spans parts of two frames more than 1 MiB / frameSize whole ones.
      const start = Math.floor(envelopeBytes / 2) + 12345;
      const end = start + rangeBytes;
      const expected = pattern.slice(start, end);
      const times = [];
      let analysis;
      for (let i = 0; i < runs; i++) {
        const { source, reads } = countingSource(file, size);
        const t = performance.now();
        const result = await cipher.decryptRange(source, { start, end, providers });
        times.push(performance.now() - t);
        const bytes = result instanceof Uint8Array ? result : result?.plaintext;
        if (!(bytes instanceof Uint8Array) || bytes.length !== expected.length) {
          throw correctness(`expected ${expected.length} bytes [start, end), got ${bytes?.length}`);
        }
        if (!Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).equals(expected)) {
          throw correctness("the returned bytes differ from the plaintext range");
        }
        analysis = analyseReads(reads, {
          headerLength: header.length,
          frameSize: header.frameSize,
          start,
          end,
        });
      }
      return {
        suite,
        envelopeBytes: size,
        plaintextBytes: envelopeBytes,
        start,
        end,
        writeMbps: envelopeBytes / (writeMs / 1000) / 1e6,
        ms: median(times),
        headerLength: header.length,
        frameSize: header.frameSize,
        ...analysis,
      };
    } finally {
      await file.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
