// decryptStream as a careless or hostile pipeline meets it: consumers that cancel, sources that fail, writers that
// reuse their buffer, tiny chunks under large frames. The content cipher is wrapped (not replaced) to see disposal.

import {
  concatBytes,
  equalBytes,
  type KeyProvider,
  parseHeader,
  rawKeyProvider,
  type SuiteName,
} from "@sealkit/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { decryptRange } from "./decrypt-range.js";
import { decryptStream } from "./decrypt-stream.js";
import { encrypt } from "./encrypt.js";
import { encryptStream } from "./encrypt-stream.js";
import { getSodium } from "./lib/sodium.js";
import { ciphers } from "./testing/content-cipher-spy.js";
import { readAll } from "./testing/read-all.js";

vi.mock("./lib/content-cipher.js", async (importOriginal) =>
  (await import("./testing/content-cipher-spy.js")).spyOnContentCiphers(await importOriginal()),
);

const SUITES: SuiteName[] = ["XCHACHA20_POLY1305", "AES_256_GCM"];
const provider = () => rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(5) });
const tick = () => new Promise((resolve) => setTimeout(resolve, 20));
/** Resolves once `condition()` holds (polled every 5 ms), or fails after 5 s. */
async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 5000) throw new Error("condition not met within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
const MARK = new TextEncoder().encode("SEALKIT-TEST-PLAINTEXT-MARK-");

/** A plaintext made of MARK repeated, so that leftovers are easy to find in the WASM heap. */
function marked(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = MARK[i % MARK.length]!;
  return out;
}

function countMarks(heap: Uint8Array): number {
  let n = 0;
  for (let i = heap.indexOf(MARK[0]!); i !== -1 && i + MARK.length <= heap.length; ) {
    let j = 1;
    while (j < MARK.length && heap[i + j] === MARK[j]) j++;
    if (j === MARK.length) n++;
    i = heap.indexOf(MARK[0]!, i + 1);
  }
  return n;
}

/** An envelope of 32 frames (more than AES-GCM keeps in flight); the ciphers encryption made are not counted. */
async function sealed(suite: SuiteName): Promise<Uint8Array> {
  const envelope = await encrypt(marked(2000), { providers: [provider()], suite, frameSize: 64 });
  ciphers.reset();
  return envelope;
}

afterEach(() => ciphers.reset());

describe("decryptStream disposes the content cipher however the stream ends", () => {
  for (const suite of SUITES) {
    it(`${suite}: when the consumer cancels after the first frame`, async () => {
      const envelope = await sealed(suite);
      const stream = decryptStream({ providers: [provider()] });
      const writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      writer.write(envelope.subarray(0, envelope.length - 30)).catch(() => {});
      const first = await reader.read();
      expect(first.value?.length).toBeGreaterThan(0);
      await reader.cancel("not interested");
      await tick();
      expect(ciphers.created).toBe(1);
      expect(ciphers.live).toBe(0);
    });

    it(`${suite}: when the source errors mid-way (pipeThrough)`, async () => {
      const envelope = await sealed(suite);
      let sent = false;
      const source = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent) controller.error(new Error("connection reset"));
          else controller.enqueue(envelope.slice(0, envelope.length - 30));
          sent = true;
        },
      });
      const reader = source.pipeThrough(decryptStream({ providers: [provider()] })).getReader();
      await expect(
        (async () => {
          for (;;) if ((await reader.read()).done) return;
        })(),
      ).rejects.toThrow("connection reset");
      await tick();
      expect(ciphers.created).toBe(1);
      expect(ciphers.live).toBe(0);
    });

    it(`${suite}: when the writer aborts`, async () => {
      const envelope = await sealed(suite);
      const stream = decryptStream({ providers: [provider()] });
      const writer = stream.writable.getWriter();
      stream.readable.pipeTo(new WritableStream()).catch(() => {});
      await writer.write(envelope.subarray(0, 600));
      await writer.abort(new Error("gave up"));
      await tick();
      expect(ciphers.created).toBe(1);
      expect(ciphers.live).toBe(0);
    });

    it(`${suite}: when the consumer cancels while the data key is still being opened`, async () => {
      const envelope = await sealed(suite);
      const inner = provider();
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let asked = false;
      const slow: KeyProvider = {
        ...inner,
        providerId: inner.providerId,
        async decryptDataKey(request) {
          asked = true;
          // A key service that does not heed the abort: it answers anyway, after the stream was cancelled.
          await gate;
          const { signal: _ignored, ...rest } = request;
          return inner.decryptDataKey(rest);
        },
        canDecrypt: (edk) => inner.canDecrypt(edk),
      };
      const stream = decryptStream({ providers: [slow] });
      const writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      writer.write(envelope.subarray(0, 500)).catch(() => {});
      // A pending read relieves the backpressure, so the header reaches the transform and the provider is asked.
      const reading = reader.read();
      // Waits for conditions, not fixed delays: the machine may be busy.
      await until(() => asked);
      await reader.cancel("not interested");
      expect((await reading).done).toBe(true);
      release();
      await until(() => ciphers.created === 1);
      await tick();
      expect(ciphers.created).toBe(1);
      expect(ciphers.live).toBe(0);
    });
  }

  describe("AES_256_GCM: frames decrypted but never handed on are wiped", () => {
    const allZero = (bytes: Uint8Array) => bytes.every((b) => b === 0);

    /**
     * Starts decrypting `envelope` with frame 1 released at once and every later frame held (decrypted and verified, then
     * kept in flight) until `release` is called; returns once frame 1 was read.
     */
    async function started(envelope: Uint8Array, decrypted: number) {
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      ciphers.gate = (index) => (index === 1 ? Promise.resolve() : held);
      const stream = decryptStream({ providers: [provider()] });
      stream.writable
        .getWriter()
        .write(envelope)
        .catch(() => {});
      const reader = stream.readable.getReader();
      const first = await reader.read();
      const others = () => [...ciphers.opened].filter((b) => b !== first.value);
      // Wait until `decrypted` frames after the first hold their plaintext (decrypted, verified, held in flight).
      await until(() => others().filter((b) => !allZero(b)).length >= decrypted);
      return { reader, first: first.value!, inFlight: others(), release };
    }

    it("when the consumer cancels mid-stream", async () => {
      const envelope = await sealed("AES_256_GCM");
      const { reader, first, inFlight, release } = await started(envelope, 8);
      expect(first).toEqual(marked(64));
      // Frames 2 to 9 (the AES-GCM window once frame 1 went out) hold plaintext, verified but not handed on.
      expect(inFlight).toHaveLength(8);
      await reader.cancel("not interested");
      release();
      await tick();
      for (const buffer of inFlight) expect(allZero(buffer)).toBe(true);
      // What the consumer received is the consumer's.
      expect(first).toEqual(marked(64));
      expect(ciphers.live).toBe(0);
    });

    it("when a later frame fails to authenticate", async () => {
      const envelope = await sealed("AES_256_GCM");
      const headerLength = parseHeader(envelope).length;
      envelope[headerLength + 2 * 81 - 1]! ^= 1; // the tag of frame 2
      const { reader, first, inFlight, release } = await started(envelope, 7);
      expect(first).toEqual(marked(64));
      await expect(reader.read()).rejects.toMatchObject({ code: "ERR_AUTHENTICATION_FAILED" });
      // Frames 3 to 9 were decrypted (and are held) when frame 2 failed.
      expect(inFlight.filter((b) => !allZero(b))).toHaveLength(7);
      release();
      await tick();
      for (const buffer of inFlight) expect(allZero(buffer)).toBe(true);
      expect(first).toEqual(marked(64));
    });
  });

  it("AES_256_GCM: every plaintext Web Crypto returns is the chunk handed on: no second copy to wipe", async () => {
    const envelope = await sealed("AES_256_GCM");
    const returned: ArrayBuffer[] = [];
    const subtle = crypto.subtle;
    const decryptOriginal = subtle.decrypt;
    subtle.decrypt = async function (this: SubtleCrypto, ...args: Parameters<SubtleCrypto["decrypt"]>) {
      const out = await decryptOriginal.apply(this, args);
      // Frames of this envelope: 64 bytes, the last 16 (the provider's unwrap gives the 32-byte data key).
      if (out.byteLength !== 32) returned.push(out);
      return out;
    };
    const received: Uint8Array[] = [];
    try {
      const stream = decryptStream({ providers: [provider()] });
      const writer = stream.writable.getWriter();
      writer.write(envelope).catch(() => {});
      writer.close().catch(() => {});
      const reader = stream.readable.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received.push(value);
      }
    } finally {
      subtle.decrypt = decryptOriginal;
    }
    expect(concatBytes(...received)).toEqual(marked(2000));
    // Each frame went out as Web Crypto returned it.
    expect(returned).toHaveLength(32);
    for (const buffer of returned) expect(received.some((chunk) => chunk.buffer === buffer)).toBe(true);
  });

  it("XCHACHA20_POLY1305: a cancelled stream leaves no plaintext in the WASM heap", async () => {
    const envelope = await sealed("XCHACHA20_POLY1305");
    const ctx = await getSodium();
    ctx.wipeRegion("data");
    expect(countMarks(ctx.heap())).toBe(0);
    const stream = decryptStream({ providers: [provider()] });
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    writer.write(envelope.subarray(0, envelope.length - 30)).catch(() => {});
    await reader.read();
    await reader.cancel("not interested");
    await tick();
    expect(countMarks(ctx.heap())).toBe(0);
  });
});

describe("decryptStream wipes the final frame it holds until the input ends", () => {
  for (const suite of SUITES) {
    for (const ending of ["the consumer cancels", "a byte follows the final frame"] as const) {
      it(`${suite}: when ${ending}`, async () => {
        const envelope = await sealed(suite);
        const stream = decryptStream({ providers: [provider()] });
        const writer = stream.writable.getWriter();
        const reader = stream.readable.getReader();
        const received: Uint8Array[] = [];
        const regular = 31 * 64;
        writer.write(envelope).catch(() => {});
        for (let got = 0; got < regular; ) {
          const { value } = await reader.read();
          received.push(value!);
          got += value!.length;
        }
        // Every frame is open, the final one included: held, not handed on.
        await until(() => ciphers.opened.size === 32);
        const held = [...ciphers.opened].filter((buffer) => !received.includes(buffer));
        expect(held).toHaveLength(1);
        expect(held[0]!.length).toBe(2000 - regular);
        if (ending === "the consumer cancels") await reader.cancel("not interested");
        else {
          writer.write(new Uint8Array([0])).catch(() => {});
          await expect(reader.read()).rejects.toMatchObject({ code: "ERR_ENVELOPE_MALFORMED" });
        }
        await until(() => held[0]!.every((b) => b === 0));
        expect(ciphers.live).toBe(0);
      });
    }
  }
});

describe("decryptStream input handling", () => {
  for (const suite of SUITES) {
    it(`${suite}: accepts a writer that reuses one buffer for every chunk once each write resolved`, async () => {
      const plaintext = marked(5000);
      const envelope = await encrypt(plaintext, { providers: [provider()], suite, frameSize: 1024 });
      const stream = decryptStream({ providers: [provider()] });
      const reading = readAll(stream.readable);
      const writer = stream.writable.getWriter();
      const buffer = new Uint8Array(300);
      for (let at = 0; at < envelope.length; at += buffer.length) {
        const n = Math.min(buffer.length, envelope.length - at);
        buffer.set(envelope.subarray(at, at + n));
        await writer.write(buffer.subarray(0, n));
      }
      await writer.close();
      expect(equalBytes(await reading, plaintext)).toBe(true);
    });
  }

  it("copies each input byte a bounded number of times, however small the chunks are next to the frame", async () => {
    // A frame of 256 KiB fed in 1 KiB chunks: merging the whole buffered part of a frame at every chunk copies
    // about frameSize / (2 * chunk) = 128 times each byte; assembling each frame once copies it about once.
    const frameSize = 256 * 1024;
    const plaintext = marked(2 * frameSize + 100);
    const envelope = await encrypt(plaintext, { providers: [provider()], frameSize });
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < envelope.length; at += 1024) chunks.push(envelope.slice(at, at + 1024));
    const set = Uint8Array.prototype.set;
    let copied = 0;
    Uint8Array.prototype.set = function (this: Uint8Array, source: ArrayLike<number>, offset?: number) {
      copied += source.length;
      return set.call(this, source, offset);
    };
    let output: Uint8Array;
    try {
      const source = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = chunks.shift();
          if (next) controller.enqueue(next);
          else controller.close();
        },
      });
      const parts: Uint8Array[] = [];
      const reader = source.pipeThrough(decryptStream({ providers: [provider()] })).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
      }
      output = concatBytes(...parts);
    } finally {
      Uint8Array.prototype.set = set;
    }
    expect(equalBytes(output, plaintext)).toBe(true);
    expect(copied / envelope.length).toBeLessThan(8);
  });
});

describe("writes of one byte", () => {
  for (const suite of SUITES) {
    it(`${suite}: a 64 KiB frame written a byte at a time takes linear time through both streams`, async () => {
      // Each write was copied into its own array and every write scanned all of them: 30 s per stream for this.
      const plaintext = marked(65_536 + 100);
      const through = async (stream: TransformStream<Uint8Array, Uint8Array>, input: Uint8Array) => {
        const writer = stream.writable.getWriter();
        const reading = readAll(stream.readable);
        for (let i = 0; i < input.length; i++) await writer.write(input.subarray(i, i + 1));
        await writer.close();
        return reading;
      };
      const envelope = await through(encryptStream({ providers: [provider()], suite }), plaintext);
      expect(equalBytes(await through(decryptStream({ providers: [provider()] }), envelope), plaintext)).toBe(
        true,
      );
    }, 20_000);
  }
});

describe("decryptStream liveness", () => {
  for (const suite of SUITES) {
    it(`${suite}: releases authenticated frames while the writer pauses, without waiting for more input`, async () => {
      // 3 whole frames of 64 bytes and part of a fourth; AES-GCM keeps up to 8 frames in flight.
      const plaintext = marked(1000);
      const envelope = await encrypt(plaintext, { providers: [provider()], suite, frameSize: 64 });
      const headerLength = envelope.length - (15 * 81 + 21 + 40);
      const stream = decryptStream({ providers: [provider()] });
      const writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      writer.write(envelope.slice(0, headerLength + 3 * 81 + 10)).catch(() => {});
      const received: Uint8Array[] = [];
      let total = 0;
      const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 2000));
      while (total < 3 * 64) {
        const next = await Promise.race([reader.read(), timeout]);
        if (next === "timeout" || next.done) break;
        received.push(next.value);
        total += next.value.length;
      }
      expect(total).toBe(3 * 64);
      expect(equalBytes(concatBytes(...received), plaintext.subarray(0, 3 * 64))).toBe(true);
      await reader.cancel();
    });
  }
});

describe("decryptStream stops the provider call it no longer needs", () => {
  it("aborts the data key request when the consumer cancels", async () => {
    const envelope = await sealed("XCHACHA20_POLY1305");
    const inner = provider();
    let seen: AbortSignal | undefined;
    const hanging: KeyProvider = {
      ...inner,
      providerId: inner.providerId,
      decryptDataKey(request) {
        seen = request.signal;
        // A key service that answers only when told to stop.
        return new Promise((_, reject) => {
          request.signal?.addEventListener("abort", () => reject(request.signal!.reason), { once: true });
        });
      },
      canDecrypt: (edk) => inner.canDecrypt(edk),
    };
    const stream = decryptStream({ providers: [hanging] });
    stream.writable
      .getWriter()
      .write(envelope.subarray(0, 500))
      .catch(() => {});
    const reader = stream.readable.getReader();
    const reading = reader.read();
    await tick();
    expect(seen?.aborted).toBe(false);
    await reader.cancel(new Error("not interested"));
    await reading;
    expect(seen?.aborted).toBe(true);
    // The caller's own signal still reaches the provider.
    const controller = new AbortController();
    const own = decryptStream({ providers: [hanging], signal: controller.signal });
    own.writable
      .getWriter()
      .write(envelope.subarray(0, 500))
      .catch(() => {});
    const ownReader = own.readable.getReader();
    const failed = ownReader.read().catch((error: unknown) => error);
    await tick();
    controller.abort(new Error("caller gave up"));
    expect(await failed).toMatchObject({ message: "caller gave up" });
    await tick();
    expect(ciphers.live).toBe(0);
  });
});

describe("decryptStream errors while the writer pauses", () => {
  it("AES_256_GCM: a damaged frame errors the stream at once, after the intact frames before it", async () => {
    const plaintext = marked(1000);
    const envelope = await encrypt(plaintext, {
      providers: [provider()],
      suite: "AES_256_GCM",
      frameSize: 64,
    });
    const headerLength = envelope.length - (15 * 81 + 21 + 40);
    envelope[headerLength + 81 + 30]! ^= 1; // inside frame 2
    const stream = decryptStream({ providers: [provider()] });
    stream.writable
      .getWriter()
      .write(envelope.slice(0, headerLength + 4 * 81))
      .catch(() => {});
    const reader = stream.readable.getReader();
    const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 2000));
    const first = await Promise.race([reader.read(), timeout]);
    expect(first !== "timeout" && !first.done && equalBytes(first.value, plaintext.subarray(0, 64))).toBe(
      true,
    );
    const second = await Promise.race([reader.read().catch((error: unknown) => ({ error })), timeout]);
    expect(second).toMatchObject({ error: { code: "ERR_AUTHENTICATION_FAILED" } });
  });

  for (const suite of SUITES) {
    it(`${suite}: a damaged final frame errors the stream at once, though the final frame waits for the input's end`, async () => {
      const envelope = await encrypt(marked(1000), { providers: [provider()], suite, frameSize: 64 });
      envelope[envelope.length - 3]! ^= 1; // the final frame's tag
      const stream = decryptStream({ providers: [provider()] });
      // The whole envelope, and the input left open.
      stream.writable
        .getWriter()
        .write(envelope)
        .catch(() => {});
      const reader = stream.readable.getReader();
      const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 3000));
      const ended = (async () => {
        let released = 0;
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return { released };
            released += value.length;
          }
        } catch (error) {
          return { released, error };
        }
      })();
      const outcome = await Promise.race([ended, timeout]);
      expect(outcome).toMatchObject({ error: { code: "ERR_AUTHENTICATION_FAILED" } });
      // Frames still queued when the stream errors are dropped by the stream itself: at most the 15 regular ones came.
      expect((outcome as { released: number }).released).toBeLessThanOrEqual(15 * 64);
    });
  }
});

describe("decryptStream and decryptRange options", () => {
  it("refuse maxEncryptedDataKeys out of range at once, before reading any input", async () => {
    for (const bad of [0, 65_536, -1]) {
      expect(() => decryptStream({ providers: [provider()], maxEncryptedDataKeys: bad })).toThrow(RangeError);
      let reads = 0;
      const source = {
        size: 1000,
        async read(_offset: number, length: number) {
          reads++;
          return new Uint8Array(length);
        },
      };
      await expect(
        decryptRange(source, { providers: [provider()], start: 0, end: 1, maxEncryptedDataKeys: bad }),
      ).rejects.toThrow(RangeError);
      expect(reads).toBe(0);
    }
    expect(() => decryptStream({ providers: [provider()], maxEncryptedDataKeys: 1.5 })).toThrow(TypeError);
  });
});
