// Suite: the frozen envelope vectors (test-vectors/envelopes-v1.json): every valid envelope decrypts to its
// plaintext with each recipient alone; every invalid one fails with exactly its code, one-shot and streaming.

import { fromHex, type KeyProvider, rawKeyProvider, type SealkitErrorCode } from "@sealkit/core";
import envelopes from "../../../../test-vectors/envelopes-v1.json";
import { assert, assertEqualBytes, type Cipher, expectCode, type TestCase } from "./harness.js";
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

const vectors = envelopes as unknown as EnvelopeVectors;

export function vectorCases(cipher: Cipher): TestCase[] {
  const { decrypt, decryptStream, decryptRange, bytesSource } = cipher;
  const provider = (name: string): KeyProvider => {
    const k = vectors.keys[name];
    if (!k) throw new Error(`vector key ${name} is not defined`);
    return rawKeyProvider({ providerId: k.providerId, keyId: k.keyId, key: fromHex(k.key) });
  };
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
    {
      name: `envelopes-v1.json: all ${vectors.invalid.length} invalid envelopes fail with exactly their code (one-shot and stream)`,
      async run() {
        assert(vectors.invalid.length > 0, "no invalid vectors");
        for (const v of vectors.invalid) {
          const envelope = fromHex(v.envelope);
          const options = { providers: v.decryptWith.map(provider), ...(v.options ?? {}) };
          const code = v.error as SealkitErrorCode;
          const label = `invalid ${v.id} (${v.comment})`;
          await expectCode(() => decrypt(envelope, options), code, `${label}: one-shot`);
          const streamed = await runThrough(decryptStream(options), envelope, 997);
          await expectCode(
            () => {
              if (streamed.error !== undefined) throw streamed.error;
            },
            code,
            `${label}: stream`,
          );
        }
      },
    },
  ];
}
