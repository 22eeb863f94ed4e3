// Seed files: the example seed applies, a second run changes nothing, drift is brought back, bad seeds are refused.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalKms } from "../local-kms.js";
import { applySeed, checkSeed, loadSeedFile } from "./seed.js";

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), "../../examples/seed.yaml");
const ROOT = { principal: "arn:aws:iam::111122223333:root", account: "111122223333" };

describe("seed files", { timeout: 30_000 }, () => {
  let dir: string;
  let kms: LocalKms;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-seed-"));
    kms = await LocalKms.open({ dataDir: dir, region: "us-east-1", account: "111122223333" });
  });
  afterAll(async () => {
    await kms.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("applies the example seed, then changes nothing on a second run", async () => {
    const seed = loadSeedFile(EXAMPLE);
    const first = await applySeed(kms, ROOT, seed);
    expect(first.created.sort()).toEqual([
      "alias/app-data",
      "alias/app-data-current",
      "alias/reports",
      "alias/retired",
    ]);
    const keysBefore = (await kms.listKeys(ROOT, {})).Keys.length;
    const second = await applySeed(kms, ROOT, seed);
    expect(second).toEqual({ created: [], updated: [], unchanged: expect.arrayContaining(first.created) });
    expect((await kms.listKeys(ROOT, {})).Keys.length).toBe(keysBefore);

    const app = await kms.describeKey(ROOT, { KeyId: "alias/app-data" });
    expect(app.KeyMetadata.Description).toBe("Data keys of the app's envelopes");
    expect((await kms.getKeyRotationStatus(ROOT, { KeyId: app.KeyMetadata.KeyId })).KeyRotationEnabled).toBe(
      true,
    );
    expect((await kms.listResourceTags(ROOT, { KeyId: app.KeyMetadata.KeyId })).Tags).toEqual(
      expect.arrayContaining([{ TagKey: "team", TagValue: "payments" }]),
    );
    expect((await kms.describeKey(ROOT, { KeyId: "alias/app-data-current" })).KeyMetadata.KeyId).toBe(
      app.KeyMetadata.KeyId,
    );
    expect((await kms.describeKey(ROOT, { KeyId: "alias/retired" })).KeyMetadata.KeyState).toBe("Disabled");
    const reports = (await kms.describeKey(ROOT, { KeyId: "alias/reports" })).KeyMetadata.KeyId;
    const policy = JSON.parse((await kms.getKeyPolicy(ROOT, { KeyId: reports })).Policy);
    expect(policy.Statement[1].Sid).toBe("NoDecryptForBob");
  });

  it("brings a drifted key back to the seed", async () => {
    const seed = loadSeedFile(EXAMPLE);
    await applySeed(kms, ROOT, seed);
    const id = (await kms.describeKey(ROOT, { KeyId: "alias/app-data" })).KeyMetadata.KeyId;
    await kms.updateKeyDescription(ROOT, { KeyId: id, Description: "changed by hand" });
    await kms.disableKeyRotation(ROOT, { KeyId: id });
    const result = await applySeed(kms, ROOT, seed);
    expect(result.updated).toEqual(["alias/app-data"]);
    expect((await kms.describeKey(ROOT, { KeyId: id })).KeyMetadata.Description).toBe(
      "Data keys of the app's envelopes",
    );
    expect((await kms.getKeyRotationStatus(ROOT, { KeyId: id })).KeyRotationEnabled).toBe(true);
  });

  it("refuses malformed seeds with a TypeError naming the field", () => {
    expect(() => checkSeed({ keys: [{ description: "no alias" }] })).toThrow(/keys\[0\]\.alias/);
    expect(() => checkSeed({ keys: [{ alias: "alias/a" }, { alias: "alias/a" }] })).toThrow(/appears twice/);
    expect(() => checkSeed({ keys: [{ alias: "alias/a", tags: { a: 1 } }] })).toThrow(/tags\.a/);
    expect(() => checkSeed({ aliases: [{ name: "x", target: "alias/a" }] })).toThrow(/aliases\[0\]\.name/);
    expect(() => checkSeed([1])).toThrow(TypeError);
    expect(checkSeed(null)).toEqual({});
  });

  it("refuses a file that is not YAML with a one-line TypeError, and passes on the error of one it cannot read", () => {
    const bad = join(dir, "bad-seed.yaml");
    writeFileSync(bad, "keys:\n  - alias: alias/a\n description: x\n");
    let error: unknown;
    try {
      loadSeedFile(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/^seed file .*bad-seed\.yaml is not valid YAML or JSON: \S/);
    expect((error as Error).message).not.toContain("\n");
    expect(() => loadSeedFile(join(dir, "missing.yaml"))).toThrow(
      expect.objectContaining({ code: "ENOENT" }),
    );
  });
});
