import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { repoRoot } from "@sealkit/config/vitest";
import { describe, expect, it } from "vitest";
import { contextVectors, envelopeVectors, toJson } from "./vectors.js";

const committed = (name) => readFileSync(resolve(repoRoot, "test-vectors", name), "utf8");

describe("frozen vectors", () => {
  it("regenerating envelopes-v1.json gives the committed file byte for byte", async () => {
    // envelopeVectors also runs every case through the reference decryptor and throws on any disagreement.
    const file = await envelopeVectors();
    expect(toJson(file) === committed("envelopes-v1.json")).toBe(true);
    expect(file.valid.length).toBeGreaterThanOrEqual(25);
    expect(file.invalid.length).toBeGreaterThanOrEqual(40);
  });

  it("regenerating context-v1.json gives the committed file byte for byte", () => {
    expect(toJson(contextVectors()) === committed("context-v1.json")).toBe(true);
  });

  it("ids are unique and every invalid case names a key the file defines", async () => {
    const file = JSON.parse(committed("envelopes-v1.json"));
    const ids = [...file.valid, ...file.invalid].map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const c of file.invalid) for (const name of c.decryptWith) expect(file.keys[name]).toBeDefined();
    for (const c of file.valid) for (const name of c.recipients) expect(file.keys[name]).toBeDefined();
  });
});
