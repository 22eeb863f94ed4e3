// Suite: the frozen vectors. test-vectors/envelopes-v1.json: every valid envelope decrypts to its plaintext and
// header with each recipient alone; every invalid one, and every one of envelopes-v1-rejections.json, fails with
// exactly its code, one-shot and streaming (in chunks of 997 bytes and of 1 byte). test-vectors/context-v1.json: core's context codec, so that it too runs in
// every runtime (Node alone ran it before).

import {
  AUTHENTICATION_FAILED_MESSAGE,
  decodeContext,
  encodeContext,
  fromHex,
  type KeyProvider,
  rawKeyProvider,
  type SealkitErrorCode,
  toHex,
} from "@sealkit/core";
import contexts from "../../../../test-vectors/context-v1.json";
import envelopes from "../../../../test-vectors/envelopes-v1.json";
import rejectionFile from "../../../../test-vectors/envelopes-v1-rejections.json";
import { assert, assertEqualBytes, type Cipher, expectCode, type TestCase, thrown } from "./harness.js";
import { runThrough } from "./streams.js";

interface EnvelopeVectors {
  keys: Record<string, { providerId: string; keyId: string; key: string }>;
  valid: {
    id: number;
    comment: string;
    suite: string;
    frameSize: number;
    context: Record<string, string>;
    recipients: string[];
    plaintext: string;
    envelope: string;
  }[];
  invalid: {
    id: number;
    comment: string;
    envelope: string;
    decryptWith: string[];
    options?: { maxEncryptedDataKeys?: number; expectContext?: Record<string, string> };
    error: string;
  }[];
}

interface ContextVectors {
  valid: { id: number; comment: string; context: Record<string, string>; encoding: string }[];
  invalid: { id: number; comment: string; encoding: string; error: string }[];
}

const vectors = envelopes as unknown as EnvelopeVectors;
const contextVectors = contexts as unknown as ContextVectors;
// Rejection rules of docs/FORMAT.md that envelopes-v1.json (frozen as released) has no case for; same keys.
const rejections = rejectionFile as unknown as EnvelopeVectors;

/** The same pairs, compared as a set (the JSON's order is not the canonical order). */
function sameContext(actual: Record<string, string>, expected: Record<string, string>): boolean {
  const keys = Object.keys(expected);
  return (
    Object.keys(actual).length === keys.length &&
    keys.every((k) => Object.hasOwn(actual, k) && actual[k] === expected[k])
  );
}

export function vectorCases(cipher: Cipher): TestCase[] {
  const { decrypt, decryptStream, decryptRange, bytesSource } = cipher;
  const provider = (name: string): KeyProvider => {
    const k = vectors.keys[name];
    if (!k) throw new Error(`vector key ${name} is not defined`);
    return rawKeyProvider({ providerId: k.providerId, keyId: k.keyId, key: fromHex(k.key) });
  };
  /** Fails with `code`; an authentication failure also with the one fixed message (FORMAT.md section 12). */
  const expectOutcome = async (fn: () => unknown, code: SealkitErrorCode, label: string) => {
    await expectCode(fn, code, label);
    if (code !== "ERR_AUTHENTICATION_FAILED") return;
    const { message } = (await thrown(fn, label)) as Error;
    assert(message === AUTHENTICATION_FAILED_MESSAGE, `${label}: message "${message}" is not the fixed one`);
  };
  /** Every invalid envelope of a file fails with exactly its code: one-shot, and streamed in two chunk sizes. */
  const invalidCase = (file: string, cases: EnvelopeVectors["invalid"]): TestCase => ({
    name: `${file}: all ${cases.length} invalid envelopes fail with exactly their code (one-shot and stream)`,
    async run() {
      assert(cases.length > 0, `no invalid vectors in ${file}`);
      for (const v of cases) {
        const envelope = fromHex(v.envelope);
        const options = { providers: v.decryptWith.map(provider), ...(v.options ?? {}) };
        const code = v.error as SealkitErrorCode;
        const label = `${file} invalid ${v.id} (${v.comment})`;
        await expectOutcome(() => decrypt(envelope, options), code, `${label}: one-shot`);
        // 1-byte chunks: a streaming parser sees every prefix of the header, and must end on the code the
        // whole envelope gives.
        for (const chunk of [997, 1]) {
          const streamed = await runThrough(decryptStream(options), envelope, chunk);
          await expectOutcome(
            () => {
              if (streamed.error !== undefined) throw streamed.error;
            },
            code,
            `${label}: stream in chunks of ${chunk}`,
          );
        }
      }
    },
  });
  return [
    {
      name: `envelopes-v1.json: all ${vectors.valid.length} valid envelopes open with each recipient alone (one-shot, stream, range)`,
      async run() {
        assert(vectors.valid.length > 0, "no valid vectors");
        for (const v of vectors.valid) {
          const envelope = fromHex(v.envelope);
          const plaintext = fromHex(v.plaintext);
          for (const recipient of v.recipients) {
            const providers = [provider(recipient)];
            const label = `valid ${v.id} (${v.comment}) as ${recipient}`;
            const result = await decrypt(envelope, { providers, expectContext: v.context });
            assertEqualBytes(result.plaintext, plaintext, `${label}: one-shot`);
            assert(
              result.header.suite.name === v.suite && result.header.frameSize === v.frameSize,
              `${label}: header`,
            );
            assert(sameContext(result.header.context, v.context), `${label}: context`);
            const streamed = await runThrough(decryptStream({ providers }), envelope, 1000);
            assert(streamed.error === undefined, `${label}: stream failed with ${String(streamed.error)}`);
            assertEqualBytes(streamed.output, plaintext, `${label}: stream`);
            const mid = Math.floor(plaintext.length / 3);
            const range = await decryptRange(bytesSource(envelope), {
              providers,
              start: mid,
              end: plaintext.length,
              verifyLength: true,
            });
            assertEqualBytes(range.plaintext, plaintext.subarray(mid), `${label}: range`);
          }
        }
      },
    },
    invalidCase("envelopes-v1.json", vectors.invalid),
    invalidCase("envelopes-v1-rejections.json", rejections.invalid),
    {
      name: `context-v1.json: all ${contextVectors.valid.length} valid contexts encode to their bytes and back; all ${contextVectors.invalid.length} invalid encodings fail with their code`,
      async run() {
        assert(contextVectors.valid.length > 0 && contextVectors.invalid.length > 0, "no context vectors");
        for (const v of contextVectors.valid) {
          const label = `context valid ${v.id} (${v.comment})`;
          assert(toHex(encodeContext(v.context)) === v.encoding, `${label}: encoding`);
          assert(sameContext(decodeContext(fromHex(v.encoding)), v.context), `${label}: decoding`);
        }
        for (const v of contextVectors.invalid) {
          const label = `context invalid ${v.id} (${v.comment})`;
          await expectCode(() => decodeContext(fromHex(v.encoding)), v.error as SealkitErrorCode, label);
        }
      },
    },
  ];
}
