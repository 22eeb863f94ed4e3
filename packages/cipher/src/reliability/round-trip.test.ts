// Property-based round trips: random plaintexts (around frame boundaries), contexts (unicode, empty values, many
// pairs), frame sizes, suites and recipient sets; each recipient alone decrypts, one-shot and streaming, with
// random chunkings on both sides.

import { type EncryptionContext, equalBytes, type SuiteName } from "@sealkit/core";
import fc from "fast-check";
import { afterAll, expect, describe as suite, test } from "vitest";
import { decrypt, decryptStream, encrypt, encryptStream } from "../index.js";
import { describe, rawRecipient, runs, runTransform, Tally, TEST_TIMEOUT } from "./helpers.js";

const tally = new Tally();
afterAll(() => {
  console.log(tally.report("round-trip properties (cases tried)"));
});

const suites: SuiteName[] = ["XCHACHA20_POLY1305", "AES_256_GCM"];

/** A plaintext length near a frame boundary (k frames +- 2 bytes) or anywhere in the first four frames. */
const lengthFor = (frameSize: number) =>
  fc.oneof(
    fc
      .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: -2, max: 2 }))
      .map(([k, d]) => Math.max(0, k * frameSize + d)),
    fc.integer({ min: 0, max: 4 * frameSize }),
  );

/** Contexts: none, a few unicode pairs (astral planes included), empty values, or many small pairs. */
const contextArb: fc.Arbitrary<EncryptionContext> = fc.oneof(
  fc.constant({}),
  fc.dictionary(
    fc.string({ unit: "binary", minLength: 1, maxLength: 12 }),
    fc.string({ unit: "binary", maxLength: 24 }),
    { maxKeys: 6 },
  ),
  fc.dictionary(fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 }), fc.constant(""), { maxKeys: 5 }),
  fc.dictionary(
    fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 6 }),
    fc.string({ maxLength: 6 }),
    {
      minKeys: 20,
      maxKeys: 60,
    },
  ),
);

const caseArb = fc
  .record({
    suite: fc.constantFrom(...suites),
    frameSize: fc.oneof(fc.integer({ min: 64, max: 4096 }), fc.constantFrom(64, 65, 1024, 4096)),
    context: contextArb,
    // 1 to 3 distinct recipients, by seed
    recipients: fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 3 }),
    seed: fc.integer({ min: 0, max: 255 }),
    inChunks: fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 5 }),
    outChunks: fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 5 }),
  })
  .chain((c) => lengthFor(c.frameSize).map((length) => ({ ...c, length })));

function plaintextOf(length: number, seed: number): Uint8Array {
  const p = new Uint8Array(length);
  for (let i = 0; i < length; i++) p[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return p;
}

suite("property: random envelopes round-trip for every recipient, one-shot and streaming", () => {
  test(
    "one-shot encrypt; each recipient alone decrypts, one-shot and in random chunkings",
    async () => {
      await fc.assert(
        fc.asyncProperty(caseArb, async (c) => {
          const plaintext = plaintextOf(c.length, c.seed);
          const envelope = await encrypt(plaintext, {
            providers: c.recipients.map((s) => rawRecipient(s)),
            context: c.context,
            suite: c.suite,
            frameSize: c.frameSize,
          });
          for (const s of c.recipients) {
            const providers = [rawRecipient(s)];
            const { plaintext: out, header } = await decrypt(envelope, { providers });
            expect(equalBytes(out, plaintext), "one-shot plaintext").toBe(true);
            expect({ ...header.context }).toEqual({ ...c.context });
            expect(header.suite.name).toBe(c.suite);
            expect(header.frameSize).toBe(c.frameSize);
            expect(header.encryptedDataKeys.length).toBe(c.recipients.length);
            const streamed = await runTransform(decryptStream({ providers }), envelope, c.inChunks);
            expect(describe(streamed.error)).toBe("undefined");
            expect(equalBytes(streamed.released, plaintext), "streamed plaintext").toBe(true);
            tally.add("recipient decryptions (one-shot + streaming)");
          }
          // a key that is not a recipient opens nothing
          await expect(decrypt(envelope, { providers: [rawRecipient(5000)] })).rejects.toMatchObject({
            code: "ERR_NO_DECRYPTABLE_KEY",
          });
          tally.add("one-shot envelopes");
          tally.add(`frames in envelopes`, Math.max(1, Math.ceil(c.length / c.frameSize)));
        }),
        runs(200),
      );
    },
    TEST_TIMEOUT,
  );

  test(
    "streaming encrypt in random chunkings; one-shot and streaming decrypt agree",
    async () => {
      await fc.assert(
        fc.asyncProperty(caseArb, async (c) => {
          const plaintext = plaintextOf(c.length, c.seed);
          const sealed = await runTransform(
            encryptStream({
              providers: c.recipients.map((s) => rawRecipient(s)),
              context: c.context,
              suite: c.suite,
              frameSize: c.frameSize,
            }),
            plaintext,
            c.inChunks,
          );
          expect(describe(sealed.error)).toBe("undefined");
          const last = c.recipients[c.recipients.length - 1] as number;
          const { plaintext: out } = await decrypt(sealed.released, { providers: [rawRecipient(last)] });
          expect(equalBytes(out, plaintext), "one-shot plaintext").toBe(true);
          const streamed = await runTransform(
            decryptStream({ providers: [rawRecipient(c.recipients[0] as number)] }),
            sealed.released,
            c.outChunks,
          );
          expect(describe(streamed.error)).toBe("undefined");
          expect(equalBytes(streamed.released, plaintext), "streamed plaintext").toBe(true);
          tally.add("streamed envelopes");
        }),
        runs(120),
      );
    },
    TEST_TIMEOUT,
  );
});
