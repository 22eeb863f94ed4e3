// Suite: decryptRange against slices of the plaintext, what it reads, and what it authenticates.

import { parseHeader } from "@sealkit/core";
import type { ByteSource } from "../sources.js";
import { SUITE_NAMES, testProvider } from "./envelope.js";
import {
  assert,
  assertEqualBytes,
  type Cipher,
  expectCode,
  expectSealkitError,
  expectThrows,
  type TestCase,
  testBytes,
} from "./harness.js";

/** A source that records every read. */
function recording(source: ByteSource): ByteSource & { reads: [number, number][] } {
  const reads: [number, number][] = [];
  return {
    size: source.size,
    reads,
    read(offset, length) {
      reads.push([offset, length]);
      return source.read(offset, length);
    },
  };
}

export function rangeCases(cipher: Cipher): TestCase[] {
  const { encrypt, decryptRange, bytesSource } = cipher;
  const providers = [testProvider()];
  const cases: TestCase[] = [];

  for (const suite of SUITE_NAMES) {
    cases.push({
      name: `${suite}: every (start, end) of a small envelope equals the slice of the plaintext`,
      async run() {
        const frameSize = 64;
        // Two frames: the last one partial. Every pair costs a provider call, so the envelope is kept small.
        const plaintext = testBytes(frameSize + 10, 9);
        const source = bytesSource(await encrypt(plaintext, { providers, suite, frameSize }));
        for (let start = 0; start <= plaintext.length; start++) {
          for (let end = start; end <= plaintext.length; end++) {
            const result = await decryptRange(source, { start, end, providers });
            assertEqualBytes(result.plaintext, plaintext.subarray(start, end), `[${start}, ${end})`);
            assert(result.plaintextLength === plaintext.length, "plaintext length");
          }
        }
      },
    });
  }

  cases.push({
    name: "decryptRange reads the header and only the frames holding the range, in one read",
    async run() {
      const frameSize = 1000;
      const plaintext = testBytes(10 * frameSize + 5, 4);
      const sealed = await encrypt(plaintext, { providers, frameSize, suite: "AES_256_GCM" });
      const headerLength = parseHeader(sealed).length;
      const source = recording(bytesSource(sealed));
      const result = await decryptRange(source, { start: 3500, end: 5200, providers });
      assertEqualBytes(result.plaintext, plaintext.subarray(3500, 5200), "range");
      // Frames 4, 5 and 6 (zero-based 3..5) hold [3500, 5200).
      assert(source.reads.length === 2, `two reads, got ${JSON.stringify(source.reads)}`);
      assert(source.reads[0]![0] === 0, "first read: the header");
      assert(
        source.reads[1]![0] === headerLength + 3 * 1017 && source.reads[1]![1] === 3 * 1017,
        `second read: frames 4-6, got ${JSON.stringify(source.reads[1])}`,
      );
      const verified = recording(bytesSource(sealed));
      await decryptRange(verified, { start: 3500, end: 5200, providers, verifyLength: true });
      assert(
        verified.reads.length === 3 && verified.reads[2]![1] === 21 + 5,
        "verifyLength reads the final frame",
      );
    },
  });

  cases.push({
    name: "a header longer than the first read is read in a second step",
    async run() {
      const plaintext = testBytes(500, 2);
      const context = { big: "x".repeat(6000) };
      const sealed = await encrypt(plaintext, { providers, frameSize: 64, context });
      const source = recording(bytesSource(sealed));
      const result = await decryptRange(source, {
        start: 10,
        end: 300,
        providers,
        expectContext: { big: context.big },
      });
      assertEqualBytes(result.plaintext, plaintext.subarray(10, 300), "range after a long header");
      assert(result.header.context.big === context.big, "header context");
    },
  });

  cases.push({
    name: "it authenticates the frames it returns; the length only with the final frame or verifyLength",
    async run() {
      const frameSize = 64;
      const plaintext = testBytes(4 * frameSize + 3, 6);
      const sealed = await encrypt(plaintext, { providers, frameSize });
      const headerLength = parseHeader(sealed).length;
      const damaged = sealed.slice();
      damaged[headerLength + 2 * 81 + 10]! ^= 1; // a byte of frame 3
      const source = bytesSource(damaged);
      await expectCode(
        () => decryptRange(source, { start: 130, end: 140, providers }),
        "ERR_AUTHENTICATION_FAILED",
        "damaged frame in range",
      );
      const outside = await decryptRange(source, { start: 0, end: 64, providers });
      assertEqualBytes(
        outside.plaintext,
        plaintext.subarray(0, 64),
        "frames outside the damage still decrypt",
      );
      // Cut after frame 2 plus a shorter final-frame-shaped tail: the layout is wrong, so a range that includes
      // the last frame, or verifyLength, must fail.
      const cut = bytesSource(sealed.subarray(0, sealed.length - 1));
      await expectSealkitError(
        () => decryptRange(cut, { start: 0, end: 10, providers, verifyLength: true }),
        "cut with verifyLength",
      );
      // The cut source claims 258 plaintext bytes; the range holding its last frame fails.
      await expectSealkitError(
        () => decryptRange(cut, { start: 256, end: 258, providers }),
        "cut, final frame",
      );
      // A range of intact frames before the cut is served: the documented limit of what a range proves.
      const early = await decryptRange(cut, { start: 0, end: 64, providers });
      assertEqualBytes(early.plaintext, plaintext.subarray(0, 64), "intact frame before the cut");
    },
  });

  cases.push({
    name: "bad ranges are RangeErrors, bad sources TypeErrors, a short source ERR_TRUNCATED, context checked",
    async run() {
      const sealed = await encrypt(testBytes(100), { providers, frameSize: 64, context: { a: "b" } });
      const source = bytesSource(sealed);
      await expectThrows(
        () => decryptRange(source, { start: 0, end: 101, providers }),
        RangeError,
        "end past the plaintext",
      );
      await expectThrows(
        () => decryptRange(source, { start: 5, end: 4, providers }),
        RangeError,
        "start after end",
      );
      await expectThrows(
        () => decryptRange(source, { start: -1, end: 4, providers }),
        RangeError,
        "negative start",
      );
      await expectThrows(
        () => decryptRange(source, { start: 0.5, end: 4, providers }),
        TypeError,
        "fractional start",
      );
      await expectThrows(
        () => decryptRange({} as ByteSource, { start: 0, end: 1, providers }),
        TypeError,
        "no read",
      );
      await expectThrows(() => bytesSource("x" as never), TypeError, "bytesSource of a string");
      const short: ByteSource = { size: sealed.length, read: async (o, l) => sealed.subarray(o, o + l - 1) };
      await expectCode(
        () => decryptRange(short, { start: 0, end: 1, providers }),
        "ERR_TRUNCATED",
        "short reads",
      );
      await expectCode(
        () => decryptRange(bytesSource(sealed.subarray(0, 30)), { start: 0, end: 0, providers }),
        "ERR_TRUNCATED",
        "source ends in the header",
      );
      await expectCode(
        () => decryptRange(source, { start: 0, end: 1, providers, expectContext: { a: "c" } }),
        "ERR_CONTEXT_MISMATCH",
        "expectContext",
      );
      const empty = await decryptRange(source, { start: 100, end: 100, providers });
      assert(empty.plaintext.length === 0 && empty.plaintextLength === 100, "empty range at the end");
    },
  });

  cases.push({
    name: "a range past the end of a truncated envelope is an envelope error, not the caller's RangeError",
    async run() {
      // The caller asks for what the whole envelope holds; the source lost its tail. The length the source's size
      // implies is not authentic until the final frame is, so this is the envelope's fault, whatever the cut.
      const sealed = await encrypt(testBytes(200), { providers, frameSize: 64 });
      const headerLength = parseHeader(sealed).length;
      for (let cut = headerLength + 21; cut < sealed.length; cut += 7) {
        await expectSealkitError(
          () => decryptRange(bytesSource(sealed.subarray(0, cut)), { start: 150, end: 200, providers }),
          `cut at ${cut}`,
        );
      }
    },
  });
  return cases;
}
