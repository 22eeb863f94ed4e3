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
let remoteArn = "";

beforeAll(async () => {
  writeFileSync(join(cwd, "creds.json"), JSON.stringify({ credentials: [ALICE] }));
  server = await startServe(["--data-dir", join(cwd, "server-kms"), "--credentials", "creds.json"], { cwd });
  url = server.url;
  const created = await ok(["keys", "create", "--endpoint", url, "--alias", "alias/remote", "--json"], {
    cwd,
    env: aliceEnv,
  });
  remoteArn = JSON.parse(created.out).KeyMetadata.Arn;
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

describe("--endpoint without --provider", () => {
  it("encrypt and decrypt use the endpoint's key, as the admin commands do, not a local key of that name", async () => {
    // A local KMS in the working directory with a key of the same alias: the old default used it silently.
    await ok(["keys", "create", "--alias", "alias/remote"], { cwd });
    await ok(["encrypt", "--endpoint", url, "--key", "alias/remote", "-o", "e.slkt"], {
      cwd,
      env: aliceEnv,
      input: "to the server's key",
    });
    const info = JSON.parse((await ok(["inspect", "e.slkt", "--json"], { cwd })).out);
    expect(info.encryptedDataKeys.map((k: { keyId: string }) => k.keyId)).toEqual([remoteArn]);
    const dec = await ok(["decrypt", "e.slkt", "--endpoint", url], { cwd, env: aliceEnv });
    expect(dec.out).toBe("to the server's key");
    // SEALKIT_ENDPOINT alone does the same; an explicit --provider local still means the local KMS.
    const env = { ...aliceEnv, SEALKIT_ENDPOINT: url };
    expect((await ok(["decrypt", "e.slkt"], { cwd, env })).out).toBe("to the server's key");
    expect((await run(["decrypt", "e.slkt", "--provider", "local"], { cwd, env })).code).toBe(7);
  });
});

describe("the data dir of a running kms serve", () => {
  it("is reported busy after a short wait, pointing at --endpoint", async () => {
    const started = Date.now();
    const r = await run(["keys", "list", "--data-dir", "server-kms"], { cwd });
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeGreaterThan(4000);
    expect(r.stderr).toMatch(/is already open .* — another process holds this data dir .*--endpoint\n$/);
  });
});

describe("kms serve on a port in use", () => {
  it("says so and how to pick another port, exit 1", async () => {
    const r = await run(["kms", "serve", "--port", String(server!.port), "--credentials", "creds.json"], {
      cwd,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^sealkit: EADDRINUSE: .* — another process listens on that port: pick another with --port/,
    );
  });
});
