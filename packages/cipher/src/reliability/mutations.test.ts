// Property-based mutations of valid envelopes: byte flips, truncations, insertions, deletions, frame swaps and
// duplications, frames spliced from another message under the same data key, headers swapped between two such
// messages, and the encrypted data keys replaced by another message's. Every mutant must fail with a documented
// envelope code; a streaming decryptor may release only whole frames that precede the first damaged byte; a range
// decryption may return only the exact original bytes, and must fail when the range touches the damage.

import {
  bodyLayout,
  concatBytes,
  type EncryptionContext,
  equalBytes,
  parseHeader,
  replaceEncryptedDataKeys,
  SealkitError,
  type SuiteName,
} from "@sealkit/core";
import fc from "fast-check";
import { afterAll, expect, describe as suite, test } from "vitest";
import { bytesSource, decrypt, decryptRange, decryptStream, encrypt } from "../index.js";
import {
  describe,
  ENVELOPE_CODES,
  fixedDataKeyProvider,
  isPrefix,
  rawRecipient,
  runs,
  runTransform,
  Tally,
  TEST_TIMEOUT,
} from "./helpers.js";

const tally = new Tally();
const codes = new Tally();
afterAll(() => {
  console.log(tally.report("envelope mutations (mutants tried, each decrypted one-shot and streaming)"));
  console.log(codes.report("envelope mutations (codes seen, one-shot)"));
});

/** Two messages with the same plaintext under the same data key, and a third under a fresh data key. */
interface Base {
  readonly plaintext: Uint8Array;
  readonly frameSize: number;
  readonly a: Uint8Array;
  readonly b: Uint8Array;
  readonly c: Uint8Array;
  /** Offsets of each frame of `a` (and of `b`, which has the same layout), plus the end. */
  readonly frames: readonly number[];
  readonly headerLength: number;
}

const RECIPIENT = 7;
const providers = () => [rawRecipient(RECIPIENT)];

const baseArb = (minFrames: number) =>
  fc
    .record({
      suite: fc.constantFrom<SuiteName>("XCHACHA20_POLY1305", "AES_256_GCM"),
      frameSize: fc.integer({ min: 64, max: 320 }),
      dataKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      context: fc.oneof(
        fc.constant({} as EncryptionContext),
        fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
      ),
      seed: fc.integer({ min: 0, max: 255 }),
      frames: fc.integer({ min: minFrames, max: 4 }),
      tail: fc.integer({ min: 0, max: 1000 }),
      chunks: fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 4 }),
    })
    .map((r) => {
      // `frames` frames: (frames - 1) full ones and a final one of 1..frameSize bytes (or an empty message)
      const finalLength = r.frames === 0 ? 0 : 1 + (r.tail % r.frameSize);
      const length = r.frames === 0 ? 0 : (r.frames - 1) * r.frameSize + finalLength;
      return { ...r, length };
    });

async function build(r: {
  suite: SuiteName;
  frameSize: number;
  dataKey: Uint8Array;
  context: EncryptionContext;
  seed: number;
  length: number;
}): Promise<Base> {
  const plaintext = new Uint8Array(r.length);
  for (let i = 0; i < r.length; i++) plaintext[i] = (i * 13 + r.seed) & 0xff;
  const fixed = fixedDataKeyProvider(rawRecipient(RECIPIENT), r.dataKey);
  const options = { context: r.context, suite: r.suite, frameSize: r.frameSize };
  const a = await encrypt(plaintext, { ...options, providers: [fixed] });
  const b = await encrypt(plaintext, { ...options, providers: [fixed] });
  const c = await encrypt(plaintext, { ...options, providers: providers() });
  const header = parseHeader(a);
  const layout = bodyLayout(a.length - header.length, r.frameSize);
  const frames: number[] = [];
  let offset = header.length;
  for (let i = 0; i < layout.frameCount; i++) {
    frames.push(offset);
    offset += i < layout.frameCount - 1 ? layout.regularFrameLength : 21 + layout.finalPlaintextLength;
  }
  frames.push(offset);
  expect(offset).toBe(a.length);
  return { plaintext, frameSize: r.frameSize, a, b, c, frames, headerLength: header.length };
}

/** The first offset at which `m` differs from `a` (the shorter length when one is a prefix of the other). */
function firstDifference(a: Uint8Array, m: Uint8Array): number {
  const n = Math.min(a.length, m.length);
  for (let i = 0; i < n; i++) if (a[i] !== m[i]) return i;
  return n;
}

/**
 * Decrypts a mutant one-shot and streaming. Both must fail with an envelope code; the stream may have released
 * only a prefix of the plaintext made of whole frames that end before the first damaged byte.
 */
async function expectRejected(
  base: Base,
  mutant: Uint8Array,
  kind: string,
  chunks: readonly number[],
  exactCode?: string,
): Promise<void> {
  const d = firstDifference(base.a, mutant);
  expect(d < base.a.length || mutant.length !== base.a.length, `${kind}: mutant equals the original`).toBe(
    true,
  );
  let error: unknown;
  try {
    await decrypt(mutant, { providers: providers() });
  } catch (e) {
    error = e;
  }
  expect(SealkitError.isInstance(error), `${kind}: one-shot gave ${describe(error)}`).toBe(true);
  const code = (error as SealkitError).code;
  expect(ENVELOPE_CODES.has(code), `${kind}: one-shot code ${code}`).toBe(true);
  if (exactCode) expect(code, kind).toBe(exactCode);
  codes.add(`${kind} -> ${code}`);

  const streamed = await runTransform(decryptStream({ providers: providers() }), mutant, chunks);
  expect(SealkitError.isInstance(streamed.error), `${kind}: stream gave ${describe(streamed.error)}`).toBe(
    true,
  );
  expect(ENVELOPE_CODES.has((streamed.error as SealkitError).code), `${kind}: stream code`).toBe(true);
  // whole frames entirely before the first damaged byte
  let intact = 0;
  while (intact + 1 < base.frames.length && (base.frames[intact + 1] as number) <= d) intact++;
  const allowed = new Set<number>();
  for (let j = 0; j <= intact; j++) allowed.add(Math.min(j * base.frameSize, base.plaintext.length));
  const released = streamed.released.length;
  expect(
    allowed.has(released),
    `${kind}: stream released ${released} bytes; whole intact frames allow ${[...allowed].join("/")}`,
  ).toBe(true);
  expect(isPrefix(streamed.released, base.plaintext), `${kind}: released bytes are not the plaintext`).toBe(
    true,
  );
  tally.add(kind);
  if (released > 0) tally.add(`${kind} (stream released intact frames first)`);
  await checkRange(base, mutant, kind, chunks);
}

/**
 * decryptRange over a mutant, for one range chosen from the inputs: it may return only the exact slice of the
 * original plaintext (frames it did not read may be damaged), and when the mutant has the original's length it
 * must fail if the header or a frame holding the range was changed.
 */
async function checkRange(
  base: Base,
  mutant: Uint8Array,
  kind: string,
  chunks: readonly number[],
): Promise<void> {
  const length = base.plaintext.length;
  const start = ((chunks[0] as number) * 31 + mutant.length) % (length + 1);
  const end =
    start +
    (((chunks[chunks.length - 1] as number) * 17 + firstDifference(base.a, mutant)) % (length - start + 1));
  let mustFail = false;
  if (mutant.length === base.a.length) {
    for (let i = 0; i < mutant.length && !mustFail; i++) {
      if (mutant[i] === base.a[i]) continue;
      // another authentic header (the swap) may still verify for an empty range: nothing is returned
      if (i < base.headerLength) mustFail = start < end || !kind.startsWith("header swapped");
      else {
        let k = 0;
        while ((base.frames[k + 1] as number) <= i) k++;
        const from = k * base.frameSize;
        const to = Math.min((k + 1) * base.frameSize, length);
        if (start < end && start < to && end > from) mustFail = true;
      }
    }
  }
  let result: Uint8Array | undefined;
  let error: unknown;
  try {
    result = (await decryptRange(bytesSource(mutant), { providers: providers(), start, end })).plaintext;
  } catch (e) {
    error = e;
  }
  if (result) {
    expect(
      mustFail,
      `${kind}: decryptRange [${start}, ${end}) succeeded over a damaged frame or header`,
    ).toBe(false);
    expect(
      equalBytes(result, base.plaintext.subarray(start, end)),
      `${kind}: decryptRange returned other bytes`,
    ).toBe(true);
    tally.add(`${kind} (range outside the damage: exact slice)`);
    return;
  }
  // Never a RangeError: a range past the end of a truncated mutant fails once its final frame does not authenticate.
  const ok = SealkitError.isInstance(error) && ENVELOPE_CODES.has(error.code);
  expect(ok, `${kind}: decryptRange [${start}, ${end}) gave ${describe(error)}`).toBe(true);
  tally.add(`${kind} (range refused)`);
}

const frame = (base: Base, env: Uint8Array, i: number): Uint8Array =>
  env.slice(base.frames[i] as number, base.frames[i + 1] as number);
const frameCount = (base: Base): number => base.frames.length - 1;

/** Rebuilds an envelope from the header of `head` and a list of frames. */
const assemble = (head: Uint8Array, headerLength: number, frames: Uint8Array[]): Uint8Array =>
  concatBytes(head.subarray(0, headerLength), ...frames);

const PER_RUN = 6;
const positions = fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 })), {
  minLength: PER_RUN,
  maxLength: PER_RUN,
});

suite("property: mutated envelopes never decrypt and never release a damaged frame", () => {
  test(
    "byte flips anywhere",
    async () => {
      await fc.assert(
        fc.asyncProperty(baseArb(0), positions, async (r, ps) => {
          const base = await build(r);
          for (const [p, , mask] of ps) {
            const m = base.a.slice();
            const at = p % m.length;
            m[at] = (m[at] as number) ^ mask;
            await expectRejected(
              base,
              m,
              at < base.headerLength ? "byte flip (header)" : "byte flip (body)",
              r.chunks,
            );
          }
        }),
        runs(120),
      );
    },
    TEST_TIMEOUT,
  );

  test(
    "truncations, insertions and deletions",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          baseArb(0),
          positions,
          fc.uint8Array({ minLength: 1, maxLength: 40 }),
          async (r, ps, inserted) => {
            const base = await build(r);
            const n = base.a.length;
            for (const [p, q] of ps) {
              await expectRejected(base, base.a.slice(0, p % n), "truncation", r.chunks);
              const at = p % (n + 1);
              const ins = inserted.subarray(0, 1 + (q % inserted.length));
              await expectRejected(
                base,
                concatBytes(base.a.subarray(0, at), ins, base.a.subarray(at)),
                "insertion",
                r.chunks,
              );
              const from = p % n;
              const count = 1 + (q % Math.min(40, n - from));
              await expectRejected(
                base,
                concatBytes(base.a.subarray(0, from), base.a.subarray(from + count)),
                "deletion",
                r.chunks,
              );
            }
          },
        ),
        runs(60),
      );
    },
    TEST_TIMEOUT,
  );

  test(
    "frame swaps, duplications and drops",
    async () => {
      await fc.assert(
        fc.asyncProperty(baseArb(2), positions, async (r, ps) => {
          const base = await build(r);
          const n = frameCount(base);
          const all = () => Array.from({ length: n }, (_, k) => frame(base, base.a, k));
          for (const [p, q] of ps) {
            const i = p % n;
            const j = (i + 1 + (q % (n - 1))) % n; // j != i
            const swapped = all();
            [swapped[i], swapped[j]] = [swapped[j] as Uint8Array, swapped[i] as Uint8Array];
            await expectRejected(base, assemble(base.a, base.headerLength, swapped), "frame swap", r.chunks);
            const over = all();
            over[j] = frame(base, base.a, i);
            await expectRejected(
              base,
              assemble(base.a, base.headerLength, over),
              "frame duplicated over another",
              r.chunks,
            );
            const extra = all();
            extra.splice(j, 0, frame(base, base.a, i));
            await expectRejected(
              base,
              assemble(base.a, base.headerLength, extra),
              "frame duplicated (inserted)",
              r.chunks,
            );
            const dropped = all();
            dropped.splice(i, 1);
            await expectRejected(
              base,
              assemble(base.a, base.headerLength, dropped),
              "frame dropped",
              r.chunks,
            );
          }
        }),
        runs(50),
      );
    },
    TEST_TIMEOUT,
  );

  test(
    "frames spliced from another message under the same data key",
    async () => {
      await fc.assert(
        fc.asyncProperty(baseArb(1), positions, async (r, ps) => {
          const base = await build(r);
          const n = frameCount(base);
          for (const [p, q] of ps) {
            const i = p % n;
            const j = q % n;
            const frames = Array.from({ length: n }, (_, k) => frame(base, base.a, k));
            frames[i] = frame(base, base.b, j);
            await expectRejected(
              base,
              assemble(base.a, base.headerLength, frames),
              i === j ? "frame spliced (same index, same plaintext)" : "frame spliced (other index)",
              r.chunks,
              i === j || (i < n - 1 && j < n - 1) ? "ERR_AUTHENTICATION_FAILED" : undefined,
            );
          }
        }),
        runs(60),
      );
    },
    TEST_TIMEOUT,
  );

  test(
    "headers swapped between two messages under the same data key; EDKs from another data key",
    async () => {
      await fc.assert(
        fc.asyncProperty(baseArb(0), async (r) => {
          const base = await build(r);
          const hb = parseHeader(base.b);
          // B's whole header (its own commitment and tag verify) over A's body
          await expectRejected(
            base,
            concatBytes(base.b.subarray(0, hb.length), base.a.subarray(base.headerLength)),
            "header swapped (same data key)",
            r.chunks,
            "ERR_AUTHENTICATION_FAILED",
          );
          // A's authenticated header with C's encrypted data keys (same recipient, another data key)
          const ha = parseHeader(base.a);
          const hc = parseHeader(base.c);
          await expectRejected(
            base,
            concatBytes(
              replaceEncryptedDataKeys(ha, hc.encryptedDataKeys),
              base.a.subarray(base.headerLength),
            ),
            "EDK list from a message under another data key",
            r.chunks,
            "ERR_AUTHENTICATION_FAILED",
          );
          // By design (rewrap): B's EDKs open the same data key, so A with B's EDK list still decrypts to A.
          const rewrapped = concatBytes(
            replaceEncryptedDataKeys(ha, hb.encryptedDataKeys),
            base.a.subarray(base.headerLength),
          );
          expect(
            equalBytes((await decrypt(rewrapped, { providers: providers() })).plaintext, base.plaintext),
          ).toBe(true);
          tally.add("control: EDK list from a message under the same data key decrypts (rewrap)");
        }),
        runs(100),
      );
    },
    TEST_TIMEOUT,
  );
});

suite("decryptRange authenticates the header before it judges the range", () => {
  test(
    "a forged header length field fails with an envelope code, never as the caller's RangeError",
    async () => {
      // Changing the frame size or a length in the header (the context's, an encrypted data key's) moves where
      // the body starts, so the plaintext length implied by the envelope's size shrinks below the caller's range.
      const plaintext = new Uint8Array(150).fill(7);
      for (const suiteName of ["XCHACHA20_POLY1305", "AES_256_GCM"] as const) {
        const sealed = await encrypt(plaintext, {
          providers: providers(),
          frameSize: 100,
          suite: suiteName,
          context: { a: "b" },
        });
        const headerLength = parseHeader(sealed).length;
        let tried = 0;
        for (let at = 0; at < headerLength; at++) {
          for (const mask of [0x01, 0x02, 0x10]) {
            const forged = sealed.slice();
            forged[at] = (forged[at] as number) ^ mask;
            for (const end of [1, 150]) {
              let error: unknown;
              try {
                await decryptRange(bytesSource(forged), { providers: providers(), start: 0, end });
              } catch (e) {
                error = e;
              }
              expect(
                SealkitError.isInstance(error),
                `byte ${at} ^ ${mask}, end ${end}: ${describe(error)}`,
              ).toBe(true);
              expect(ENVELOPE_CODES.has((error as SealkitError).code)).toBe(true);
              tried++;
            }
          }
        }
        tally.add("forged header byte under decryptRange (regression)", tried);
      }
    },
    TEST_TIMEOUT,
  );
});
