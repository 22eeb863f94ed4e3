// A FIFO of byte chunks that hands out contiguous views, copying only when a request spans chunks.

export class ByteQueue {
  #chunks: Uint8Array[] = [];
  // Parallel to #chunks: true for arrays the queue allocated itself, false for views of a caller's chunk.
  #owned: boolean[] = [];
  #length = 0;

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
   */
  own(): void {
    for (let i = 0; i < this.#chunks.length; i++) {
      if (!this.#owned[i]) {
        // A copy by set(): view.slice() would not copy a Node Buffer, whose slice is a view.
        const copy = this.allocate(this.#chunks[i]!.length);
        copy.set(this.#chunks[i]!);
        this.#chunks[i] = copy;
        this.#owned[i] = true;
      }
    }
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
  }
}
