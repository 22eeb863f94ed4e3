// The pluggable store behind cachingProvider: a small async interface and the default in-memory LRU.

import { aint } from "./assert.js";
import { wipe } from "./bytes.js";
import type { EncryptedDataKey } from "./types.js";

/** One cached data key with its usage counters. */
export interface DataKeyCacheEntry {
  /** The plaintext data key. Caches never hand it to callers: cachingProvider copies it. */
  readonly plaintext: Uint8Array;
  /** Its encrypted forms (encryption entries); empty for decryption entries. */
  readonly encryptedDataKeys: readonly EncryptedDataKey[];
  /** When the key came from the wrapped provider, in milliseconds of cachingProvider's clock. */
  readonly createdAt: number;
  /** Messages encrypted (or keys opened) with it so far, the first included. */
  readonly messages: number;
  /** Plaintext bytes encrypted with it so far. */
  readonly bytes: number;
}

/**
 * Where cachingProvider keeps data keys. Keys are opaque strings (hex SHA-256 digests that reveal neither the
 * context nor the key ids). Back it with Redis or similar to share keys between processes; the default is
 * memoryDataKeyCache. Implementations must wipe (or destroy) the plaintext of entries they delete, replace with a
 * different plaintext, or evict; they must not modify an entry's plaintext otherwise.
 *
 * `get` must return a plaintext that later calls do not wipe: a copy (a store that serializes entries returns one
 * anyway), because another key's `set` may evict the entry before the caller has read it. cachingProvider wipes
 * that copy, or hands it back through `set`, after which it belongs to the cache.
 *
 * cachingProvider serializes its own get-then-set per key within one process; a shared backing store may count
 * uses from several processes loosely (each process enforces the limits on what it sees).
 */
export interface DataKeyCache {
  get(key: string): Promise<DataKeyCacheEntry | undefined>;
  set(key: string, entry: DataKeyCacheEntry): Promise<void>;
  delete(key: string): Promise<void>;
}

/** The default capacity of memoryDataKeyCache, in entries. */
export const DEFAULT_CACHE_CAPACITY = 1000;

/** Options of memoryDataKeyCache. */
export interface MemoryDataKeyCacheOptions {
  /** Most entries held (1 to 1,000,000; default 1,000); the least recently used goes first. */
  readonly capacity?: number;
  /**
   * Entries this old (`now() - createdAt >= maxAge`, in milliseconds from 1 ms to 24 hours) are deleted and wiped,
   * whether or not they are used again. Give it cachingProvider's `maxAge` (cachingProvider does so for the cache
   * it makes itself). Default: none, entries leave only when evicted, deleted or replaced.
   */
  readonly maxAge?: number;
  /** The clock that entries' `createdAt` comes from (cachingProvider's `now`); Date.now by default. */
  readonly now?: () => number;
}

/** Set by Deno, whose timers are numbers: Deno.unrefTimer is how a timer stops keeping the process alive there. */
declare const Deno: { unrefTimer?(id: number): void } | undefined;

/** A timer that does not keep a process (Node, Bun, Deno) alive; browsers and workerd have no such notion. */
function backgroundTimer(fn: () => void, delay: number): void {
  const timer: unknown = setTimeout(fn, delay);
  if (typeof timer === "object" && timer !== null && "unref" in timer && typeof timer.unref === "function") {
    timer.unref();
  } else if (typeof timer === "number" && typeof Deno !== "undefined") {
    Deno?.unrefTimer?.(timer);
  }
}

/** Expired entries wait at most this long (or maxAge, when shorter) for the background pass, so that it runs rarely. */
const PRUNE_GRANULARITY = 1000;

/**
 * An in-memory least-recently-used DataKeyCache of at most `capacity` entries; evicted, deleted and replaced
 * plaintexts are wiped, and `get` returns a copy of the plaintext. With `maxAge`, expired entries are deleted and
 * wiped at the start of every call and, when no call comes, by a timer that does not keep the process alive (it
 * runs at most once a second, so an expired key stays at most about a second longer, or maxAge when shorter).
 * @throws {RangeError} when capacity is not an integer from 1 to 1,000,000, or maxAge not one from 1 to 86,400,000
 * @throws {TypeError} when `now` is not a function
 */
export function memoryDataKeyCache(options: MemoryDataKeyCacheOptions = {}): DataKeyCache {
  const capacity = aint(options.capacity ?? DEFAULT_CACHE_CAPACITY, "capacity", 1, 1_000_000);
  const maxAge =
    options.maxAge === undefined ? undefined : aint(options.maxAge, "maxAge", 1, 24 * 60 * 60 * 1000);
  const now = options.now ?? Date.now;
  if (typeof now !== "function") throw new TypeError(`"now" expected a function`);
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const entries = new Map<string, DataKeyCacheEntry>();
  // The same keys in the order their plaintext arrived, with its createdAt: the oldest first (while the clock does
  // not go back), so a prune stops at the first entry still young, in time proportional to what it removes.
  const born = new Map<string, number>();
  // When the background pass is due, or undefined when none is armed. A runtime may drop a timer (workerd ends a
  // request's timers with it): a pass overdue by more than the granularity counts as not armed.
  let due: number | undefined;
  const granularity = maxAge === undefined ? 0 : Math.min(maxAge, PRUNE_GRANULARITY);

  const remove = (key: string): void => {
    const old = entries.get(key);
    entries.delete(key);
    born.delete(key);
    if (old) wipe(old.plaintext);
  };

  const prune = (): void => {
    if (maxAge === undefined || born.size === 0) return;
    const t = now();
    for (const [key, createdAt] of born) {
      if (t - createdAt < maxAge) break;
      remove(key);
    }
    const oldest = born.values().next();
    if (oldest.done || (due !== undefined && t <= due + granularity)) return;
    // Never longer than maxAge: an entry stamped by a clock far ahead would otherwise ask for more than a timer can
    // wait (2^31 - 1 ms), which runtimes turn into 1 ms, again and again.
    const delay = Math.min(Math.max(oldest.value + maxAge - t, granularity), maxAge);
    due = t + delay;
    backgroundTimer(() => {
      due = undefined;
      prune();
    }, delay);
  };

  return {
    async get(key) {
      prune();
      const entry = entries.get(key);
      if (!entry) return undefined;
      entries.delete(key);
      entries.set(key, entry);
      // A copy: another key's set may evict (and wipe) the stored entry before the caller reads it.
      return { ...entry, plaintext: entry.plaintext.slice() };
    },
    async set(key, entry) {
      const old = entries.get(key);
      if (old && old.plaintext !== entry.plaintext) wipe(old.plaintext);
      entries.delete(key);
      entries.set(key, entry);
      // Only a new createdAt moves the key in `born`: a use puts back a copy of the plaintext with the same createdAt,
      // and moving it would put an old entry behind younger ones, out of the prune's reach.
      if (born.get(key) !== entry.createdAt) {
        born.delete(key);
        born.set(key, entry.createdAt);
      }
      while (entries.size > capacity) {
        const oldestKey = entries.keys().next().value as string;
        remove(oldestKey);
      }
      prune();
    },
    async delete(key) {
      remove(key);
      prune();
    },
  };
}
