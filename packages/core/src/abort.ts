// Waiting on work that cannot itself be cancelled, while honouring an AbortSignal.

/**
 * Settles as `promise` does, or rejects with the signal's reason as soon as `signal` aborts (at once when it is
 * already aborted). The work behind `promise` goes on; only the wait ends. For provider authors whose underlying
 * call takes no signal.
 *
 * @example
 * const key = await untilAborted(kms.send(command), options.signal);
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
