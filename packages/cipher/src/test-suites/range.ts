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

/** How an in-memory HTTP server answers a GET with a Range header (every runtime has Request and Response). */
type Answer = "ranges" | "whole" | "replaced";

/**
 * Replaces globalThis.fetch while `fn` runs with a server of `object` that answers as `answer` says, and counts the
 * body bytes the client pulled. "whole" ignores Range and streams a 64 MiB object without a Content-Length;
 * "replaced" answers the first request from `object` and every later one from an object 1,000 bytes longer.
 */
async function withServer<T>(
  object: Uint8Array,
  answer: Answer,
  fn: (stats: { pulled: number; cancelled: boolean; requests: number }) => Promise<T>,
): Promise<T> {
  const stats = { pulled: 0, cancelled: false, requests: 0 };
  const counted = (total: number, at: (offset: number, n: number) => Uint8Array) => {
    let offset = 0;
    return new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (offset >= total) return controller.close();
          const n = Math.min(64 * 1024, total - offset);
          stats.pulled += n;
          controller.enqueue(at(offset, n));
          offset += n;
        },
        cancel() {
          stats.cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
  };
  const original = globalThis.fetch;
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    stats.requests++;
    if (answer === "whole") {
      return new Response(
        counted(64 * 1024 * 1024, (_, n) => new Uint8Array(n)),
        { status: 200 },
      );
    }
    const body = answer === "replaced" && stats.requests > 1 ? new Uint8Array(object.length + 1000) : object;
    const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.get("Range") ?? "");
    const start = Number(match![1]);
    const end = Math.min(Number(match![2]), body.length - 1);
    return new Response(
      counted(end - start + 1, (offset, n) => body.slice(start + offset, start + offset + n)),
      { status: 206, headers: { "Content-Range": `bytes ${start}-${end}/${body.length}` } },
    );
  };
  try {
    return await fn(stats);
  } finally {
    globalThis.fetch = original;
  }
}

export function rangeCases(cipher: Cipher): TestCase[] {
  const { encrypt, decryptRange, bytesSource, fetchSource } = cipher;
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
    name: "a header of many encrypted data keys past the first read takes few reads, not two per field",
    async run() {
      // 16 recipients with 300-byte key ids: a header of about 6 KiB, 48 fields of which about 20 lie past 4 KiB.
      const recipients = Array.from({ length: 16 }, (_, i) => testProvider(`${i}-${"k".repeat(300)}`, i + 1));
      const plaintext = testBytes(1000, 3);
      const sealed = await encrypt(plaintext, { providers: recipients, frameSize: 64 });
      const headerLength = parseHeader(sealed).length;
      assert(headerLength > 5000, `header of ${headerLength} bytes`);
      const source = recording(bytesSource(sealed));
      const result = await decryptRange(source, { start: 900, end: 1000, providers: [recipients[15]!] });
      assertEqualBytes(result.plaintext, plaintext.subarray(900), "range after a header of many keys");
      const headerReads = source.reads.filter(([offset]) => offset < headerLength);
      assert(headerReads.length <= 3, `header read in ${headerReads.length} reads`);
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
  cases.push({
    name: "fetchSource: reads what it asks for, refuses a whole object without pulling it, never mixes two objects",
    async run() {
      const plaintext = testBytes(100_000, 8);
      const sealed = await encrypt(plaintext, { providers, frameSize: 4096, suite: "AES_256_GCM" });
      const url = "https://objects.example/video.slkt?signature=s3cr3t";
      await withServer(sealed, "ranges", async (stats) => {
        const source = await fetchSource(url);
        assert(source.size === sealed.length, "size from Content-Range");
        const result = await decryptRange(source, { start: 50_000, end: 50_100, providers });
        assertEqualBytes(result.plaintext, plaintext.subarray(50_000, 50_100), "range over fetch");
        assert(stats.requests === 2, `two requests, got ${stats.requests}`);
        assert(stats.pulled < 3 * 4113 + 4096, `pulled only the probe and three frames, got ${stats.pulled}`);
      });
      await withServer(sealed, "whole", async (stats) => {
        const error = await expectSealkitError(() => fetchSource(url), "whole object");
        assert(error.code === "ERR_LIMIT_EXCEEDED", `ERR_LIMIT_EXCEEDED, got ${error.code}`);
        assert(!error.message.includes("s3cr3t"), "no query string in the message");
        assert(stats.cancelled, "the body was cancelled");
        assert(stats.pulled <= 4 * 64 * 1024, `pulled ${stats.pulled} bytes of 64 MiB`);
      });
      await withServer(sealed, "replaced", async () => {
        const source = await fetchSource(url);
        await expectCode(
          () => decryptRange(source, { start: 50_000, end: 50_100, providers }),
          "ERR_ENVELOPE_MALFORMED",
          "object replaced after the first request",
        );
      });
    },
  });
  return cases;
}
