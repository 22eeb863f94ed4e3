// Suite: encryptStream and decryptStream: round trips over many chunkings, agreement with one-shot, and that a
// damaged envelope releases no plaintext of the damaged frame.

import { concatBytes, parseHeader, SealkitError } from "@sealkit/core";
import { boundarySizes, frameOrders, reorderFrames, SUITE_NAMES, testProvider } from "./envelope.js";
import {
  AssertionFailed,
  assert,
  assertEqualBytes,
  type Cipher,
  expectCode,
  expectThrows,
  type TestCase,
  testBytes,
} from "./harness.js";

/** What a stream produced before it ended or failed. */
export interface StreamOutcome {
  readonly output: Uint8Array;
  readonly error?: unknown;
}

/**
 * Feeds `stream` with `write` while collecting what comes out; the first failure of either side is the outcome's
 * error.
 */
async function drive(
  stream: TransformStream<Uint8Array, Uint8Array>,
  write: (writer: WritableStreamDefaultWriter<Uint8Array>) => Promise<void>,
): Promise<StreamOutcome> {
  const parts: Uint8Array[] = [];
  const reading = (async () => {
    const reader = stream.readable.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parts.push(value);
    }
  })();
  const writing = (async () => {
    const writer = stream.writable.getWriter();
    await write(writer);
    await writer.close();
  })();
  const [read, written] = await Promise.allSettled([reading, writing]);
  const error =
    read.status === "rejected" ? read.reason : written.status === "rejected" ? written.reason : undefined;
  return error === undefined ? { output: concatBytes(...parts) } : { output: concatBytes(...parts), error };
}

/** Writes `input` in chunks of `chunkSize` (0: one chunk) through `stream` and collects what comes out. */
export function runThrough(
  stream: TransformStream<Uint8Array, Uint8Array>,
  input: Uint8Array,
  chunkSize = 0,
): Promise<StreamOutcome> {
  return drive(stream, async (writer) => {
    const step = chunkSize || Math.max(input.length, 1);
    for (let i = 0; i < input.length; i += step) await writer.write(input.subarray(i, i + step));
  });
}

/** Writes `input` through `stream` from one buffer that is refilled for every chunk once the write resolved. */
function runReusingBuffer(
  stream: TransformStream<Uint8Array, Uint8Array>,
  input: Uint8Array,
  chunkSize: number,
): Promise<StreamOutcome> {
  return drive(stream, async (writer) => {
    const buffer = new Uint8Array(chunkSize);
    for (let i = 0; i < input.length; i += chunkSize) {
      const n = Math.min(chunkSize, input.length - i);
      buffer.set(input.subarray(i, i + n));
      await writer.write(buffer.subarray(0, n));
    }
  });
}

/** Reads from `reader` until `length` bytes came or `ms` passed without the stream ending; returns the count. */
async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  length: number,
  ms: number,
): Promise<number> {
  const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), ms));
  let total = 0;
  while (total < length) {
    const next = await Promise.race([reader.read(), timeout]);
    if (next === "timeout" || next.done) break;
    total += next.value.length;
  }
  return total;
}

function expectFailed(
  outcome: StreamOutcome,
  plaintext: Uint8Array,
  maxReleased: number,
  label: string,
): void {
  if (outcome.error === undefined) throw new AssertionFailed(`${label}: stream did not fail`);
  if (!SealkitError.isInstance(outcome.error)) {
    throw new AssertionFailed(`${label}: expected a SealkitError, got ${String(outcome.error)}`);
  }
  if (outcome.output.length > maxReleased) {
    throw new AssertionFailed(
      `${label}: released ${outcome.output.length} bytes, at most ${maxReleased} allowed`,
    );
  }
  assertEqualBytes(
    outcome.output,
    plaintext.subarray(0, outcome.output.length),
    `${label}: released a prefix`,
  );
}

export function streamCases(cipher: Cipher): TestCase[] {
  const { encrypt, decrypt, encryptStream, decryptStream } = cipher;
  const providers = [testProvider()];
  const cases: TestCase[] = [];

  for (const suite of SUITE_NAMES) {
    cases.push({
      name: `${suite}: stream round trips around frame boundaries, in chunks of 1, 7, 64 and whole`,
      async run() {
        const frameSize = 64;
        for (const size of boundarySizes(frameSize)) {
          const plaintext = testBytes(size, size + 3);
          for (const chunk of [1, 7, 64, 0]) {
            const sealed = await runThrough(encryptStream({ providers, suite, frameSize }), plaintext, chunk);
            assert(
              sealed.error === undefined,
              `encrypt size ${size} chunk ${chunk}: ${String(sealed.error)}`,
            );
            const oneShot = await decrypt(sealed.output, { providers });
            assertEqualBytes(oneShot.plaintext, plaintext, `one-shot of stream, size ${size} chunk ${chunk}`);
            const opened = await runThrough(decryptStream({ providers }), sealed.output, chunk);
            assert(
              opened.error === undefined,
              `decrypt size ${size} chunk ${chunk}: ${String(opened.error)}`,
            );
            assertEqualBytes(opened.output, plaintext, `stream of stream, size ${size} chunk ${chunk}`);
          }
          // A one-shot envelope decrypts as a stream too, and has the same length as a streamed one.
          const sealed = await encrypt(plaintext, { providers, suite, frameSize });
          const opened = await runThrough(decryptStream({ providers }), sealed, 5);
          assertEqualBytes(opened.output, plaintext, `stream of one-shot, size ${size}`);
        }
      },
    });
    cases.push({
      name: `${suite}: writers that reuse one buffer get their bytes back; a writer that pauses gets every finished frame at once`,
      async run() {
        const frameSize = 64;
        const plaintext = testBytes(5000, 9);
        for (const chunk of [100, 1000]) {
          const sealed = await runReusingBuffer(
            encryptStream({ providers, suite, frameSize }),
            plaintext,
            chunk,
          );
          assert(sealed.error === undefined, `encrypt, reused ${chunk}-byte buffer: ${String(sealed.error)}`);
          const oneShot = await decrypt(sealed.output, { providers });
          assertEqualBytes(oneShot.plaintext, plaintext, `encrypt, reused ${chunk}-byte buffer`);
          const opened = await runReusingBuffer(decryptStream({ providers }), sealed.output, chunk);
          assert(opened.error === undefined, `decrypt, reused ${chunk}-byte buffer: ${String(opened.error)}`);
          assertEqualBytes(opened.output, plaintext, `decrypt, reused ${chunk}-byte buffer`);
        }
        // Ten frames' worth and a little more, then nothing: the ten frames must come out without more input.
        const encrypting = encryptStream({ providers, suite, frameSize });
        encrypting.writable
          .getWriter()
          .write(plaintext.slice(0, 10 * frameSize + 5))
          .catch(() => {});
        const sealedReader = encrypting.readable.getReader();
        const header = await sealedReader.read();
        assert(!header.done, "encryptStream: header");
        const frames = await readWithin(sealedReader, 10 * (frameSize + 17), 3000);
        assert(frames === 10 * (frameSize + 17), `encryptStream released ${frames} of ${10 * 81} bytes`);
        await sealedReader.cancel();
        const sealed = await encrypt(plaintext, { providers, suite, frameSize });
        const headerLength = parseHeader(sealed).length;
        const decrypting = decryptStream({ providers });
        decrypting.writable
          .getWriter()
          .write(sealed.slice(0, headerLength + 3 * (frameSize + 17) + 10))
          .catch(() => {});
        const openedReader = decrypting.readable.getReader();
        const released = await readWithin(openedReader, 3 * frameSize, 3000);
        assert(released === 3 * frameSize, `decryptStream released ${released} of ${3 * frameSize} bytes`);
        await openedReader.cancel();
      },
    });
    cases.push({
      name: `${suite}: a consumer that stops reading stops the source: both streams read ahead a bounded number of frames`,
      async run() {
        const frameSize = 4096;
        const chunk = 1024;
        const plaintext = testBytes(1024 * 1024, 12);
        const sealed = await encrypt(plaintext, { providers, suite, frameSize });
        // Frames a stream keeps in flight: 8 through Web Crypto (AES-256-GCM), 1 for XChaCha20-Poly1305.
        const window = suite === "AES_256_GCM" ? 8 : 1;
        const bound = parseHeader(sealed).length + (window + 2) * (frameSize + 21) + 2 * chunk;
        for (const [label, input, stream] of [
          ["encryptStream", plaintext, encryptStream({ providers, suite, frameSize })],
          ["decryptStream", sealed, decryptStream({ providers })],
        ] as const) {
          let pulled = 0;
          const source = new ReadableStream<Uint8Array>(
            {
              pull(controller) {
                if (pulled >= input.length) return controller.close();
                controller.enqueue(input.slice(pulled, pulled + chunk));
                pulled += chunk;
              },
            },
            { highWaterMark: 0 },
          );
          const reader = source.pipeThrough(stream).getReader();
          const first = await reader.read();
          assert(!first.done, `${label}: first chunk`);
          const pause = () => new Promise((resolve) => setTimeout(resolve, 300));
          await pause();
          const afterPause = pulled;
          await pause();
          assert(
            afterPause <= bound,
            `${label}: read ${afterPause} bytes ahead of a stalled consumer (bound ${bound})`,
          );
          assert(
            pulled === afterPause,
            `${label}: kept reading while the consumer stalled (${afterPause} -> ${pulled})`,
          );
          const parts = [first.value];
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            parts.push(value);
          }
          const output = concatBytes(...parts);
          if (label === "decryptStream") assertEqualBytes(output, plaintext, label);
          else assertEqualBytes((await decrypt(output, { providers })).plaintext, plaintext, label);
        }
      },
    });
    cases.push({
      name: `${suite}: 3 MiB in the default frame size through both streams`,
      async run() {
        const plaintext = testBytes(3 * 1024 * 1024 + 17, 11);
        const sealed = await runThrough(encryptStream({ providers, suite }), plaintext, 10_000);
        assert(sealed.error === undefined, "encrypt");
        const opened = await runThrough(decryptStream({ providers }), sealed.output, 65_536);
        assertEqualBytes(opened.output, plaintext, "3 MiB");
      },
    });
    cases.push({
      name: `${suite}: every single-byte change, truncation and frame reorder fails the stream and releases nothing of the damaged frame`,
      async run() {
        const frameSize = 64;
        const plaintext = testBytes(3 * frameSize + 10, 5);
        const sealed = await encrypt(plaintext, { providers, suite, frameSize });
        const headerLength = parseHeader(sealed).length;
        const frameOf = (offset: number) =>
          offset < headerLength ? 0 : Math.floor((offset - headerLength) / (frameSize + 17));
        for (let i = 0; i < sealed.length; i++) {
          const bad = sealed.slice();
          bad[i]! ^= 0x01;
          const outcome = await runThrough(decryptStream({ providers }), bad, 50);
          expectFailed(outcome, plaintext, frameOf(i) * frameSize, `byte ${i}`);
        }
        for (let length = 0; length < sealed.length; length++) {
          const outcome = await runThrough(decryptStream({ providers }), sealed.subarray(0, length), 50);
          // Frames wholly inside the cut may be released; the frame that was cut may not.
          expectFailed(outcome, plaintext, frameOf(length) * frameSize, `truncated to ${length}`);
          if (length > headerLength + 3 * (frameSize + 17)) {
            assert(
              SealkitError.isInstance(outcome.error, "ERR_TRUNCATED"),
              `cut final frame at ${length}: ERR_TRUNCATED`,
            );
          }
        }
        for (const order of frameOrders(4)) {
          const firstMoved = order.findIndex((v, i) => v !== i);
          const outcome = await runThrough(
            decryptStream({ providers }),
            reorderFrames(sealed, frameSize, order),
            64,
          );
          expectFailed(outcome, plaintext, firstMoved * frameSize, `order ${order.join(",")}`);
        }
        const longer = concatBytes(sealed, new Uint8Array([0]));
        const trailing = await runThrough(decryptStream({ providers }), longer);
        expectFailed(trailing, plaintext, plaintext.length, "trailing byte");
        assert(
          SealkitError.isInstance(trailing.error, "ERR_ENVELOPE_MALFORMED"),
          "trailing: ERR_ENVELOPE_MALFORMED",
        );
      },
    });
    cases.push({
      name: `${suite}: the final frame comes out only once the input ended right after it (no trailing bytes)`,
      async run() {
        const frameSize = 64;
        const plaintext = testBytes(3 * frameSize + 8, 6);
        const sealed = await encrypt(plaintext, { providers, suite, frameSize });
        const regular = 3 * frameSize;
        // Bytes after the final frame, in its chunk or in a later one: the envelope is not valid, and what came out
        // before the error must not be all of its plaintext (one-shot decrypt returns none of it).
        for (const [label, chunks] of [
          ["in the final frame's chunk", [concatBytes(sealed, new Uint8Array([0]))]],
          ["in a later chunk", [sealed, new Uint8Array([0])]],
          ["after a pause", [sealed.subarray(0, 100), sealed.subarray(100), new Uint8Array(3)]],
        ] as const) {
          const outcome = await drive(decryptStream({ providers }), async (writer) => {
            for (const chunk of chunks) await writer.write(chunk);
          });
          expectFailed(outcome, plaintext, regular, `trailing byte ${label}`);
          assert(
            SealkitError.isInstance(outcome.error, "ERR_ENVELOPE_MALFORMED"),
            `trailing byte ${label}: ERR_ENVELOPE_MALFORMED`,
          );
        }
        // The whole envelope written, the input not yet closed: the regular frames come out, the final one waits.
        const stream = decryptStream({ providers });
        const writer = stream.writable.getWriter();
        writer.write(sealed).catch(() => {});
        const reader = stream.readable.getReader();
        const early = await readWithin(reader, regular, 3000);
        assert(early === regular, `released ${early} bytes of the regular frames, expected ${regular}`);
        const next = reader.read();
        const waited = await Promise.race([
          next,
          new Promise((resolve) => setTimeout(() => resolve("waiting"), 300)),
        ]);
        assert(waited === "waiting", "the final frame came out before the input ended");
        await writer.close();
        const last = await next;
        assert(!last.done && last.value.length === plaintext.length - regular, "the final frame at the end");
        assertEqualBytes(last.value, plaintext.subarray(regular), "the final frame's plaintext");
        assert((await reader.read()).done, "the stream ends after the final frame");
      },
    });
  }

  cases.push({
    name: "decryptStream checks expectContext and reports the header before any plaintext",
    async run() {
      const sealed = await encrypt(testBytes(200), { providers, context: { tenant: "acme" }, frameSize: 64 });
      const mismatch = await runThrough(
        decryptStream({ providers, expectContext: { tenant: "x" } }),
        sealed,
        10,
      );
      assert(SealkitError.isInstance(mismatch.error, "ERR_CONTEXT_MISMATCH"), "context mismatch");
      assert(mismatch.output.length === 0, "no plaintext on mismatch");
      let seen: string | undefined;
      const ok = await runThrough(
        decryptStream({ providers, onHeader: (h) => (seen = h.context.tenant) }),
        sealed,
        10,
      );
      assert(ok.error === undefined && seen === "acme", "onHeader saw the context");
    },
  });

  cases.push({
    name: "an empty stream is ERR_TRUNCATED; a wrong key is ERR_NO_DECRYPTABLE_KEY; bad options and chunks are TypeErrors",
    async run() {
      const empty = await runThrough(decryptStream({ providers }), new Uint8Array(0));
      assert(SealkitError.isInstance(empty.error, "ERR_TRUNCATED"), "empty input");
      const sealed = await encrypt(testBytes(10), { providers });
      const wrong = await runThrough(decryptStream({ providers: [testProvider("test-key", 42)] }), sealed);
      assert(SealkitError.isInstance(wrong.error, "ERR_NO_DECRYPTABLE_KEY"), "wrong key");
      await expectThrows(
        () => encryptStream({ providers: "x" as never }),
        TypeError,
        "encryptStream providers",
      );
      await expectThrows(() => decryptStream({ providers, onHeader: 1 as never }), TypeError, "onHeader");
      await expectCode(() => encryptStream({ providers, frameSize: 10 }), "ERR_FRAME_SIZE", "frame size");
      const stream = encryptStream({ providers });
      const writer = stream.writable.getWriter();
      const failed = writer.write("text" as never);
      const reader = stream.readable.getReader();
      await reader.read(); // the header
      // The transform runs when the reader asks for more (the readable side has no buffer).
      await expectThrows(() => reader.read(), TypeError, "string chunk: read");
      await expectThrows(() => failed, TypeError, "string chunk: write");
    },
  });

  cases.push({
    name: "a stream that failed stays failed: every later read and write gets the same typed error",
    async run() {
      const sealed = await encrypt(testBytes(300), { providers, frameSize: 64 });
      const damaged = sealed.slice();
      damaged[damaged.length - 30]! ^= 1;
      const stream = decryptStream({ providers });
      const writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      writer.write(damaged).catch(() => {});
      let first: unknown;
      try {
        while (!(await reader.read()).done);
      } catch (error) {
        first = error;
      }
      assert(
        SealkitError.isInstance(first, "ERR_AUTHENTICATION_FAILED"),
        "the damaged frame fails the stream",
      );
      for (const [label, again] of [
        ["read", () => reader.read()],
        ["write", () => writer.write(sealed)],
        ["read after a write", () => reader.read()],
      ] as const) {
        let later: unknown;
        try {
          await again();
        } catch (error) {
          later = error;
        }
        assert(later === first, `${label} after the failure: the same error, not a new one`);
      }
    },
  });
  return cases;
}
