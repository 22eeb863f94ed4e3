// `sealkit kms serve` takes its data dir as every other command does: flag, SEALKIT_DATA_DIR, config profile, default.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startServe, tempDir } from "./helpers.js";

const t = tempDir();
afterAll(() => t.cleanup());

describe("kms serve and the config profile", () => {
  it("uses the profile's dataDir when no flag or variable names one", async () => {
    const config = join(t.dir, "config.json");
    const fromProfile = join(t.dir, "profile-kms");
    writeFileSync(config, JSON.stringify({ profiles: { default: { dataDir: fromProfile } } }));
    const unsigned = ["--allow-unsigned-as", "arn:aws:iam::111122223333:root"];
    const serve = await startServe(unsigned, { cwd: t.dir, env: { SEALKIT_CONFIG_FILE: config } });
    try {
      expect(serve.output()).toContain(`data dir ${fromProfile}`);
    } finally {
      serve.child.kill("SIGTERM");
      expect((await serve.closed).code).toBe(0);
    }
    const flag = join(t.dir, "flag-kms");
    const overridden = await startServe([...unsigned, "--data-dir", flag], {
      cwd: t.dir,
      env: { SEALKIT_CONFIG_FILE: config },
    });
    try {
      expect(overridden.output()).toContain(`data dir ${flag}`);
    } finally {
      overridden.child.kill("SIGTERM");
      await overridden.closed;
    }
  });
});
