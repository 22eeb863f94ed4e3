// Properties of the codec over generated inputs: canonical context round trips, and a parser that never crashes on
// damaged headers (every failure a SealkitError with a code, or a request for more bytes).

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import envelopeFile from "../../../test-vectors/envelopes-v1.json";
import { fromHex, toHex } from "./bytes.js";
import { decodeContext, encodeContext } from "./context.js";
import { SealkitError } from "./errors.js";
import { parseHeader, tryParseHeader } from "./header.js";

const contextArb = fc.dictionary(
  fc.string({ unit: "binary", minLength: 1, maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 12 }),
  { maxKeys: 8 },
);

describe("canonical context", () => {
  it("decode(encode(c)) equals c, and encode is independent of insertion order", () => {
    fc.assert(
      fc.property(contextArb, (context) => {
        const encoded = encodeContext(context);
        expect(decodeContext(encoded)).toEqual({ ...context });
        const reversed = Object.fromEntries(Object.entries(context).reverse());
        expect(toHex(encodeContext(reversed))).toBe(toHex(encoded));
      }),
      { numRuns: 500 },
    );
  });

  it("decoding arbitrary bytes returns a context that re-encodes to the same bytes, or ERR_ENVELOPE_MALFORMED", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        try {
          const context = decodeContext(bytes);
          expect(toHex(encodeContext(context))).toBe(toHex(bytes));
        } catch (error) {
          expect(SealkitError.isInstance(error, "ERR_ENVELOPE_MALFORMED")).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("header parser on damaged input", () => {
  const samples = envelopeFile.valid.slice(0, 12).map((v) => fromHex(v.envelope));
  it("only ever returns a header, asks for more bytes, or throws a coded SealkitError", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (sample, edits, cut) => {
          const bytes = sample.slice(0, Math.max(0, sample.length - (cut % 40)));
          for (const [at, value] of edits) if (bytes.length) bytes[at % bytes.length] = value;
          try {
            const result = tryParseHeader(bytes);
            if (result.complete) {
              expect(result.header.length).toBeLessThanOrEqual(bytes.length);
            } else {
              expect(result.needed).toBeGreaterThan(bytes.length);
              expect(() => parseHeader(bytes)).toThrow(expect.objectContaining({ code: "ERR_TRUNCATED" }));
            }
          } catch (error) {
            expect(SealkitError.isInstance(error)).toBe(true);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
