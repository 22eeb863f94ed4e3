// Data-key caching: a KeyProvider that reuses data keys of another provider within bounded limits (issue 6).

import { untilAborted } from "./abort.js";
import { abytes, aint, aobject, astring } from "./assert.js";
import { concatBytes, randomBytes, toBase64, toHex, utf8, wipe } from "./bytes.js";
import { encodeContext } from "./context.js";
import { type DataKeyCache, type DataKeyCacheEntry, memoryDataKeyCache } from "./data-key-cache.js";
import { SealkitError } from "./errors.js";
import type {
  DataKey,
  EncryptedDataKey,
  GenerateDataKeyRequest,
  KeyProvider,
  ProviderCallOptions,
} from "./types.js";

/** Default limits: every one is bounded; callers may tighten or loosen them within the bounds below. */
export const CACHING_DEFAULTS = Object.freeze({
  /** Five minutes. */
  maxAge: 5 * 60 * 1000,
  /** Messages per cached data key. */
  maxMessages: 4096,
  /** Plaintext bytes per cached data key: 4 GiB. */
  maxBytes: 2 ** 32,
  /** Entries in the default in-memory cache. */
  capacity: 1000,
});

export interface CachingProviderOptions {
  /** How long a data key may be reused, in milliseconds (1 ms to 24 hours; default 5 minutes). */
  readonly maxAge?: number;
  /** How many messages one data key may encrypt (1 to 2^32; default 4,096). The first use counts. */
  readonly maxMessages?: number;
  /** How many plaintext bytes one data key may encrypt (1 to 2^53 - 1; default 2^32). */
  readonly maxBytes?: number;
  /** Entries in the default in-memory LRU (1 to 1,000,000; default 1,000). Ignored when `cache` is given. */
  readonly capacity?: number;
  /**
   * Where entries live; an in-memory LRU that also drops expired entries by default. Back it with Redis or similar to
   * share between processes (with a TTL of `maxAge`, so that expired keys do not linger there).
   */
  readonly cache?: DataKeyCache;
  /**
   * Separates this provider's entries from others' in a shared cache. Random per instance by default, so two
   * instances never share keys unless they are given the same partition (and wrap the same master keys).
   */
  readonly partition?: string;
  /** The clock, in milliseconds (Date.now by default); injectable for tests. */
  readonly now?: () => number;
}

type Fetched = { readonly plaintext: Uint8Array; readonly encryptedDataKeys: readonly EncryptedDataKey[] };

const CACHE_KEY_LABEL = "SEALKIT-CACHE-V1";
/** Cache-key digests remembered per provider instance. */
const MEMO_CAPACITY = 4096;
/**
 * Longest lookup text (in UTF-16 code units) the memo remembers. Envelopes may carry 64 KiB encrypted data keys and
 * contexts that JSON escapes to six times their size: remembering those would let a stream of hostile envelopes pin
 * hundreds of megabytes. Typical lookups (a KMS key ARN, a few hundred bytes of encrypted key, a small context) fit.
 */
const MEMO_MAX_ID_LENGTH = 1024;

/** SHA-256 over u32-length-prefixed fields, hex: cache keys reveal neither the context nor the key ids. */
async function digest(fields: Uint8Array[]): Promise<string> {
  const parts: Uint8Array[] = [];
  for (const f of fields) {
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, f.length);
    parts.push(length, f);
  }
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", concatBytes(...parts) as BufferSource)));
}

const noop = () => {};

/**
 * Wraps a provider so that its data keys are reused for several messages within bounded limits, and opened data
 * keys are remembered for decryption.
 *
 * Encryption: requests are grouped by partition, provider id, suite, key length and the canonical context (all
 * hashed with SHA-256 into the cache key). A request without `plaintextLength`, or with one above `maxBytes`, goes
 * straight to the wrapped provider and is not cached. Each use counts one message and `plaintextLength` bytes; an
 * entry that is too old or would pass `maxMessages` or `maxBytes` is deleted (and wiped) and a fresh key fetched.
 * Concurrent misses for one cache key make one call to the wrapped provider and share its result or its error.
 *
 * Decryption: opened keys are cached under partition, provider id, key id, the encrypted key's bytes and the
 * context (hashed likewise); such entries obey `maxAge` and `maxMessages` (each open counts one).
 *
 * Callers always receive copies of cached keys, which they wipe; the cache wipes its own on eviction. The default
 * in-memory cache also wipes entries past `maxAge` whether or not they are looked up again (memoryDataKeyCache's
 * `maxAge`: at every call, and by a timer that does not keep the process alive). A `cache` you pass does so only if
 * it expires entries itself: give memoryDataKeyCache the same `maxAge` and `now`, or use your store's TTL.
 * encryptDataKey and canDecrypt pass through.
 * @throws {TypeError} / {RangeError} when an option is of the wrong type or outside its bounds
 */
export function cachingProvider(provider: KeyProvider, options: CachingProviderOptions = {}): KeyProvider {
  aobject(provider, "provider");
  if (typeof provider.generateDataKey !== "function" || typeof provider.decryptDataKey !== "function") {
    throw new TypeError(`"provider" is not a KeyProvider`);
  }
  aobject(options, "options");
  const maxAge = aint(options.maxAge ?? CACHING_DEFAULTS.maxAge, "maxAge", 1, 24 * 60 * 60 * 1000);
  const maxMessages = aint(options.maxMessages ?? CACHING_DEFAULTS.maxMessages, "maxMessages", 1, 2 ** 32);
  const maxBytes = aint(
    options.maxBytes ?? CACHING_DEFAULTS.maxBytes,
    "maxBytes",
    1,
    Number.MAX_SAFE_INTEGER,
  );
  const now = options.now ?? Date.now;
  if (typeof now !== "function") throw new TypeError(`"now" expected a function`);
  // The default cache knows the age limit, so that expired keys are wiped even when nobody asks for them again.
  const cache =
    options.cache ??
    memoryDataKeyCache({ capacity: options.capacity ?? CACHING_DEFAULTS.capacity, maxAge, now });
  const partition = utf8(
    options.partition === undefined ? toHex(randomBytes(16)) : astring(options.partition, "partition"),
  );

  // In-process memo of cache keys: SHA-256 through Web Crypto costs more than the rest of a cache hit. The memo holds
  // contexts in this process's memory only (short lookups only, at most MEMO_CAPACITY of them); the (possibly shared)
  // cache still sees digests alone.
  const digests = new Map<string, string>();
  // `id` must be injective in the fields (a JSON array of the inputs is); `fields` runs only on a memo miss, so the
  // context is validated and encoded the first time it is seen.
  const cacheKey = async (id: string, fields: () => Uint8Array[]): Promise<string> => {
    if (id.length > MEMO_MAX_ID_LENGTH) return digest(fields());
    let key = digests.get(id);
    if (key === undefined) {
      key = await digest(fields());
      if (digests.size >= MEMO_CAPACITY) digests.clear();
      digests.set(id, key);
    }
    return key;
  };

  const locks = new Map<string, Promise<void>>();
  const inflight = new Map<string, Promise<Fetched>>();

  /** Runs `fn` with no other get-then-set on the same cache key in between. */
  async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = locks.get(key) ?? Promise.resolve();
    let release = noop;
    const current = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => current);
    locks.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (locks.get(key) === tail) locks.delete(key);
    }
  }

  function expired(entry: DataKeyCacheEntry, bytes: number): boolean {
    return (
      now() - entry.createdAt >= maxAge || entry.messages + 1 > maxMessages || entry.bytes + bytes > maxBytes
    );
  }

  /**
   * One use of the entry under `key`, fetching a fresh key when there is none usable. Returns a copy of the
   * plaintext that the caller owns.
   */
  async function acquire(
    key: string,
    bytes: number,
    fetch: () => Promise<Fetched>,
    signal: AbortSignal | undefined,
  ): Promise<Fetched> {
    for (;;) {
      signal?.throwIfAborted();
      const step = await withLock(
        key,
        async (): Promise<{ hit: Fetched } | { wait: Promise<Fetched> } | { mine: Promise<Fetched> }> => {
          // The entry's plaintext is the cache's copy for us (DataKeyCache.get): it goes back through set, or is
          // wiped here; the caller gets a copy of its own.
          const entry = await cache.get(key);
          if (entry && !expired(entry, bytes)) {
            const plaintext = entry.plaintext.slice();
            try {
              await cache.set(key, { ...entry, messages: entry.messages + 1, bytes: entry.bytes + bytes });
            } catch (error) {
              wipe(plaintext);
              throw error;
            }
            return { hit: { plaintext, encryptedDataKeys: entry.encryptedDataKeys } };
          }
          if (entry) {
            await cache.delete(key);
            wipe(entry.plaintext);
          }
          const pending = inflight.get(key);
          if (pending) return { wait: pending };
          const started = (async (): Promise<Fetched> => {
            const fresh = await fetch();
            const mine = { plaintext: fresh.plaintext.slice(), encryptedDataKeys: fresh.encryptedDataKeys };
            const stored: DataKeyCacheEntry = { ...fresh, createdAt: now(), messages: 1, bytes };
            try {
              await withLock(key, () => cache.set(key, stored));
            } catch (error) {
              wipe(mine.plaintext, fresh.plaintext);
              throw error;
            }
            return mine;
          })();
          inflight.set(key, started);
          started.then(noop, noop).finally(() => {
            if (inflight.get(key) === started) inflight.delete(key);
          });
          return { mine: started };
        },
      );
      if ("hit" in step) return step.hit;
      if ("wait" in step) {
        // Another caller is fetching this entry: wait for it (sharing its error), then take a use from the cache.
        await untilAborted(step.wait, signal);
        continue;
      }
      try {
        return await untilAborted(step.mine, signal);
      } catch (error) {
        // Aborted while our fetch went on: wipe our copy when it arrives.
        step.mine.then((f) => wipe(f.plaintext), noop);
        throw error;
      }
    }
  }

  return {
    providerId: provider.providerId,

    async generateDataKey(request: GenerateDataKeyRequest): Promise<DataKey> {
      aobject(request, "request");
      const { plaintextLength } = request;
      if (plaintextLength === undefined) return provider.generateDataKey(request);
      aint(plaintextLength, "plaintextLength", 0, Number.MAX_SAFE_INTEGER);
      if (plaintextLength > maxBytes) return provider.generateDataKey(request);
      aobject(request.context, "context");
      const suite = request.suite ?? "";
      const length = String(request.length);
      const key = await cacheKey(
        JSON.stringify(["encrypt", suite, length, Object.entries(request.context)]),
        () => [
          utf8(CACHE_KEY_LABEL),
          utf8("encrypt"),
          partition,
          utf8(provider.providerId),
          utf8(suite),
          utf8(length),
          encodeContext(request.context),
        ],
      );
      const { signal, ...shared } = request;
      const fetched = await acquire(
        key,
        plaintextLength,
        async () => {
          // The shared call is not tied to one caller's signal: each caller stops waiting on its own.
          const dk = await provider.generateDataKey(shared);
          const plaintext = (dk as DataKey | undefined)?.plaintext;
          if (!(plaintext instanceof Uint8Array) || plaintext.length !== request.length) {
            if (plaintext instanceof Uint8Array) wipe(plaintext);
            throw new SealkitError(
              "ERR_PROVIDER_UNAVAILABLE",
              `provider "${provider.providerId}" returned a data key of the wrong length`,
            );
          }
          // Never cache a key nobody could decrypt: it would be handed out until it expired.
          if (!Array.isArray(dk.encryptedDataKeys) || dk.encryptedDataKeys.length === 0) {
            wipe(plaintext);
            throw new SealkitError(
              "ERR_PROVIDER_UNAVAILABLE",
              `provider "${provider.providerId}" returned no encrypted data key`,
            );
          }
          return dk;
        },
        signal,
      );
      return { plaintext: fetched.plaintext, encryptedDataKeys: fetched.encryptedDataKeys };
    },

    encryptDataKey(
      request: ProviderCallOptions & { readonly plaintext: Uint8Array },
    ): Promise<readonly EncryptedDataKey[]> {
      return provider.encryptDataKey(request);
    },

    async decryptDataKey(
      request: ProviderCallOptions & { readonly encryptedDataKey: EncryptedDataKey },
    ): Promise<Uint8Array> {
      aobject(request, "request");
      const edk = aobject<EncryptedDataKey>(request.encryptedDataKey, "encryptedDataKey");
      abytes(edk.ciphertext, "encryptedDataKey.ciphertext");
      aobject(request.context, "context");
      const id = JSON.stringify([
        "decrypt",
        edk.providerId,
        edk.keyId,
        toBase64(edk.ciphertext),
        Object.entries(request.context),
      ]);
      const key = await cacheKey(id, () => [
        utf8(CACHE_KEY_LABEL),
        utf8("decrypt"),
        partition,
        utf8(edk.providerId),
        utf8(edk.keyId),
        edk.ciphertext,
        encodeContext(request.context),
      ]);
      const { signal, ...shared } = request;
      const fetched = await acquire(
        key,
        0,
        async () => {
          const plaintext = await provider.decryptDataKey(shared);
          if (!(plaintext instanceof Uint8Array)) {
            throw new SealkitError(
              "ERR_PROVIDER_UNAVAILABLE",
              `provider "${provider.providerId}" returned no key`,
            );
          }
          return { plaintext, encryptedDataKeys: [] };
        },
        signal,
      );
      return fetched.plaintext;
    },

    canDecrypt(encryptedDataKey: EncryptedDataKey): boolean {
      return provider.canDecrypt(encryptedDataKey);
    },
  };
}
