import { describe, expect, it, vi } from "vitest";
import { toHex } from "./bytes.js";
import { cachingProvider } from "./caching-provider.js";
import { type DataKeyCache, type DataKeyCacheEntry, memoryDataKeyCache } from "./data-key-cache.js";
import { generateEnvelopeDataKey, openEnvelopeDataKey } from "./data-keys.js";
import { rawKeyProvider } from "./raw-provider.js";
import type { DataKey, KeyProvider } from "./types.js";

/** A raw provider that counts the calls that reach it. */
function counted(keyId = "k1") {
  const inner = rawKeyProvider({ keyId, key: new Uint8Array(32).fill(4) });
  const calls = { generate: 0, decrypt: 0 };
  const provider: KeyProvider = {
    providerId: inner.providerId,
    generateDataKey: (r) => {
      calls.generate++;
      return inner.generateDataKey(r);
    },
    encryptDataKey: (r) => inner.encryptDataKey(r),
    decryptDataKey: (r) => {
      calls.decrypt++;
      return inner.decryptDataKey(r);
    },
    canDecrypt: (k) => inner.canDecrypt(k),
  };
  return { provider, calls };
}

const context = { tenant: "acme" };
const request = (plaintextLength: number, ctx: Record<string, string> = context) =>
  ({ length: 32, suite: "XCHACHA20_POLY1305", context: ctx, plaintextLength }) as const;

describe("cachingProvider: encryption", () => {
  it("makes exactly one call for 10,000 small generations within the limits", async () => {
    const { provider, calls } = counted();
    const cached = cachingProvider(provider, { maxMessages: 2 ** 32, maxBytes: 2 ** 32 });
    const first = await cached.generateDataKey(request(100));
    for (let i = 1; i < 10_000; i++) {
      const dk = await cached.generateDataKey(request(100));
      if (i === 9_999)
        expect(toHex(dk.encryptedDataKeys[0]!.ciphertext)).toBe(
          toHex(first.encryptedDataKeys[0]!.ciphertext),
        );
    }
    expect(calls.generate).toBe(1);
  });

  it("forces a new key when the age limit passes (injected clock)", async () => {
    const { provider, calls } = counted();
    let time = 1_000_000;
    const cached = cachingProvider(provider, { maxAge: 60_000, now: () => time });
    await cached.generateDataKey(request(1));
    time += 59_999;
    await cached.generateDataKey(request(1));
    expect(calls.generate).toBe(1);
    time += 1;
    await cached.generateDataKey(request(1));
    expect(calls.generate).toBe(2);
  });

  it("forces a new key when the message limit passes", async () => {
    const { provider, calls } = counted();
    const cached = cachingProvider(provider, { maxMessages: 3 });
    for (let i = 0; i < 3; i++) await cached.generateDataKey(request(1));
    expect(calls.generate).toBe(1);
    await cached.generateDataKey(request(1));
    expect(calls.generate).toBe(2);
    // maxMessages 1: no reuse at all.
    const { provider: p1, calls: c1 } = counted();
    const once = cachingProvider(p1, { maxMessages: 1 });
    for (let i = 0; i < 5; i++) await once.generateDataKey(request(1));
    expect(c1.generate).toBe(5);
  });

  it("forces a new key when the byte limit passes, and bypasses the cache above it", async () => {
    const { provider, calls } = counted();
    const cached = cachingProvider(provider, { maxBytes: 1000 });
    await cached.generateDataKey(request(600));
    await cached.generateDataKey(request(400)); // exactly 1000
    expect(calls.generate).toBe(1);
    await cached.generateDataKey(request(1)); // 1001: new key
    expect(calls.generate).toBe(2);
    await cached.generateDataKey(request(1001)); // larger than any entry may carry: straight through
    await cached.generateDataKey(request(1));
    expect(calls.generate).toBe(3);
  });

  it("bypasses the cache when the plaintext length is unknown", async () => {
    const { provider, calls } = counted();
    const cached = cachingProvider(provider);
    await cached.generateDataKey({ length: 32, context });
    await cached.generateDataKey({ length: 32, context });
    expect(calls.generate).toBe(2);
  });

  it("keeps contexts, suites and partitions apart", async () => {
    const { provider, calls } = counted();
    const cached = cachingProvider(provider);
    await cached.generateDataKey(request(1, { tenant: "a" }));
    await cached.generateDataKey(request(1, { tenant: "b" }));
    await cached.generateDataKey({ ...request(1, { tenant: "a" }), suite: "AES_256_GCM" });
    expect(calls.generate).toBe(3);
    // Two instances over one shared cache: random partitions never share, equal partitions do.
    const shared = memoryDataKeyCache();
    const x = cachingProvider(provider, { cache: shared });
    const y = cachingProvider(provider, { cache: shared });
    await x.generateDataKey(request(1));
    await y.generateDataKey(request(1));
    expect(calls.generate).toBe(5);
    const p = cachingProvider(provider, { cache: shared, partition: "svc" });
    const q = cachingProvider(provider, { cache: shared, partition: "svc" });
    await p.generateDataKey(request(1));
    await q.generateDataKey(request(1));
    expect(calls.generate).toBe(6);
  });

  it("makes one call for concurrent misses", async () => {
    const { provider, calls } = counted();
    const cached = cachingProvider(provider);
    const keys = await Promise.all(Array.from({ length: 50 }, () => cached.generateDataKey(request(10))));
    expect(calls.generate).toBe(1);
    expect(new Set(keys.map((k) => toHex(k.plaintext))).size).toBe(1);
    // Every caller has its own copy.
    expect(new Set(keys.map((k) => k.plaintext)).size).toBe(50);
  });

  it("shares one failure among concurrent misses and caches nothing", async () => {
    let calls = 0;
    const { provider } = counted();
    const failing: KeyProvider = {
      ...provider,
      providerId: "raw",
      generateDataKey: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 5));
        throw new Error("kms down");
      },
    };
    const cached = cachingProvider(failing);
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => cached.generateDataKey(request(1))),
    );
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    expect(calls).toBe(1);
  });

  it("returns copies: wiping one does not spoil the cache", async () => {
    const { provider } = counted();
    const cached = cachingProvider(provider);
    const a = await cached.generateDataKey(request(1));
    const copy = toHex(a.plaintext);
    a.plaintext.fill(0);
    const b = await cached.generateDataKey(request(1));
    expect(toHex(b.plaintext)).toBe(copy);
  });

  it("wipes evicted keys (limit, capacity)", async () => {
    const store = memoryDataKeyCache({ capacity: 1 });
    const seen: DataKeyCacheEntry[] = [];
    const spy: DataKeyCache = {
      get: (k) => store.get(k),
      set: (k, e) => {
        seen.push(e);
        return store.set(k, e);
      },
      delete: (k) => store.delete(k),
    };
    const { provider } = counted();
    const cached = cachingProvider(provider, { cache: spy, maxMessages: 2 });
    await cached.generateDataKey(request(1));
    const first = seen[0]!.plaintext;
    expect(first.some((b) => b !== 0)).toBe(true);
    await cached.generateDataKey(request(1));
    await cached.generateDataKey(request(1)); // past maxMessages: evicted
    expect(first.every((b) => b === 0)).toBe(true);
    const second = seen.at(-1)!.plaintext;
    await cached.generateDataKey(request(1, { other: "context" })); // capacity 1: evicts the previous entry
    expect(second.every((b) => b === 0)).toBe(true);
  });

  it("produces envelopes' data keys that open, through generateEnvelopeDataKey", async () => {
    const { provider } = counted();
    const cached = cachingProvider(provider);
    const dk = await generateEnvelopeDataKey([cached], { context, suite: "AES_256_GCM", plaintextLength: 5 });
    const opened = await openEnvelopeDataKey(dk.encryptedDataKeys, [provider], { context });
    expect(toHex(opened.plaintext)).toBe(toHex(dk.plaintext));
  });

  it("validates contexts it has not seen, whatever it remembers", async () => {
    const { provider } = counted();
    const cached = cachingProvider(provider);
    await cached.generateDataKey(request(1, { a: "x" }));
    await expect(cached.generateDataKey(request(1, { a: "\uD800" }))).rejects.toThrow(TypeError);
    await expect(cached.generateDataKey(request(1, { "": "x" }))).rejects.toThrow(TypeError);
    await expect(
      cached.generateDataKey(request(1, { a: 1 } as unknown as Record<string, string>)),
    ).rejects.toThrow(TypeError);
  });

  it("checks its options", () => {
    const { provider } = counted();
    expect(() => cachingProvider(provider, { maxMessages: 0 })).toThrow(RangeError);
    expect(() => cachingProvider(provider, { maxMessages: 2 ** 32 + 1 })).toThrow(RangeError);
    expect(() => cachingProvider(provider, { maxAge: Number.POSITIVE_INFINITY })).toThrow(TypeError);
    expect(() => cachingProvider(provider, { maxBytes: 0 })).toThrow(RangeError);
    expect(() => cachingProvider(provider, { capacity: 0 })).toThrow(RangeError);
    expect(() => cachingProvider({} as KeyProvider)).toThrow(TypeError);
  });
});

describe("cachingProvider: concurrent callers over a slow store", () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  /** A store whose every operation takes a random 0-2 ms on each side, as a remote cache would. */
  const slow = (inner: DataKeyCache, random: () => number): DataKeyCache => ({
    async get(key) {
      await sleep(random() * 2);
      const entry = await inner.get(key);
      await sleep(random() * 2);
      return entry;
    },
    async set(key, entry) {
      await sleep(random() * 2);
      await inner.set(key, entry);
    },
    async delete(key) {
      await sleep(random() * 2);
      await inner.delete(key);
    },
  });

  it("never lets a key exceed its message or byte limit, and asks the provider only when it must", async () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 8; round++) {
      const { provider, calls } = counted();
      const maxMessages = 1 + (round % 4);
      const maxBytes = round < 4 ? 2 ** 32 : 100;
      const cached = cachingProvider(provider, {
        maxMessages,
        maxBytes,
        cache: slow(memoryDataKeyCache(), random),
      });
      const uses = new Map<string, { messages: number; bytes: number }>();
      const callers = 30;
      let aborted = 0;
      await Promise.all(
        Array.from({ length: callers }, async (_, i) => {
          await sleep(random() * 6);
          const bytes = round < 4 ? 10 : (i * 7) % 40;
          const controller = new AbortController();
          // Every seventh caller gives up while it waits; the others must not be affected.
          if (i % 7 === 3) setTimeout(() => controller.abort(new Error("gave up")), random() * 3);
          let dk: DataKey;
          try {
            dk = await cached.generateDataKey({ ...request(bytes), signal: controller.signal });
          } catch (error) {
            expect((error as Error).message).toBe("gave up");
            aborted++;
            return;
          }
          const hex = toHex(dk.plaintext);
          expect(hex).not.toBe("00".repeat(32));
          const use = uses.get(hex) ?? { messages: 0, bytes: 0 };
          use.messages++;
          use.bytes += bytes;
          uses.set(hex, use);
        }),
      );
      for (const use of uses.values()) {
        expect(use.messages, `round ${round}`).toBeLessThanOrEqual(maxMessages);
        expect(use.bytes, `round ${round}`).toBeLessThanOrEqual(maxBytes);
      }
      const served = callers - aborted;
      expect([...uses.values()].reduce((n, u) => n + u.messages, 0)).toBe(served);
      // Only the message limit binds in the first rounds: each key serves exactly maxMessages callers, the last
      // one possibly fewer (a caller that aborted may have used one of its messages).
      if (round < 4) expect(calls.generate).toBeLessThanOrEqual(Math.ceil(callers / maxMessages));
    }
  }, 30_000);
});

describe("cachingProvider: a hit racing an eviction", () => {
  it("never hands out a key the LRU wiped between looking it up and copying it", async () => {
    // Caller A hits "x" while caller B's fresh "y" is stored into a one-entry LRU, which evicts (and wipes) "x".
    // Every interleaving of the two, to the microtask: A must get x's key, intact, whatever B does meanwhile.
    const inner = rawKeyProvider({ keyId: "k1", key: new Uint8Array(32).fill(4) });
    const ticks = async (n: number) => {
      for (let i = 0; i < n; i++) await null;
    };
    // Keys made in advance, so that B's fetch completes after an exact number of microtasks (Web Crypto would
    // complete it in a later task, outside the window this test is about).
    const made = new Map<string, DataKey>();
    for (const t of ["x", "y"]) made.set(t, await inner.generateDataKey({ length: 32, context: { t } }));
    let delay = 0;
    const delayed: KeyProvider = {
      ...inner,
      providerId: inner.providerId,
      async generateDataKey(r) {
        await ticks(delay);
        const dk = made.get(r.context.t!)!;
        return { plaintext: dk.plaintext.slice(), encryptedDataKeys: dk.encryptedDataKeys };
      },
    };
    const req = (t: string) => request(1, { t });
    let checked = 0;
    for (let bDelay = 0; bDelay < 10; bDelay++) {
      for (let aStart = 0; aStart < 16; aStart++) {
        const cached = cachingProvider(delayed, { capacity: 1 });
        delay = 0;
        await cached.generateDataKey(req("y"));
        const first = await cached.generateDataKey(req("x"));
        const expected = toHex(first.plaintext);
        delay = bDelay;
        const [a] = await Promise.all([
          (async () => {
            await ticks(aStart);
            return cached.generateDataKey(req("x"));
          })(),
          cached.generateDataKey(req("y")),
        ]);
        // A either hit x's entry or (when x was evicted first) fetched a fresh key; either way the key matches its
        // encrypted data key, and it is never the wiped (zero) one.
        expect(
          a.plaintext.some((b) => b !== 0),
          `B after ${bDelay} ticks, A after ${aStart}`,
        ).toBe(true);
        const opened = await inner.decryptDataKey({
          encryptedDataKey: a.encryptedDataKeys[0]!,
          context: { t: "x" },
        });
        expect(toHex(opened)).toBe(toHex(a.plaintext));
        if (toHex(a.plaintext) === expected) checked++;
      }
    }
    // The interleavings did exercise the hit path.
    expect(checked).toBeGreaterThan(0);
  });
});

describe("cachingProvider: a provider that breaks its contract", () => {
  it("caches neither a missing result nor a key without encrypted data keys", async () => {
    let calls = 0;
    const { provider } = counted();
    const results: unknown[] = [
      undefined,
      { plaintext: new Uint8Array(32) },
      { plaintext: new Uint8Array(32), encryptedDataKeys: [] },
    ];
    const broken: KeyProvider = {
      ...provider,
      providerId: "raw",
      generateDataKey: async () => results[calls++ % results.length] as DataKey,
    };
    const cached = cachingProvider(broken);
    for (let i = 0; i < 6; i++) {
      await expect(cached.generateDataKey(request(1))).rejects.toMatchObject({
        code: "ERR_PROVIDER_UNAVAILABLE",
      });
    }
    expect(calls).toBe(6);
  });
});

describe("cachingProvider: decryption", () => {
  it("opens each encrypted data key once within the limits, concurrently too", async () => {
    const { provider, calls } = counted();
    const cached = cachingProvider(provider);
    const dk = await provider.generateDataKey({ length: 32, context });
    const edk = dk.encryptedDataKeys[0]!;
    const opened = await Promise.all(
      Array.from({ length: 20 }, () => cached.decryptDataKey({ encryptedDataKey: edk, context })),
    );
    for (let i = 0; i < 100; i++) await cached.decryptDataKey({ encryptedDataKey: edk, context });
    expect(calls.decrypt).toBe(1);
    expect(opened.every((k) => toHex(k) === toHex(dk.plaintext))).toBe(true);
  });

  it("does not reuse an opened key for another context or another ciphertext", async () => {
    const { provider, calls } = counted();
    const cached = cachingProvider(provider);
    const dk = await provider.generateDataKey({ length: 32, context });
    const edk = dk.encryptedDataKeys[0]!;
    await cached.decryptDataKey({ encryptedDataKey: edk, context });
    await expect(
      cached.decryptDataKey({ encryptedDataKey: edk, context: { tenant: "other" } }),
    ).rejects.toMatchObject({ code: "ERR_INVALID_CIPHERTEXT" });
    const tampered = new Uint8Array(edk.ciphertext);
    tampered[30]! ^= 1;
    await expect(
      cached.decryptDataKey({ encryptedDataKey: { ...edk, ciphertext: tampered }, context }),
    ).rejects.toMatchObject({ code: "ERR_INVALID_CIPHERTEXT" });
    expect(calls.decrypt).toBe(3);
  });

  it("expires opened keys by age", async () => {
    const { provider, calls } = counted();
    let time = 0;
    const cached = cachingProvider(provider, { maxAge: 1000, now: () => time });
    const dk = await provider.generateDataKey({ length: 32, context });
    await cached.decryptDataKey({ encryptedDataKey: dk.encryptedDataKeys[0]!, context });
    time = 1000;
    await cached.decryptDataKey({ encryptedDataKey: dk.encryptedDataKeys[0]!, context });
    expect(calls.decrypt).toBe(2);
  });
});

describe("cachingProvider: expired keys leave memory without being asked for again", () => {
  /** A raw provider that keeps every plaintext it hands out (which the default cache stores as it is). */
  function keeping() {
    const inner = rawKeyProvider({ keyId: "k1", key: new Uint8Array(32).fill(4) });
    const handed: Uint8Array[] = [];
    const provider: KeyProvider = {
      ...inner,
      providerId: inner.providerId,
      generateDataKey: async (r) => {
        const dk = await inner.generateDataKey(r);
        handed.push(dk.plaintext);
        return dk;
      },
      decryptDataKey: async (r) => {
        const plaintext = await inner.decryptDataKey(r);
        handed.push(plaintext);
        return plaintext;
      },
      canDecrypt: (k) => inner.canDecrypt(k),
    };
    return { provider, handed, inner };
  }
  const wiped = (bytes: Uint8Array) => bytes.every((b) => b === 0);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("wipes an expired encryption and decryption key with no further call (a background pass)", async () => {
    const { provider, handed, inner } = keeping();
    const cached = cachingProvider(provider, { maxAge: 40 });
    await cached.generateDataKey(request(1));
    const dk = await inner.generateDataKey({ length: 32, context });
    await cached.decryptDataKey({ encryptedDataKey: dk.encryptedDataKeys[0]!, context });
    expect(handed).toHaveLength(2);
    expect(handed.some(wiped)).toBe(false);
    await sleep(150);
    expect(handed.every(wiped)).toBe(true);
  });

  it("wipes expired entries at every call, whatever key the call is for", async () => {
    const { provider, handed } = keeping();
    let time = 1_000_000;
    const cached = cachingProvider(provider, { maxAge: 60_000, now: () => time });
    await cached.generateDataKey(request(1, { tenant: "a" }));
    time += 30_000;
    await cached.generateDataKey(request(1, { tenant: "b" }));
    time += 30_000; // "a" is now 60 s old, "b" 30 s
    await cached.generateDataKey(request(1, { tenant: "c" }));
    expect(handed.map(wiped)).toEqual([true, false, false]);
    time += 30_000;
    await cached.decryptDataKey({
      encryptedDataKey: (await cached.generateDataKey(request(1, { tenant: "c" }))).encryptedDataKeys[0]!,
      context: { tenant: "c" },
    });
    expect(handed.slice(0, 2).map(wiped)).toEqual([true, true]);
  });

  const nodeProcess = (globalThis as { process?: { getActiveResourcesInfo?: () => string[] } }).process;
  it.runIf(typeof nodeProcess?.getActiveResourcesInfo === "function")(
    "keeps no timer that holds the process open (Node: the timer is unref'd)",
    async () => {
      const timers = () => nodeProcess!.getActiveResourcesInfo!().filter((r) => r === "Timeout").length;
      const before = timers();
      const cache = memoryDataKeyCache({ maxAge: 60_000 });
      const plaintext = new Uint8Array(32).fill(1);
      await cache.set("k", {
        plaintext,
        encryptedDataKeys: [],
        createdAt: Date.now(),
        messages: 1,
        bytes: 0,
      });
      expect(timers()).toBe(before);
      // Yet the pass is armed: with a short age the key goes by itself.
      const short = memoryDataKeyCache({ maxAge: 20 });
      const other = new Uint8Array(32).fill(1);
      await short.set("k", {
        plaintext: other,
        encryptedDataKeys: [],
        createdAt: Date.now(),
        messages: 1,
        bytes: 0,
      });
      await sleep(100);
      expect(wiped(other)).toBe(true);
      expect(wiped(plaintext)).toBe(false);
      await cache.delete("k");
    },
  );

  it("memoryDataKeyCache: a used entry (its plaintext handed back as a copy) keeps its place by age", async () => {
    // cachingProvider puts each use back with the copy `get` gave it: same createdAt, another array.
    let time = 0;
    const cache = memoryDataKeyCache({ maxAge: 100, now: () => time });
    const entry = (plaintext: Uint8Array, createdAt: number) => ({
      plaintext,
      encryptedDataKeys: [],
      createdAt,
      messages: 1,
      bytes: 0,
    });
    await cache.set("a", entry(new Uint8Array(32).fill(1), 0));
    time = 40;
    await cache.set("b", entry(new Uint8Array(32).fill(2), 40));
    time = 50;
    const used = (await cache.get("a"))!;
    await cache.set("a", { ...used, messages: 2 });
    time = 100; // "a" is 100 ms old, "b" 60 ms
    await cache.get("c");
    expect(wiped(used.plaintext)).toBe(true);
    expect(await cache.get("b")).toBeDefined();
  });

  it("memoryDataKeyCache: an entry from a clock far ahead does not make the timer spin", async () => {
    vi.useFakeTimers();
    try {
      let calls = 0;
      const cache = memoryDataKeyCache({
        maxAge: 60_000,
        now: () => {
          calls++;
          return Date.now();
        },
      });
      const plaintext = new Uint8Array(32).fill(1);
      // 100 years ahead: the entry expires in 100 years, past what a timer can wait for (2^31 - 1 ms).
      const createdAt = Date.now() + 100 * 365 * 24 * 3600 * 1000;
      await cache.set("k", { plaintext, encryptedDataKeys: [], createdAt, messages: 1, bytes: 0 });
      calls = 0;
      await vi.advanceTimersByTimeAsync(10_000);
      expect(calls).toBe(0);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(calls).toBeLessThanOrEqual(2);
      expect(wiped(plaintext)).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it("memoryDataKeyCache: maxAge counts from createdAt, survives use, restarts with a new plaintext", async () => {
    let time = 0;
    const cache = memoryDataKeyCache({ maxAge: 100, now: () => time });
    const entry = (plaintext: Uint8Array, createdAt: number) => ({
      plaintext,
      encryptedDataKeys: [],
      createdAt,
      messages: 1,
      bytes: 0,
    });
    const first = new Uint8Array(32).fill(1);
    await cache.set("k", entry(first, 0));
    time = 60;
    // A use (same plaintext, same createdAt) does not make the entry younger.
    await cache.set("k", { ...entry(first, 0), messages: 2 });
    time = 99;
    expect((await cache.get("k"))?.messages).toBe(2);
    time = 100;
    expect(await cache.get("k")).toBeUndefined();
    expect(wiped(first)).toBe(true);
    // A new plaintext under the same key counts from its own createdAt.
    const second = new Uint8Array(32).fill(2);
    await cache.set("k", entry(second, 100));
    time = 150;
    expect(await cache.get("k")).toBeDefined();
    time = 200;
    await cache.get("other");
    expect(wiped(second)).toBe(true);
    expect(() => memoryDataKeyCache({ maxAge: 0 })).toThrow(RangeError);
    expect(() => memoryDataKeyCache({ maxAge: 1.5 })).toThrow(TypeError);
    expect(() => memoryDataKeyCache({ now: 5 as unknown as () => number })).toThrow(TypeError);
  });
});

describe("cachingProvider: memory under hostile envelopes", () => {
  // The heap of this process after a full garbage collection (Node's v8 and vm, reached without importing node:*,
  // since core's sources and tests compile against web types only).
  const nodeProcess = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const heapAfterGc = (): number => {
    const v8 = nodeProcess!.getBuiltinModule!("node:v8") as {
      setFlagsFromString(flags: string): void;
      getHeapStatistics(): { used_heap_size: number };
    };
    const vm = nodeProcess!.getBuiltinModule!("node:vm") as { runInNewContext(code: string): () => void };
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc");
    gc();
    gc();
    return v8.getHeapStatistics().used_heap_size;
  };

  it.runIf(typeof nodeProcess?.getBuiltinModule === "function")(
    "keeps no copy of the encrypted data keys and contexts of envelopes that fail to open",
    async () => {
      // An envelope may carry a 65,535-byte encrypted data key and a context of control characters (JSON
      // escapes each one in six characters). A service decrypting uploads through a caching provider must not
      // keep hundreds of kilobytes per envelope it was shown: workerd gives an isolate 128 MB.
      const { provider, calls } = counted();
      const cached = cachingProvider(provider);
      const context = { note: "\u0001".repeat(20_000) };
      const attempt = async (i: number) => {
        const ciphertext = new Uint8Array(60_000);
        new DataView(ciphertext.buffer).setUint32(0, i);
        await expect(
          cached.decryptDataKey({
            encryptedDataKey: { providerId: "raw", keyId: "k1", ciphertext },
            context,
          }),
        ).rejects.toMatchObject({ code: "ERR_INVALID_CIPHERTEXT" });
      };
      await attempt(0);
      const before = heapAfterGc();
      for (let i = 1; i <= 200; i++) await attempt(i);
      const grown = heapAfterGc() - before;
      expect(calls.decrypt).toBe(201);
      // 200 such envelopes: about 55 MB when each lookup's text is remembered; well under 8 MB otherwise.
      expect(grown).toBeLessThan(8 * 1024 * 1024);
    },
  );
});

describe("DataKeyCache backed by something else", () => {
  it("works over a store that serializes entries (as Redis would)", async () => {
    const store = new Map<string, string>();
    const remote: DataKeyCache = {
      async get(key) {
        const raw = store.get(key);
        if (!raw) return undefined;
        const e = JSON.parse(raw);
        return {
          ...e,
          plaintext: Uint8Array.from(e.plaintext),
          encryptedDataKeys: e.encryptedDataKeys.map((k: { ciphertext: number[] }) => ({
            ...k,
            ciphertext: Uint8Array.from(k.ciphertext),
          })),
        };
      },
      async set(key, entry) {
        store.set(
          key,
          JSON.stringify({
            ...entry,
            plaintext: [...entry.plaintext],
            encryptedDataKeys: entry.encryptedDataKeys.map((k) => ({ ...k, ciphertext: [...k.ciphertext] })),
          }),
        );
      },
      async delete(key) {
        store.delete(key);
      },
    };
    const { provider, calls } = counted();
    const a = cachingProvider(provider, { cache: remote, partition: "p", maxMessages: 10 });
    const b = cachingProvider(provider, { cache: remote, partition: "p", maxMessages: 10 });
    for (let i = 0; i < 5; i++) {
      await a.generateDataKey(request(1));
      await b.generateDataKey(request(1));
    }
    expect(calls.generate).toBe(1);
    await a.generateDataKey(request(1));
    expect(calls.generate).toBe(2);
    // The store never sees the context in clear.
    expect([...store.keys()].every((k) => /^[0-9a-f]{64}$/.test(k))).toBe(true);
    expect([...store.values()].join("")).not.toContain("acme");
  });
});
