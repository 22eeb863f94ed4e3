// A FIFO of byte chunks that hands out contiguous views, copying only when a request spans chunks.

/** The smallest array own() allocates: small writes share one. */
const MIN_OWNED = 4096;

export class ByteQueue {
  #chunks: Uint8Array[] = [];
  // Parallel to #chunks: true for arrays the queue allocated itself, false for views of a caller's chunk.
  #owned: boolean[] = [];
  #length = 0;
  // The unused end of the last array own() allocated, where later small writes are copied.
  #spare: Uint8Array | undefined;

  /**
   * @param allocate makes every array the queue owns (copies of held bytes, merges across chunks): a test passes one
   * that records them, to see that each is zeroed once its bytes were handed out.
   */
  constructor(
    private readonly allocate: (length: number) => Uint8Array = (length) => new Uint8Array(length),
  ) {}

  get length(): number {
    return this.#length;
  }

  /** Appends a view of `chunk` (not a copy: call own() before the caller may reuse it). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#owned.push(false);
    this.#length += chunk.length;
  }

  /**
   * Copies the bytes still queued that are views of callers' chunks, so that a writer may reuse its buffer once its
   * write resolved. Each byte is copied at most once, and only when it stays queued past the call that pushed it.
   *
   * Small writes are copied into the spare room of the last array the queue allocated (arrays of at least
   * MIN_OWNED bytes), so that a frame written one byte at a time costs one copy per byte and one array per 4 KiB:
   * an array per write cost some 100 bytes of heap per byte held, and with a scan of every chunk per write, time
   * quadratic in the writes per frame (30 s for one 64 KiB frame in 1-byte writes).
   */
  own(): void {
    const end = this.#chunks.length;
    // Chunks the queue does not own yet were all pushed since the last own(): they are the last ones.
    let start = end;
    while (start > 0 && !this.#owned[start - 1]) start--;
    if (start === end) return;
    let size = 0;
    for (let i = start; i < end; i++) size += this.#chunks[i]!.length;
    const previous = this.#chunks[start - 1];
    const spare = this.#spare;
    const appendable =
      previous !== undefined &&
      spare !== undefined &&
      previous.buffer === spare.buffer &&
      previous.byteOffset + previous.length === spare.byteOffset &&
      spare.length >= size;
    // A copy by set(): view.slice() would not copy a Node Buffer, whose slice is a view.
    const target = appendable ? spare : this.allocate(Math.max(size, MIN_OWNED));
    let at = 0;
    for (let i = start; i < end; i++) {
      target.set(this.#chunks[i]!, at);
      at += this.#chunks[i]!.length;
    }
    this.#spare = target.subarray(size);
    if (appendable) {
      const grown = new Uint8Array(previous.buffer, previous.byteOffset, previous.length + size);
      this.#chunks.splice(start - 1, end - start + 1, grown);
      this.#owned.splice(start - 1, end - start + 1, true);
    } else {
      this.#chunks.splice(start, end - start, target.subarray(0, size));
      this.#owned.splice(start, end - start, true);
    }
  }

  /** How many arrays the queue holds (for tests: it stays small however small the writes are). */
  get chunkCount(): number {
    return this.#chunks.length;
  }

  /** The first `n` bytes as one contiguous array (a view when they lie in one chunk). */
  peek(n: number): Uint8Array {
    if (n > this.#length) throw new RangeError(`peek(${n}) of a queue of ${this.#length} bytes`);
    if (n === 0) return new Uint8Array(0);
    const first = this.#chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    // Merge just enough leading chunks, and keep the merged chunk so a second peek does not copy again. The bytes the
    // queue owned are zeroed as they move into the merged chunk: one copy of them is left, not two.
    const merged = this.allocate(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(chunk.length, n - filled);
      merged.set(chunk.subarray(0, take), filled);
      if (this.#owned[0]) chunk.fill(0, 0, take);
      filled += take;
      if (take === chunk.length) {
        this.#chunks.shift();
        this.#owned.shift();
      } else this.#chunks[0] = chunk.subarray(take);
    }
    this.#chunks.unshift(merged);
    this.#owned.unshift(true);
    return merged;
  }

  /** Drops the first `n` bytes. */
  consume(n: number): void {
    if (n > this.#length) throw new RangeError(`consume(${n}) of a queue of ${this.#length} bytes`);
    this.#length -= n;
    while (n > 0) {
      const chunk = this.#chunks[0]!;
      if (chunk.length <= n) {
        this.#chunks.shift();
        this.#owned.shift();
        n -= chunk.length;
      } else {
        this.#chunks[0] = chunk.subarray(n);
        n = 0;
      }
    }
  }

  /**
   * Removes the first `n` bytes and hands them to `use`, then zeroes them if the queue allocated them itself (a copy
   * of held-back bytes, or bytes merged across chunks), so that no copy of a caller's plaintext outlives `use`. `use`
   * must be done with the bytes when it returns (Web Crypto copies its input before `encrypt()` returns).
   */
  takeAndWipe<T>(n: number, use: (bytes: Uint8Array) => T): T {
    const bytes = this.peek(n);
    const owned = n > 0 && this.#owned[0] === true;
    this.consume(n);
    try {
      return use(bytes);
    } finally {
      if (owned) bytes.fill(0);
    }
  }

  /** Drops everything, zeroing the bytes the queue allocated itself (callers' chunks are theirs to wipe). */
  clear(): void {
    for (let i = 0; i < this.#chunks.length; i++) if (this.#owned[i]) this.#chunks[i]!.fill(0);
    this.#chunks = [];
    this.#owned = [];
    this.#length = 0;
    this.#spare = undefined;
  }
}
