// Frames sealed or opened concurrently by a stream, handed on in order as soon as each one (and every one before
// it) is done, so that a stream whose writer pauses still releases every finished frame.

/**
 * Runs tasks with at most `window` in flight and passes their results to `emit` in the order they were started.
 * Unlike InOrder it does not wait for the next push or for drain to emit: a result goes out as soon as it and all
 * before it are done. After a task fails (or `emit` throws), nothing more is emitted: the error goes to `onError`
 * at once and is thrown again by the next push or drain.
 */
export class OrderedEmitter<T> {
  // Per task still counted against the window: settles once the task was emitted, skipped or failed.
  readonly #slots: Promise<void>[] = [];
  #tail: Promise<void> = Promise.resolve();
  #failure: { readonly error: unknown } | undefined;
  #stopped = false;

  constructor(
    readonly window: number,
    private readonly emit: (value: T) => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Starts a task; when the window is full, first waits until the oldest was emitted. */
  async push(task: Promise<T>): Promise<void> {
    // Mark a rejection as handled now: it reaches onError (and the next call) through the chain below.
    task.catch(() => {});
    this.#throwIfFailed();
    const slot = this.#tail.then(async () => {
      if (this.#stopped || this.#failure) return;
      try {
        const value = await task;
        if (!this.#stopped && !this.#failure) this.emit(value);
      } catch (error) {
        if (this.#stopped || this.#failure) return;
        this.#failure = { error };
        this.onError(error);
      }
    });
    this.#tail = slot;
    this.#slots.push(slot);
    while (this.#slots.length >= this.window) await this.#slots.shift();
    this.#throwIfFailed();
  }

  /** Waits until every task was emitted; throws the first failure. */
  async drain(): Promise<void> {
    await this.#tail;
    this.#slots.length = 0;
    this.#throwIfFailed();
  }

  /** Emits nothing more (after a failure or a cancel); tasks still running are left to finish unobserved. */
  abandon(): void {
    this.#stopped = true;
    this.#slots.length = 0;
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}
