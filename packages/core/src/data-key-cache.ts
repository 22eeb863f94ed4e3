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

/**
 * An in-memory least-recently-used DataKeyCache of at most `capacity` entries; evicted, deleted and replaced
 * plaintexts are wiped, and `get` returns a copy of the plaintext.
 * @throws {RangeError} when capacity is not an integer from 1 to 1,000,000
 */
export function memoryDataKeyCache(options: { capacity?: number } = {}): DataKeyCache {
  const capacity = aint(options.capacity ?? DEFAULT_CACHE_CAPACITY, "capacity", 1, 1_000_000);
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const entries = new Map<string, DataKeyCacheEntry>();
  return {
    async get(key) {
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
      while (entries.size > capacity) {
        const [oldestKey, oldest] = entries.entries().next().value as [string, DataKeyCacheEntry];
        entries.delete(oldestKey);
        wipe(oldest.plaintext);
      }
    },
    async delete(key) {
      const old = entries.get(key);
      entries.delete(key);
      if (old) wipe(old.plaintext);
    },
  };
}
