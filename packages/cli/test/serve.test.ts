// `sealkit kms serve` (kms-local's startKmsServer) driven by the CLI's own aws provider and admin commands over
// HTTP with SigV4 (@aws-sdk/client-kms), the local -> AWS KMS rewrap migration, and --hsm refusing a dead HSM.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, REPO_ROOT, run, type ServeChild, startServe, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const ALICE = {
  accessKeyId: "AKIAALICE000000000001",
  secretAccessKey: "alice-secret-key-0000000000000000000000",
  principal: "arn:aws:iam::111122223333:user/alice",
};
let server: ServeChild | undefined;
let url = "";
const aliceEnv = { AWS_ACCESS_KEY_ID: ALICE.accessKeyId, AWS_SECRET_ACCESS_KEY: ALICE.secretAccessKey };

beforeAll(async () => {
  writeFileSync(join(cwd, "creds.json"), JSON.stringify({ credentials: [ALICE] }));
  server = await startServe(["--data-dir", join(cwd, "server-kms"), "--credentials", "creds.json"], { cwd });
  url = server.url;
});
afterAll(() => {
  server?.child.kill("SIGKILL");
  t.cleanup();
});

describe("against the Sealkit KMS server", () => {
  it("keys, encrypt and decrypt with --provider aws --endpoint, as the signed-in principal", async () => {
    const ep = ["--endpoint", url];
    const created = JSON.parse(
      (
        await ok(
          ["keys", "create", ...ep, "--alias", "alias/remote", "--description", "over http", "--json"],
          {
            cwd,
            env: aliceEnv,
          },
        )
      ).out,
    );
    expect(created.KeyMetadata.Arn).toMatch(/^arn:aws:kms:us-east-1:111122223333:key\//);
    const listed = JSON.parse((await ok(["keys", "list", ...ep, "--json"], { cwd, env: aliceEnv })).out);
    expect(listed.Keys.map((k: { KeyId: string }) => k.KeyId)).toContain(created.KeyMetadata.KeyId);

    for (const suite of ["xchacha20-poly1305", "aes-256-gcm"]) {
      const enc = await ok(
        [
          "encrypt",
          "--provider",
          "aws",
          ...ep,
          "--key",
          "alias/remote",
          "--suite",
          suite,
          "--context",
          "a=b",
        ],
        {
          cwd,
          env: aliceEnv,
          input: "over the wire",
        },
      );
      const dec = await ok(["decrypt", "--provider", "aws", ...ep, "--expect-context", "a=b"], {
        cwd,
        env: aliceEnv,
        input: enc.stdout,
      });
      expect(dec.out).toBe("over the wire");
    }
    // The same through environment variables only: SEALKIT_PROVIDER, SEALKIT_ENDPOINT, SEALKIT_KEY.
    const env = { ...aliceEnv, SEALKIT_PROVIDER: "aws", SEALKIT_ENDPOINT: url, SEALKIT_KEY: "alias/remote" };
    const enc = await ok(["encrypt"], { cwd, env, input: "env" });
    expect((await ok(["decrypt"], { cwd, env, input: enc.stdout })).out).toBe("env");

    // An unknown access key is access denied (exit 4).
    const bad = await run(["keys", "list", ...ep], {
      cwd,
      env: { AWS_ACCESS_KEY_ID: "AKIANOBODY0000000000", AWS_SECRET_ACCESS_KEY: "x" },
    });
    expect(bad.code).toBe(4);
    expect(bad.stderr).toMatch(/^sealkit: ERR_ACCESS_DENIED: /);
    // audit is local-only.
    expect((await run(["audit", "tail", ...ep], { cwd, env: aliceEnv })).code).toBe(2);
  });

  it("rewrap migrates an envelope from the local KMS to the server's key (the AWS KMS path)", async () => {
    await ok(["keys", "create", "--alias", "alias/local"], { cwd });
    await ok(["encrypt", "--key", "alias/local", "--context", "app=billing", "-o", "m.slkt"], {
      cwd,
      input: "migrate me",
    });
    const r = await ok(
      [
        "rewrap",
        "m.slkt",
        "--to-provider",
        "aws",
        "--endpoint",
        url,
        "--to-key",
        "alias/remote",
        "--remove-key",
        "alias/local",
        "--json",
      ],
      { cwd, env: aliceEnv },
    );
    const [summary] = JSON.parse(r.out);
    expect(summary.added).toHaveLength(1);
    expect(summary.removed).toHaveLength(1);
    const dec = await ok(["decrypt", "m.slkt", "--provider", "aws", "--endpoint", url], {
      cwd,
      env: aliceEnv,
    });
    expect(dec.out).toBe("migrate me");
    // The local KMS no longer can.
    expect((await run(["decrypt", "m.slkt"], { cwd })).code).toBe(7);
  });

  it("stops cleanly on SIGTERM", async () => {
    server!.child.kill("SIGTERM");
    expect((await server!.closed).code).toBe(0);
    expect(server!.output()).toMatch(
      /SIGTERM: finishing requests in flight, then stopping \(send it again to exit at once\)\nstopped\n/,
    );
    server = undefined;
  });
});

describe("kms serve --hsm", () => {
  it("refuses to start when the HSM cannot be used, and writes no key file", async () => {
    writeFileSync(
      join(cwd, "hsm.json"),
      JSON.stringify({
        profile: "generic",
        library: "/nonexistent/libpkcs11.so",
        tokenLabel: "x",
        keyLabel: "root",
        pin: "1",
      }),
    );
    const dataDir = join(cwd, "hsm-kms");
    const r = await run(
      [
        "kms",
        "serve",
        "--port",
        "0",
        "--data-dir",
        dataDir,
        "--credentials",
        "creds.json",
        "--hsm",
        "hsm.json",
      ],
      {
        cwd,
      },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/HSM root key in hsm.json cannot be used.*never falls back to a key file/);
    expect(existsSync(join(dataDir, "root.key"))).toBe(false);
  });

  it("applies a seed and says which seeded keys it left as they are because their key is pending deletion", async () => {
    const seed = join(REPO_ROOT, "packages/kms-local/examples/seed.yaml");
    const dataDir = join(cwd, "seed-kms");
    const serveArgs = ["--data-dir", dataDir, "--credentials", "creds.json", "--seed", seed];
    const first = await startServe(serveArgs, { cwd });
    first.child.kill("SIGTERM");
    await first.closed;
    expect(first.output()).toMatch(/^seed: 4 created, 0 updated, 0 unchanged$/m);

    await ok(["keys", "schedule-deletion", "alias/app-data", "--days", "7", "--data-dir", dataDir], { cwd });
    const second = await startServe(serveArgs, { cwd });
    second.child.kill("SIGTERM");
    await second.closed;
    expect(second.output()).toMatch(
      /^seed: 0 created, 0 updated, 2 unchanged, left as they are \(key pending deletion\): alias\/app-data, alias\/app-data-current$/m,
    );
  });

  it("needs credentials", async () => {
    const r = await run(["kms", "serve", "--port", "0"], { cwd });
    expect(r.code).toBe(2);
    expect(readFileSync(join(cwd, "creds.json"), "utf8")).toContain(ALICE.accessKeyId);
  });
});
