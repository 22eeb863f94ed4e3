// encrypt and decrypt against a KMS endpoint (the Sealkit KMS server over HTTP with SigV4) as a new user meets it:
// credentials that are wrong or missing, and --endpoint given without --provider aws.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, run, type ServeChild, startServe, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const ALICE = {
  accessKeyId: "AKIAALICE000000000002",
  secretAccessKey: "alice-secret-key-1111111111111111111111",
  principal: "arn:aws:iam::111122223333:user/alice",
};
const aliceEnv = { AWS_ACCESS_KEY_ID: ALICE.accessKeyId, AWS_SECRET_ACCESS_KEY: ALICE.secretAccessKey };
let server: ServeChild | undefined;
let url = "";

beforeAll(async () => {
  writeFileSync(join(cwd, "creds.json"), JSON.stringify({ credentials: [ALICE] }));
  server = await startServe(["--data-dir", join(cwd, "server-kms"), "--credentials", "creds.json"], { cwd });
  url = server.url;
  await ok(["keys", "create", "--endpoint", url, "--alias", "alias/remote"], { cwd, env: aliceEnv });
});
afterAll(() => {
  server?.child.kill("SIGKILL");
  t.cleanup();
});

describe("credentials", () => {
  it("decrypt with a wrong secret or no credentials says so, not 'key policy' or 'unreachable'", async () => {
    const enc = await ok(["encrypt", "--provider", "aws", "--endpoint", url, "--key", "alias/remote"], {
      cwd,
      env: aliceEnv,
      input: "x",
    });
    const decrypt = ["decrypt", "--provider", "aws", "--endpoint", url];
    const wrong = await run(decrypt, {
      cwd,
      env: { AWS_ACCESS_KEY_ID: ALICE.accessKeyId, AWS_SECRET_ACCESS_KEY: "not-alice-secret" },
      input: enc.stdout,
    });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/InvalidSignatureException/);
    expect(wrong.stderr).toMatch(/— check the credentials \(AWS_ACCESS_KEY_ID/);
    expect(wrong.stderr).not.toMatch(/key policy/);
    expect(wrong.stderr).not.toMatch(/not-alice-secret/);
    // No credentials at all (HOME is the temp dir: no ~/.aws either).
    const none = await run(decrypt, { cwd, input: enc.stdout });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/Could not load credentials/);
    expect(none.stderr).toMatch(/— check the credentials/);
    expect(none.stderr.trim().split("\n")).toHaveLength(1);
  });
});
