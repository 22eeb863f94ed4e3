import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { repoRoot } from "@sealkit/config/vitest";
import { describe, expect, it } from "vitest";
import { contextVectors, envelopeVectors, rejectionVectors, toJson } from "./vectors.js";

const committed = (name) => readFileSync(resolve(repoRoot, "test-vectors", name), "utf8");

describe("frozen vectors", () => {
  it("regenerating envelopes-v1.json gives the committed file byte for byte", async () => {
    // envelopeVectors also runs every case through the reference decryptor and throws on any disagreement.
    const file = await envelopeVectors();
    expect(toJson(file) === committed("envelopes-v1.json")).toBe(true);
    expect(file.valid.length).toBeGreaterThanOrEqual(25);
    expect(file.invalid.length).toBeGreaterThanOrEqual(40);
  });

  it("regenerating envelopes-v1-rejections.json gives the committed file byte for byte", async () => {
    const file = await rejectionVectors();
    expect(toJson(file) === committed("envelopes-v1-rejections.json")).toBe(true);
    expect(file.valid).toEqual([]);
    expect(file.invalid.length).toBeGreaterThanOrEqual(8);
  });

  it("envelopes-v1-rejections.json has the keys of envelopes-v1.json and ids of its own", () => {
    const main = JSON.parse(committed("envelopes-v1.json"));
    const more = JSON.parse(committed("envelopes-v1-rejections.json"));
    expect(more.keys).toEqual(main.keys);
    const ids = new Set([...main.valid, ...main.invalid].map((c) => c.id));
    for (const c of more.invalid) expect(ids.has(c.id), `id ${c.id}`).toBe(false);
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
