// Frames sealed or opened concurrently by a stream, handed on in order as soon as each one (and every one before
// it) is done, so that a stream whose writer pauses still releases every finished frame.

/**
 * Runs tasks with at most `window` in flight and passes their results to `emit` in the order they were started.
 * Unlike InOrder it does not wait for the next push or for drain to emit: a result goes out as soon as it and all
 * before it are done. After a task fails (or `emit` throws), nothing more is emitted: the error goes to `onError`
 * at once and is thrown again by the next push or drain. Every result that is not emitted (a failure or `abandon`
 * came first, or `emit` threw) goes to `discard` once its task settles, so that plaintext can be wiped.
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
    private readonly discard: (value: T) => void = () => {},
  ) {}

  /** Starts a task; when the window is full, first waits until the oldest was emitted. */
  async push(task: Promise<T>): Promise<void> {
    // Mark a rejection as handled now: it reaches onError (and the next call) through the chain below.
    task.catch(() => {});
    if (this.#failure) {
      task.then(this.discard, () => {});
      this.#throwIfFailed();
    }
    // Every task goes through the chain, even after a failure or abandon, so that a result nobody emits reaches
    // discard once it settles.
    const slot = this.#tail.then(async () => {
      let value: T;
      try {
        value = await task;
      } catch (error) {
        if (this.#stopped || this.#failure) return;
        this.#failure = { error };
        this.onError(error);
        return;
      }
      if (this.#stopped || this.#failure) {
        this.discard(value);
        return;
      }
      try {
        this.emit(value);
      } catch (error) {
        this.discard(value);
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

  /** Emits nothing more (after a failure or a cancel); tasks still running go to `discard` as they settle. */
  abandon(): void {
    this.#stopped = true;
    this.#slots.length = 0;
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}
