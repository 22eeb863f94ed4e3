// Test data for the benchmarks: random buffers, chunking, byte comparison, and a cheap repeating pattern whose
// every byte can be recomputed from its offset (for the 1 GiB runs, which cannot keep the plaintext). Runtime-neutral.

/** Random bytes of any length (getRandomValues fills at most 64 KiB per call). */
export function randomBytes(length) {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  }
  return out;
}

/** Views of `bytes` in pieces of `size` (the last one shorter). */
export function chunk(bytes, size) {
  const pieces = [];
  for (let i = 0; i < bytes.length; i += size)
    pieces.push(bytes.subarray(i, Math.min(bytes.length, i + size)));
  return pieces;
}

/** Byte-wise equality, for correctness checks outside the timed sections. */
export function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Concatenates byte arrays. */
export function concat(parts) {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * A plaintext of any length whose byte at offset i is pool[i % period]: the period (1 MiB + 13) is prime to the
 * frame size, so no two frames carry the same bytes, yet any range can be recomputed without storing it.
 */
export class PatternSource {
  constructor(seed = 1) {
    this.period = 1024 * 1024 + 13;
    this.pool = new Uint8Array(this.period);
    // xorshift32: deterministic, so a child process and its parent agree on the bytes.
    let x = seed >>> 0 || 1;
    for (let i = 0; i < this.period; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      this.pool[i] = x & 0xff;
    }
  }

  /** Fills `target` with the pattern bytes from plaintext offset `offset` on. */
  fill(target, offset) {
    let pos = offset % this.period;
    let written = 0;
    while (written < target.length) {
      const n = Math.min(target.length - written, this.period - pos);
      target.set(this.pool.subarray(pos, pos + n), written);
      written += n;
      pos = 0;
    }
    return target;
  }

  /** The pattern bytes [start, end). */
  slice(start, end) {
    return this.fill(new Uint8Array(end - start), start);
  }
}
