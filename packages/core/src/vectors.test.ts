// Runs test-vectors/context-v1.json fully, and the header-level part of test-vectors/envelopes-v1.json and
// envelopes-v1-rejections.json (the whole files go through decryption in @sealkit/cipher). Also cross-checks core's key schedule and raw provider against
// the independent generator, and decrypts the AES-256-GCM vectors with core's test opener.

import { describe, expect, it } from "vitest";
import contextFile from "../../../test-vectors/context-v1.json";
import envelopeFile from "../../../test-vectors/envelopes-v1.json";
import rejectionFile from "../../../test-vectors/envelopes-v1-rejections.json";
import { equalBytes, fromHex, toHex } from "./bytes.js";
import { decodeContext, encodeContext } from "./context.js";
import { openEnvelopeDataKey } from "./data-keys.js";
import { SealkitError } from "./errors.js";
import { parseHeader } from "./header.js";
import { deriveMessageKeys } from "./key-schedule.js";
import { rawKeyProvider } from "./raw-provider.js";
import { openAes } from "./testing/aes-envelope.js";

type Keys = Record<string, { providerId: string; keyId: string; key: string }>;
const keys = envelopeFile.keys as Keys;
const provider = (name: string) => {
  const k = keys[name]!;
  return rawKeyProvider({ providerId: k.providerId, keyId: k.keyId, key: fromHex(k.key) });
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return SealkitError.isInstance(error) ? error.code : String(error);
  }
  return "no error";
}

describe("context-v1.json", () => {
  for (const c of contextFile.valid) {
    it(`valid ${c.id}: ${c.comment}`, () => {
      expect(toHex(encodeContext(c.context as Record<string, string>))).toBe(c.encoding);
      expect(decodeContext(fromHex(c.encoding))).toEqual(c.context);
    });
  }
  for (const c of contextFile.invalid) {
    it(`invalid ${c.id}: ${c.comment}`, () => {
      expect(codeOf(() => decodeContext(fromHex(c.encoding)))).toBe(c.error);
    });
  }
});

describe("envelopes-v1.json: valid", () => {
  expect(envelopeFile.format).toBe("sealkit-envelope");
  expect(envelopeFile.version).toBe(1);
  for (const c of envelopeFile.valid) {
    it(`valid ${c.id}: ${c.comment}`, async () => {
      const envelope = fromHex(c.envelope);
      const header = parseHeader(envelope);
      expect(header.suite.name).toBe(c.suite);
      expect(header.frameSize).toBe(c.frameSize);
      expect(header.context).toEqual(c.context);
      expect(header.encryptedDataKeys.map((k) => k.keyId)).toEqual(c.recipients.map((n) => keys[n]!.keyId));
      // Core's raw provider opens each recipient's key alone, and core's key schedule gives the commitment.
      for (const name of c.recipients) {
        const opened = await openEnvelopeDataKey(header.encryptedDataKeys, [provider(name)], {
          context: header.context,
        });
        const derived = await deriveMessageKeys(opened.plaintext, header.messageId, header.suite);
        expect(equalBytes(derived.commitment, header.commitment)).toBe(true);
        if (c.suite === "AES_256_GCM") {
          expect(toHex(await openAes(envelope, [provider(name)]))).toBe(c.plaintext);
        }
      }
    });
  }
});

const HEADER_ONLY_CODES = new Set([
  "ERR_UNSUPPORTED_VERSION",
  "ERR_UNSUPPORTED_SUITE",
  "ERR_FRAME_SIZE",
  "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
]);
const HEADER_OR_BODY_CODES = new Set(["ERR_ENVELOPE_MALFORMED", "ERR_TRUNCATED", "ERR_LIMIT_EXCEEDED"]);

describe("envelopes-v1.json and envelopes-v1-rejections.json: invalid, header level", () => {
  let headerFailures = 0;
  for (const c of [...envelopeFile.invalid, ...rejectionFile.invalid]) {
    const options = (c as { options?: { maxEncryptedDataKeys?: number } }).options;
    it(`invalid ${c.id}: ${c.comment} (${c.error})`, () => {
      const code = codeOf(() =>
        parseHeader(
          fromHex(c.envelope),
          options?.maxEncryptedDataKeys ? { maxEncryptedDataKeys: options.maxEncryptedDataKeys } : {},
        ),
      );
      if (HEADER_ONLY_CODES.has(c.error)) expect(code).toBe(c.error);
      else if (HEADER_OR_BODY_CODES.has(c.error)) expect(["no error", c.error]).toContain(code);
      else expect(code).toBe("no error"); // a failure that only decryption can find
      if (code !== "no error") headerFailures++;
    });
  }
  it("has header-level failures of every kind", () => {
    expect(headerFailures).toBeGreaterThanOrEqual(40);
  });
});
