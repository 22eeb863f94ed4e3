// Seed files: the example seed applies, a second run changes nothing, drift is brought back, bad seeds are refused.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalKms } from "../local-kms.js";
import { applySeed, checkSeed, loadSeedFile, seedSummary } from "./seed.js";
import { startKmsServer } from "./start.js";
import { ALICE } from "./test-support.js";

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
    expect(second).toEqual({
      created: [],
      updated: [],
      unchanged: expect.arrayContaining(first.created),
      pendingDeletion: [],
    });
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

  it("leaves a seeded key that is pending deletion as it is and reports it; the server still starts", async () => {
    // Any principal allowed kms:ScheduleKeyDeletion on one seeded key made every later start with that seed fail:
    // the seed called GetKeyRotationStatus (or UpdateKeyDescription...) on it, KMSInvalidStateException, and
    // startKmsServer (sealkit-kms serve) exited. A key pending deletion cannot be changed; cancelling the deletion
    // would undo what its owner asked for. It is left as it is, named in pendingDeletion, and the rest applies.
    const own = mkdtempSync(join(tmpdir(), "sealkit-kms-seed-pending-"));
    try {
      const dataDir = join(own, "kms");
      const seed = loadSeedFile(EXAMPLE);
      const local = await LocalKms.open({ dataDir, region: "us-east-1", account: "111122223333" });
      await applySeed(local, ROOT, seed);
      const app = (await local.describeKey(ROOT, { KeyId: "alias/app-data" })).KeyMetadata.KeyId;
      await local.scheduleKeyDeletion(ROOT, { KeyId: app, PendingWindowInDays: 7 });
      // Drift on another key is still brought back in the same run.
      const reports = (await local.describeKey(ROOT, { KeyId: "alias/reports" })).KeyMetadata.KeyId;
      await local.updateKeyDescription(ROOT, { KeyId: reports, Description: "changed by hand" });
      const result = await applySeed(local, ROOT, seed);
      expect(result).toEqual({
        created: [],
        updated: ["alias/reports"],
        unchanged: ["alias/retired"],
        // The key, and the extra alias whose target it is.
        pendingDeletion: ["alias/app-data", "alias/app-data-current"],
      });
      expect(seedSummary(result)).toBe(
        "seed: 0 created, 1 updated, 1 unchanged, left as they are (key pending deletion): alias/app-data, alias/app-data-current",
      );
      expect((await local.describeKey(ROOT, { KeyId: app })).KeyMetadata.KeyState).toBe("PendingDeletion");
      await local.close();

      const started = await startKmsServer({ dataDir, credentials: [ALICE], port: 0, seed });
      try {
        expect(started.seeded.pendingDeletion).toEqual(["alias/app-data", "alias/app-data-current"]);
        expect((await fetch(`${started.url}/health`)).status).toBe(200);
      } finally {
        await started.close();
      }
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
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
