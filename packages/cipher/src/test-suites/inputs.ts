// Suite: byte inputs no API can use (shared memory, detached buffers) and views into a larger buffer: the same
// TypeError from every API and both suites, never a crash, a false authentication failure or a silent empty chunk.

import { SealkitError } from "@sealkit/core";
import { SUITE_NAMES, testProvider } from "./envelope.js";
import {
  AssertionFailed,
  assert,
  assertEqualBytes,
  type Cipher,
  expectThrows,
  type TestCase,
  testBytes,
} from "./harness.js";
import { runThrough } from "./streams.js";

/** A copy of `bytes` in a SharedArrayBuffer, or undefined where the runtime has none (a page not cross-origin isolated). */
function shared(bytes: Uint8Array): Uint8Array | undefined {
  if (typeof SharedArrayBuffer !== "function") return undefined;
  const out = new Uint8Array(new SharedArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

/** A view of `length` bytes whose buffer was transferred away, or undefined where transfer is not supported. */
function detached(length: number): Uint8Array | undefined {
  const view = new Uint8Array(length);
  try {
    structuredClone(view.buffer, { transfer: [view.buffer] });
  } catch {
    return undefined;
  }
  return view.length === 0 ? view : undefined;
}

/** Expects a stream fed `chunk` (after `before`) to error with a TypeError naming shared or detached memory. */
async function expectStreamTypeError(
  stream: TransformStream<Uint8Array, Uint8Array>,
  before: Uint8Array,
  chunk: Uint8Array,
  label: string,
): Promise<void> {
  const reader = stream.readable.getReader();
  const reading = (async () => {
    while (!(await reader.read()).done);
  })();
  const writer = stream.writable.getWriter();
  const writing = (async () => {
    if (before.length > 0) await writer.write(before);
    await writer.write(chunk);
    await writer.close();
  })();
  const [read, written] = await Promise.allSettled([reading, writing]);
  const error =
    read.status === "rejected" ? read.reason : written.status === "rejected" ? written.reason : undefined;
  if (!(error instanceof TypeError) || !/SharedArrayBuffer|detached/.test(error.message)) {
    const got = SealkitError.isInstance(error) ? `SealkitError ${error.code}` : String(error);
    throw new AssertionFailed(`${label}: expected a TypeError about the chunk's memory, got ${got}`);
  }
}

export function inputCases(cipher: Cipher): TestCase[] {
  const { encrypt, decrypt, encryptStream, decryptStream, decryptRange, bytesSource } = cipher;
  const providers = [testProvider()];
  const cases: TestCase[] = [];
  const memory = /SharedArrayBuffer|detached/;

  for (const suite of SUITE_NAMES) {
    cases.push({
      name: `${suite}: shared and detached memory is a TypeError in one-shot, stream and range APIs alike`,
      async run() {
        const plaintext = testBytes(300, 5);
        const envelope = await encrypt(plaintext, { providers, suite, frameSize: 64 });
        const sharedPlaintext = shared(plaintext);
        const sharedEnvelope = shared(envelope);
        if (sharedPlaintext && sharedEnvelope) {
          await expectThrows(
            () => encrypt(sharedPlaintext, { providers, suite }),
            TypeError,
            "encrypt",
            memory,
          );
          await expectThrows(() => decrypt(sharedEnvelope, { providers }), TypeError, "decrypt", memory);
          await expectThrows(() => bytesSource(sharedEnvelope), TypeError, "bytesSource", memory);
          const sharedReads = {
            size: envelope.length,
            read: async (o: number, l: number) => sharedEnvelope.subarray(o, o + l),
          };
          await expectThrows(
            () => decryptRange(sharedReads, { start: 0, end: 10, providers }),
            TypeError,
            "a source reading shared memory",
            memory,
          );
          await expectStreamTypeError(
            encryptStream({ providers, suite }),
            new Uint8Array(0),
            sharedPlaintext,
            "encryptStream",
          );
          // The header arrives intact, then a body chunk in shared memory: AES-GCM called it a forgery.
          await expectStreamTypeError(
            decryptStream({ providers }),
            envelope.subarray(0, 200),
            sharedEnvelope.subarray(200),
            "decryptStream",
          );
          for (const aead of [cipher.xchacha20poly1305, cipher.aes256gcm]) {
            const key = shared(testBytes(32))!;
            await expectThrows(
              () => aead.encrypt(key, testBytes(aead.nonceLength), plaintext),
              TypeError,
              "aead key",
              memory,
            );
          }
        }
        const gone = detached(64);
        if (gone) {
          await expectThrows(
            () => encrypt(gone, { providers, suite }),
            TypeError,
            "encrypt detached",
            memory,
          );
          await expectThrows(() => decrypt(gone, { providers }), TypeError, "decrypt detached", memory);
          await expectThrows(() => bytesSource(gone), TypeError, "bytesSource detached", memory);
          // A detached chunk reads as 0 bytes: encryptStream sealed the message without it.
          await expectStreamTypeError(
            encryptStream({ providers, suite }),
            plaintext,
            detached(64)!,
            "encryptStream detached",
          );
          await expectStreamTypeError(
            decryptStream({ providers }),
            envelope.subarray(0, 200),
            detached(64)!,
            "decryptStream detached",
          );
        }
      },
    });

    cases.push({
      name: `${suite}: views at an offset into a larger buffer, and empty chunks, are read as exactly their bytes`,
      async run() {
        const plaintext = testBytes(1000, 9);
        const big = testBytes(5000, 3);
        big.set(plaintext, 777);
        const view = big.subarray(777, 1777);
        const envelope = await encrypt(view, { providers, suite, frameSize: 64 });
        const framed = testBytes(envelope.length + 300, 4);
        framed.set(envelope, 123);
        const inside = framed.subarray(123, 123 + envelope.length);
        assertEqualBytes((await decrypt(inside, { providers })).plaintext, plaintext, "one-shot of a view");
        const range = await decryptRange(bytesSource(inside), { start: 70, end: 900, providers });
        assertEqualBytes(range.plaintext, plaintext.subarray(70, 900), "range of a view");
        const streamed = await runThrough(encryptStream({ providers, suite, frameSize: 64 }), view, 333);
        assert(streamed.error === undefined, "encryptStream of a view");
        assertEqualBytes(
          (await decrypt(streamed.output, { providers })).plaintext,
          plaintext,
          "stream of a view",
        );
        // Empty chunks between the others change nothing.
        const withEmpty = await (async () => {
          const stream = decryptStream({ providers });
          const parts: Uint8Array[] = [];
          const reading = (async () => {
            const reader = stream.readable.getReader();
            for (;;) {
              const { done, value } = await reader.read();
              if (done) return;
              parts.push(value);
            }
          })();
          const writer = stream.writable.getWriter();
          for (let at = 0; at < inside.length; at += 100) {
            await writer.write(new Uint8Array(0));
            await writer.write(inside.subarray(at, at + 100));
          }
          await writer.write(inside.subarray(0, 0));
          await writer.close();
          await reading;
          const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
          let at = 0;
          for (const p of parts) {
            out.set(p, at);
            at += p.length;
          }
          return out;
        })();
        assertEqualBytes(withEmpty, plaintext, "decryptStream with empty chunks");
      },
    });
  }
  cases.push({
    name: "a Map (or any object but a plain one) as context or expectContext is a TypeError, never an empty context",
    async run() {
      const envelope = await encrypt(testBytes(100), {
        providers,
        frameSize: 64,
        context: { tenant: "globex" },
      });
      const pairs = new Map([["tenant", "acme"]]);
      const bad = (v: unknown) => v as never;
      const plainObject = /plain object/;
      // Before: a Map has no own enumerable properties, so it was read as {}: encrypt bound no context at all, and
      // every decryptor accepted another tenant's envelope.
      await expectThrows(
        () => encrypt(testBytes(1), { providers, context: bad(pairs) }),
        TypeError,
        "encrypt",
        plainObject,
      );
      await expectThrows(
        () => encryptStream({ providers, context: bad(pairs) }),
        TypeError,
        "encryptStream",
        plainObject,
      );
      await expectThrows(
        () => decrypt(envelope, { providers, expectContext: bad(pairs) }),
        TypeError,
        "decrypt",
        plainObject,
      );
      await expectThrows(
        () => decryptStream({ providers, expectContext: bad(pairs) }),
        TypeError,
        "decryptStream",
        plainObject,
      );
      await expectThrows(
        () => decryptRange(bytesSource(envelope), { providers, start: 0, end: 1, expectContext: bad(pairs) }),
        TypeError,
        "decryptRange",
        plainObject,
      );
      for (const other of [new Date(0), new Set(["tenant"]), new URLSearchParams("tenant=acme")]) {
        await expectThrows(
          () => decrypt(envelope, { providers, expectContext: bad(other) }),
          TypeError,
          `expectContext ${other.constructor.name}`,
          plainObject,
        );
      }
      // Plain objects, with or without a prototype, are what they always were.
      const bare = Object.assign(Object.create(null), { tenant: "globex" });
      assert(
        (await decrypt(envelope, { providers, expectContext: bare })).plaintext.length === 100,
        "a null-prototype object",
      );
      await expectThrows(
        () => encrypt(testBytes(1), { providers, context: bad(new Map()) }),
        TypeError,
        "an empty Map",
        plainObject,
      );
    },
  });
  return cases;
}
