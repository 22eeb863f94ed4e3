// Writes test-vectors/envelopes-v1.json, test-vectors/envelopes-v1-rejections.json and test-vectors/context-v1.json. Run: pnpm --filter @sealkit/vectors generate
// The files are frozen once released: a change to the output means a bug here or a new format version.

import { writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { contextVectors, envelopeVectors, rejectionVectors, toJson } from "./vectors.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const envelopes = await envelopeVectors();
writeFileSync(resolve(root, "test-vectors/envelopes-v1.json"), toJson(envelopes));
const rejections = await rejectionVectors();
writeFileSync(resolve(root, "test-vectors/envelopes-v1-rejections.json"), toJson(rejections));
const context = contextVectors();
writeFileSync(resolve(root, "test-vectors/context-v1.json"), toJson(context));
console.log(
  `envelopes-v1.json: ${envelopes.valid.length} valid, ${envelopes.invalid.length} invalid; ` +
    `envelopes-v1-rejections.json: ${rejections.invalid.length} invalid; ` +
    `context-v1.json: ${context.valid.length} valid, ${context.invalid.length} invalid`,
);
