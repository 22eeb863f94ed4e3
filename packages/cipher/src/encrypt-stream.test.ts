// encryptStream as real pipelines meet it: writers that reuse their buffer, consumers that cancel, sources that
// fail. The content cipher is wrapped (not replaced) to see that its key is disposed however the stream ends.

import { equalBytes, type KeyProvider, rawKeyProvider, type SuiteName } from "@sealkit/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { decrypt } from "./decrypt.js";
import { encryptStream } from "./encrypt-stream.js";
import { ciphers } from "./testing/content-cipher-spy.js";
import { readAll } from "./testing/read-all.js";

vi.mock("./lib/content-cipher.js", async (importOriginal) =>
  (await import("./testing/content-cipher-spy.js")).spyOnContentCiphers(await importOriginal()),
);

const SUITES: SuiteName[] = ["XCHACHA20_POLY1305", "AES_256_GCM"];
const provider = () => rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(6) });
const tick = () => new Promise((resolve) => setTimeout(resolve, 20));
/**
 * The one content cipher created has been disposed. Polled, not after one fixed tick: AES-GCM's key import is Web
 * Crypto work off the main thread, which on a loaded machine took longer than 20 ms and failed the check.
 */
const disposed = () =>
  vi.waitFor(
    () => {
      expect(ciphers.created).toBe(1);
      expect(ciphers.live).toBe(0);
    },
    { timeout: 5000, interval: 10 },
  );

function pattern(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + (i >> 8)) & 0xff;
  return out;
}

afterEach(() => ciphers.reset());

describe("encryptStream input handling", () => {
  for (const suite of SUITES) {
    for (const [chunk, frameSize] of [
      [1000, 65536],
      [65536, 65536],
      [100, 64],
    ] as const) {
      it(`${suite}: a writer reusing one ${chunk}-byte buffer (frames of ${frameSize}) gets its own plaintext back`, async () => {
        const plaintext = pattern(200_000);
        const stream = encryptStream({ providers: [provider()], suite, frameSize });
        const reading = readAll(stream.readable);
        const writer = stream.writable.getWriter();
        const buffer = new Uint8Array(chunk);
        for (let at = 0; at < plaintext.length; at += chunk) {
          const n = Math.min(chunk, plaintext.length - at);
          buffer.set(plaintext.subarray(at, at + n));
          await writer.write(buffer.subarray(0, n));
        }
        await writer.close();
        const opened = await decrypt(await reading, { providers: [provider()] });
        expect(equalBytes(opened.plaintext, plaintext)).toBe(true);
      });
    }
  }
});

describe("encryptStream leaves no copy of the plaintext behind", () => {
  for (const suite of SUITES) {
    it(`${suite}: the copies it made of held-back and frame-spanning bytes are zeroed once sealed`, async () => {
      // No zero byte in the plaintext: a copy that was wiped is all zeros, one that was not is not.
      const plaintext = pattern(2_000).map((b) => b | 1);
      const written: Uint8Array[] = [];
      const stream = encryptStream({ providers: [provider()], suite, frameSize: 64 });
      const reading = readAll(stream.readable);
      const writer = stream.writable.getWriter();
      // Chunks of 100 bytes in frames of 64: most frames span two chunks, and every write leaves bytes held back.
      for (let at = 0; at < plaintext.length; at += 100) {
        const chunk = plaintext.slice(at, at + 100);
        written.push(chunk);
        await writer.write(chunk);
      }
      await writer.close();
      // Wiping right after the seal call is safe: Web Crypto copies its input before encrypt() returns.
      const opened = await decrypt(await reading, { providers: [provider()] });
      expect(equalBytes(opened.plaintext, plaintext)).toBe(true);
      const own = new Set(written.map((chunk) => chunk.buffer));
      const copies = ciphers.sealed.filter((bytes) => !own.has(bytes.buffer));
      expect(copies.length).toBeGreaterThan(10);
      for (const copy of copies) expect(copy.every((b) => b === 0)).toBe(true);
      // The caller's own chunks are the caller's: untouched.
      for (let i = 0; i < written.length; i++) {
        expect(equalBytes(written[i]!, plaintext.subarray(i * 100, i * 100 + 100))).toBe(true);
      }
    });
  }
});

describe("encryptStream disposes the content cipher however the stream ends", () => {
  for (const suite of SUITES) {
    it(`${suite}: when the consumer cancels after the header`, async () => {
      const stream = encryptStream({ providers: [provider()], suite, frameSize: 64 });
      const writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      writer.write(pattern(1000)).catch(() => {});
      expect((await reader.read()).value?.length).toBeGreaterThan(0);
      await reader.cancel("not interested");
      await disposed();
    });

    it(`${suite}: when the source errors mid-way (pipeThrough)`, async () => {
      let sent = 0;
      const source = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 3) controller.enqueue(pattern(100));
          else controller.error(new Error("disk gone"));
        },
      });
      const reader = source
        .pipeThrough(encryptStream({ providers: [provider()], suite, frameSize: 64 }))
        .getReader();
      await expect(
        (async () => {
          for (;;) if ((await reader.read()).done) return;
        })(),
      ).rejects.toThrow("disk gone");
      await disposed();
    });

    it(`${suite}: when the consumer cancels while the data key is still being generated`, async () => {
      const inner = provider();
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const slow: KeyProvider = {
        ...inner,
        providerId: inner.providerId,
        async generateDataKey(request) {
          // A key service that does not heed the abort: it answers anyway, after the stream was cancelled.
          await gate;
          const { signal: _ignored, ...rest } = request;
          return inner.generateDataKey(rest);
        },
        canDecrypt: (edk) => inner.canDecrypt(edk),
      };
      const stream = encryptStream({ providers: [slow], suite });
      const reader = stream.readable.getReader();
      const reading = reader.read();
      await tick();
      await reader.cancel("not interested");
      await reading.catch(() => {});
      release();
      await disposed();
    });
  }
});

describe("encryptStream stops the provider call it no longer needs", () => {
  it("aborts the data key request when the consumer cancels", async () => {
    const inner = provider();
    let seen: AbortSignal | undefined;
    const hanging: KeyProvider = {
      ...inner,
      providerId: inner.providerId,
      generateDataKey(request) {
        seen = request.signal;
        return new Promise((_, reject) => {
          request.signal?.addEventListener("abort", () => reject(request.signal!.reason), { once: true });
        });
      },
      canDecrypt: (edk) => inner.canDecrypt(edk),
    };
    const stream = encryptStream({ providers: [hanging] });
    const reader = stream.readable.getReader();
    const reading = reader.read().catch(() => {});
    await tick();
    expect(seen?.aborted).toBe(false);
    await reader.cancel(new Error("not interested"));
    await reading;
    expect(seen?.aborted).toBe(true);
  });
});

describe("encryptStream liveness", () => {
  for (const suite of SUITES) {
    it(`${suite}: releases every sealed frame while the writer pauses, without waiting for more input`, async () => {
      // Ten frames of 64 bytes and 5 more: ten regular frames can be sealed now (AES-GCM keeps up to 8 in flight).
      const stream = encryptStream({ providers: [provider()], suite, frameSize: 64 });
      const writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      writer.write(pattern(10 * 64 + 5)).catch(() => {});
      const header = await reader.read();
      expect(header.done).toBe(false);
      let total = 0;
      const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 2000));
      while (total < 10 * 81) {
        const next = await Promise.race([reader.read(), timeout]);
        if (next === "timeout" || next.done) break;
        total += next.value.length;
      }
      expect(total).toBe(10 * 81);
      await reader.cancel();
    });
  }
});
