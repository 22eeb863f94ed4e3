// Every shared suite, by name, for one implementation.

import { envelopeCases } from "./envelope.js";
import type { Cipher, TestCase } from "./harness.js";
import { inputCases } from "./inputs.js";
import { primitiveCases, type WycheproofTally } from "./primitives.js";
import { rangeCases } from "./range.js";
import { streamCases } from "./streams.js";
import { vectorCases } from "./vectors.js";

export function allSuites(
  cipher: Cipher,
  report: (tally: WycheproofTally) => void = () => {},
): Record<string, readonly TestCase[]> {
  return {
    primitives: primitiveCases(cipher, report),
    envelope: envelopeCases(cipher),
    streams: streamCases(cipher),
    range: rangeCases(cipher),
    inputs: inputCases(cipher),
    vectors: vectorCases(cipher),
  };
}
