// Deterministic sweeps at the edges, through all three decryptors (one-shot, stream, range): every truncation of
// small envelopes, every length field of the header and the final frame set to 0, 1, 2^(n-1) and its maximum, and
// ranges of one byte at every frame boundary as well as the caller's invalid ranges.

import {
  concatBytes,
  equalBytes,
  parseHeader,
  rawKeyProvider,
  SealkitError,
  type SuiteName,
} from "@sealkit/core";
import { describe, expect, it } from "vitest";
import { bytesSource, decrypt, decryptRange, decryptStream, encrypt } from "../index.js";
import { describe as describeError, ENVELOPE_CODES, runTransform, TEST_TIMEOUT } from "./helpers.js";

const SUITES: SuiteName[] = ["XCHACHA20_POLY1305", "AES_256_GCM"];
const providers = () => [rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(11) })];
const FRAME = 64;
// Empty, exactly one frame, exactly two frames, and two frames and a bit.
const LENGTHS = [0, FRAME, 2 * FRAME, 2 * FRAME + 3];

const plaintextOf = (length: number) => Uint8Array.from({ length }, (_, i) => (i * 29 + 3) & 0xff);

/** Decrypts `envelope` one-shot, as a stream (in chunks of 7 and whole), and as a range with verifyLength. */
async function everyDecryptor(envelope: Uint8Array, plaintextLength: number): Promise<unknown[]> {
  const errors: unknown[] = [];
  const capture = async (run: () => Promise<unknown>) => {
    try {
      await run();
      errors.push(undefined);
    } catch (error) {
      errors.push(error);
    }
  };
  await capture(() => decrypt(envelope, { providers: providers() }));
  for (const sizes of [[7], []]) {
    await capture(async () => {
      const outcome = await runTransform(decryptStream({ providers: providers() }), envelope, sizes);
      if (outcome.error !== undefined) throw outcome.error;
    });
  }
  await capture(() =>
    decryptRange(bytesSource(envelope), {
      providers: providers(),
      start: 0,
      end: Math.min(plaintextLength, 10),
      verifyLength: true,
    }),
  );
  return errors;
}

function expectEnvelopeError(error: unknown, label: string): void {
  expect(SealkitError.isInstance(error), `${label}: ${describeError(error)}`).toBe(true);
  expect(ENVELOPE_CODES.has((error as SealkitError).code), `${label}: ${describeError(error)}`).toBe(true);
}

describe("every truncation and every extra byte, through every decryptor", () => {
  for (const suite of SUITES) {
    it(
      `${suite}: envelopes of ${LENGTHS.join(", ")} bytes in frames of ${FRAME}`,
      async () => {
        for (const length of LENGTHS) {
          const envelope = await encrypt(plaintextOf(length), {
            providers: providers(),
            suite,
            frameSize: FRAME,
            context: { purpose: "sweep" },
          });
          for (let cut = 0; cut < envelope.length; cut++) {
            const errors = await everyDecryptor(envelope.subarray(0, cut), length);
            for (const [i, error] of errors.entries())
              expectEnvelopeError(error, `${length} cut at ${cut} (#${i})`);
          }
          const longer = concatBytes(envelope, new Uint8Array([0]));
          const [oneShot, streamed] = await everyDecryptor(longer, length);
          expect(SealkitError.isInstance(oneShot, "ERR_ENVELOPE_MALFORMED"), describeError(oneShot)).toBe(
            true,
          );
          expect(SealkitError.isInstance(streamed, "ERR_ENVELOPE_MALFORMED"), describeError(streamed)).toBe(
            true,
          );
        }
      },
      TEST_TIMEOUT,
    );
  }
});

describe("length fields at their extremes, through every decryptor", () => {
  for (const suite of SUITES) {
    it(
      `${suite}: suite, frame size, context, encrypted data key and final frame lengths`,
      async () => {
        for (const length of LENGTHS) {
          const envelope = await encrypt(plaintextOf(length), {
            providers: providers(),
            suite,
            frameSize: FRAME,
            context: { a: "b" },
          });
          const authenticated = parseHeader(envelope).authenticatedBytes.length;
          const finalLength = length === 0 ? 0 : length % FRAME || FRAME;
          const fields: [at: number, width: 2 | 4, name: string][] = [
            [5, 2, "suite id"],
            [7, 4, "frame size"],
            [43, 2, "context length"],
            [45, 2, "context pair count"],
            [47, 2, "context key length"],
            [authenticated + 48, 2, "encrypted data key count"],
            [authenticated + 50, 2, "provider id length"],
            [envelope.length - 21 - finalLength + 1, 4, "final frame length"],
          ];
          for (const [at, width, name] of fields) {
            const max = width === 2 ? 0xffff : 0xffffffff;
            for (const value of [0, 1, (max + 1) / 2, max]) {
              const mutant = envelope.slice();
              const view = new DataView(mutant.buffer);
              if (width === 2) view.setUint16(at, value);
              else view.setUint32(at, value);
              if (equalBytes(mutant, envelope)) continue;
              const errors = await everyDecryptor(mutant, length);
              for (const [i, error] of errors.entries()) {
                expectEnvelopeError(error, `${length}: ${name} = ${value} (#${i})`);
              }
            }
          }
        }
      },
      TEST_TIMEOUT,
    );
  }
});

describe("decryptRange at every frame boundary, and the caller's invalid ranges", () => {
  for (const suite of SUITES) {
    it(`${suite}: one-byte and empty ranges around each boundary return exactly those bytes`, async () => {
      for (const length of LENGTHS) {
        const plaintext = plaintextOf(length);
        const envelope = await encrypt(plaintext, { providers: providers(), suite, frameSize: FRAME });
        const source = bytesSource(envelope);
        const points = new Set<number>([0, length]);
        for (let b = FRAME; b < length + FRAME; b += FRAME) for (const p of [b - 1, b, b + 1]) points.add(p);
        for (const p of points) {
          if (p < 0 || p > length) continue;
          for (const end of [p, p + 1]) {
            if (end > length) continue;
            for (const verifyLength of [false, true]) {
              const result = await decryptRange(source, {
                providers: providers(),
                start: p,
                end,
                verifyLength,
              });
              expect(equalBytes(result.plaintext, plaintext.subarray(p, end)), `[${p}, ${end})`).toBe(true);
              expect(result.plaintextLength).toBe(length);
            }
          }
        }
      }
    });
  }

  it("refuses start > end, negative, fractional, NaN, infinite and past-the-end ranges as caller mistakes", async () => {
    const envelope = await encrypt(plaintextOf(300), { providers: providers(), frameSize: FRAME });
    const source = bytesSource(envelope);
    const cases: [start: number, end: number, error: typeof RangeError | typeof TypeError][] = [
      [5, 2, RangeError],
      [-1, 3, RangeError],
      [0, -1, RangeError],
      [0.5, 3, TypeError],
      [Number.NaN, 3, TypeError],
      [0, Number.POSITIVE_INFINITY, TypeError],
      [0, 301, RangeError],
      [301, 301, RangeError],
      [2 ** 53, 2 ** 53, RangeError],
    ];
    for (const [start, end, type] of cases) {
      await expect(
        decryptRange(source, { providers: providers(), start, end }),
        `[${start}, ${end})`,
      ).rejects.toThrow(type);
    }
    for (const suite of SUITES) {
      const empty = await encrypt(new Uint8Array(0), { providers: providers(), suite, frameSize: FRAME });
      await expect(
        decryptRange(bytesSource(empty), { providers: providers(), start: 0, end: 1 }),
        `${suite}: [0, 1) of an empty message`,
      ).rejects.toThrow(RangeError);
    }
  });
});
