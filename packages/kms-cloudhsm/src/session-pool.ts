// A pool of logged-in PKCS#11 sessions: bounded, fair under concurrency, self-healing after session or device loss.

import { SealkitError } from "@sealkit/core";
import { ckrName, isLoginFailure, recoveryFor, toSealkitError } from "./pkcs11-error.js";
import { ck, type Handle, libraryGeneration, type Pkcs11Module, withLibraryCall } from "./pkcs11-module.js";
import type { TokenConnection } from "./token.js";

/** Counters describing a pool, for tests and monitoring. */
export interface SessionPoolStats {
  /** The most sessions the pool opens. */
  readonly size: number;
  /** Sessions open now (idle or in use). */
  readonly open: number;
  /** Sessions open and not in use. */
  readonly idle: number;
  /** Calls waiting for a session. */
  readonly waiting: number;
  /** The most sessions ever open at once. */
  readonly peakOpen: number;
  /** Sessions discarded after CKR_SESSION_HANDLE_INVALID and the like. */
  readonly sessionsDiscarded: number;
  /** Times the library was re-initialized after CKR_DEVICE_REMOVED and the like. */
  readonly reinitializations: number;
  /**
   * Times opening a session met the token's session limit (CKR_SESSION_COUNT) while the pool held sessions, so
   * the call waited for one of them instead of failing.
   */
  readonly sessionLimitHits: number;
}

interface PooledSession {
  readonly handle: Handle;
  readonly generation: number;
}

type Waiter = { resolve(session: PooledSession | undefined): void; reject(error: unknown): void };

// CKS_RO_USER_FUNCTIONS and CKS_RW_USER_FUNCTIONS: the session is logged in as the normal user.
const LOGGED_IN_STATES = new Set([1, 3]);

/**
 * Opens at most `size` sessions on a token, logs each in, and lends them one call at a time. A call that
 * fails because its session or the device went away is retried once on a fresh session (after
 * re-initializing the library for device errors).
 */
export class SessionPool {
  readonly #connection: TokenConnection;
  readonly #pin: string;
  readonly #size: number;
  #idle: PooledSession[] = [];
  #waiters: Waiter[] = [];
  #open = 0;
  #busy = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  // The token's answer to this pool's PIN, once it refused it: never sent again (see #openSession).
  #loginFailure: unknown;
  #drained: (() => void) | undefined;
  #peakOpen = 0;
  #sessionsDiscarded = 0;
  #reinitializations = 0;
  #sessionLimitHits = 0;

  constructor(connection: TokenConnection, pin: string, size: number) {
    this.#connection = connection;
    this.#pin = pin;
    this.#size = size;
  }

  /**
   * The library's generation: it changes whenever anyone in the process re-initializes the library, after
   * which every session and object handle obtained before is stale.
   */
  get generation(): number {
    return libraryGeneration(this.#connection.module);
  }

  /** Current counters. */
  stats(): SessionPoolStats {
    return {
      size: this.#size,
      open: this.#open,
      idle: this.#idle.length,
      waiting: this.#waiters.length,
      peakOpen: this.#peakOpen,
      sessionsDiscarded: this.#sessionsDiscarded,
      reinitializations: this.#reinitializations,
      sessionLimitHits: this.#sessionLimitHits,
    };
  }

  /**
   * Runs `fn` with a logged-in session of its own. Retries once on a fresh session when the session or the
   * device was lost; maps every PKCS#11 error to a SealkitError.
   * @throws {SealkitError} ERR_HSM_LOGIN_FAILED, ERR_PROVIDER_UNAVAILABLE, or whatever `fn` throws
   */
  async run<T>(
    operation: string,
    fn: (session: Handle, module: Pkcs11Module) => Promise<T> | T,
    signal?: AbortSignal,
  ): Promise<T> {
    let staleRetries = 0;
    for (let attempt = 0; ; attempt++) {
      let session: PooledSession | undefined;
      // The generation the failing call saw: a device error re-initializes only if no one did since.
      let seen: number | undefined;
      try {
        seen = this.generation;
        session = await this.#acquire(signal);
        seen = session.generation;
        const module = this.#connection.module;
        const handle = session.handle;
        const result = await withLibraryCall(module, () => {
          // A session acquired while the library was waiting to be re-initialized belongs to the old library:
          // its handle may now name another caller's session, so it must never reach the library again.
          if (session!.generation !== this.generation) throw STALE_SESSION;
          // The caller may have given up after its session was handed over (or while the library was being
          // re-initialized): it must not reach the HSM then.
          if (signal?.aborted) throw signal.reason;
          return fn(handle, module);
        });
        this.#release(session);
        return result;
      } catch (error) {
        // The caller gave up (waiting for a session, or before an HSM call): its reason, as it is. A session it
        // held goes back to the pool: the checks run before C_EncryptInit/C_DecryptInit, so no operation is open.
        if (signal?.aborted && error === signal.reason) {
          if (session) this.#release(session);
          throw error;
        }
        if (error === STALE_SESSION && session && staleRetries++ < 3) {
          this.#discard(session); // not closed: its handle is from before the re-initialization
          attempt--; // not a failure of the call: it never reached the library
          continue;
        }
        const recovery = recoveryFor(error);
        if (session) {
          if (recovery === "none") this.#release(session);
          else this.#discard(session);
        }
        if (recovery === "none" || attempt > 0 || this.#closed) throw toSealkitError(error, operation);
        if (recovery === "device") {
          if (seen === this.generation) await this.#reinitialize();
        } else {
          this.#pruneIdle();
        }
      }
    }
  }

  /** Closes every session once the calls in flight finish; later calls fail with ERR_PROVIDER_UNAVAILABLE. */
  close(): Promise<void> {
    // A second close() waits for the same drain instead of returning while calls are still in flight.
    this.#closing ??= (async () => {
      this.#closed = true;
      for (const waiter of this.#waiters.splice(0)) waiter.reject(closedError());
      if (this.#busy > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
      for (const session of this.#idle.splice(0)) this.#drop(session);
    })();
    return this.#closing;
  }

  async #acquire(signal?: AbortSignal): Promise<PooledSession> {
    for (;;) {
      if (this.#closed) throw closedError();
      if (signal?.aborted) throw signal.reason;
      const idle = this.#idle.pop();
      if (idle) {
        if (idle.generation !== this.generation) {
          this.#drop(idle);
          continue;
        }
        this.#busy++;
        return idle;
      }
      if (this.#open < this.#size) {
        this.#open++;
        try {
          const session = this.#openSession();
          this.#busy++;
          this.#peakOpen = Math.max(this.#peakOpen, this.#open);
          return session;
        } catch (error) {
          this.#open--;
          // The token's session limit is per application, shared by every pool of the process (AWS CloudHSM: 1,024).
          // When it is reached while this pool holds sessions, wait for one of them instead of failing the call.
          if (!(ckrName(error) === "CKR_SESSION_COUNT" && this.#open > 0)) {
            this.#wakeOne();
            throw error;
          }
          this.#sessionLimitHits++;
        }
      }
      const handed = await new Promise<PooledSession | undefined>((resolve, reject) => {
        // An aborted caller leaves the queue at once; it must not hold up, or later take, a session.
        const onAbort = () => {
          const index = this.#waiters.indexOf(waiter);
          if (index >= 0) this.#waiters.splice(index, 1);
          reject(signal!.reason);
        };
        const waiter: Waiter = {
          resolve(session) {
            signal?.removeEventListener("abort", onAbort);
            resolve(session);
          },
          reject(error) {
            signal?.removeEventListener("abort", onAbort);
            reject(error);
          },
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        this.#waiters.push(waiter);
      });
      if (handed) return handed; // counted busy by #release, which handed it over
    }
  }

  #openSession(): PooledSession {
    // A refused PIN is tried once. Tokens count failed logins and lock the user (CKR_PIN_LOCKED; CloudHSM locks a
    // crypto user after a few failures), so a busy service must not retry a wrong PIN with every call.
    if (this.#loginFailure !== undefined) throw this.#loginFailure;
    const module = this.#connection.module;
    const slot = this.#connection.slot;
    const generation = this.generation;
    const handle = module.C_OpenSession(slot, ck.CKF_SERIAL_SESSION! | ck.CKF_RW_SESSION!);
    try {
      const { state } = module.C_GetSessionInfo(handle);
      // Login is per application and token: once one session logged in, every new one is logged in too.
      if (!LOGGED_IN_STATES.has(state)) {
        try {
          module.C_Login(handle, ck.CKU_USER!, this.#pin);
        } catch (error) {
          if (isLoginFailure(error)) this.#loginFailure = error;
          if (!/CKR_USER_ALREADY_LOGGED_IN/.test(String((error as Error)?.message))) throw error;
        }
      }
    } catch (error) {
      try {
        module.C_CloseSession(handle);
      } catch {
        // The session is unusable either way.
      }
      throw error;
    }
    return { handle, generation };
  }

  #release(session: PooledSession): void {
    this.#busy--;
    if (this.#closed || session.generation !== this.generation) {
      this.#drop(session);
      this.#checkDrained();
      this.#wakeOne();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#busy++;
      waiter.resolve(session);
    } else {
      this.#idle.push(session);
    }
    this.#checkDrained();
  }

  #discard(session: PooledSession): void {
    this.#busy--;
    this.#sessionsDiscarded++;
    this.#drop(session);
    this.#checkDrained();
    this.#wakeOne();
  }

  /** Drops idle sessions that are no longer valid or no longer logged in (C_CloseAllSessions, a logout). */
  #pruneIdle(): void {
    const module = this.#connection.module;
    const generation = this.generation;
    this.#idle = this.#idle.filter((session) => {
      let alive = false;
      try {
        alive =
          session.generation === generation &&
          LOGGED_IN_STATES.has(module.C_GetSessionInfo(session.handle).state);
      } catch {
        alive = false;
      }
      if (!alive) {
        this.#sessionsDiscarded++;
        this.#drop(session);
      }
      return alive;
    });
  }

  async #reinitialize(): Promise<void> {
    this.#reinitializations++;
    // Every handle dies with the library: idle sessions are dropped now, busy ones when they come back.
    for (const session of this.#idle.splice(0)) this.#drop(session);
    await this.#connection.reinitialize();
  }

  /** Forgets a session, closing it only if it belongs to the current library generation. */
  #drop(session: PooledSession): void {
    this.#open--;
    // A handle from before a re-initialization may have been reused for someone else's session: never close it.
    if (session.generation !== this.generation) return;
    try {
      this.#connection.module.C_CloseSession(session.handle);
    } catch {
      // Already closed underneath us.
    }
  }

  #wakeOne(): void {
    if (!this.#closed) this.#waiters.shift()?.resolve(undefined);
  }

  #checkDrained(): void {
    if (this.#busy === 0 && this.#drained) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained();
    }
  }
}

/** Thrown (and caught) inside `run` when a session outlived a re-initialization before its first use. */
const STALE_SESSION = new SealkitError(
  "ERR_PROVIDER_UNAVAILABLE",
  "PKCS#11 session belongs to a library that was re-initialized since",
);

function closedError(): SealkitError {
  return new SealkitError("ERR_PROVIDER_UNAVAILABLE", "PKCS#11 session pool is closed");
}
