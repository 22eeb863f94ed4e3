// encrypt and decrypt against a KMS endpoint (the Sealkit KMS server over HTTP with SigV4) as a new user meets it:
// credentials that are wrong or missing, and --endpoint given without --provider aws.

import { readFileSync, writeFileSync } from "node:fs";
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

describe("--discovery-account (decrypt and rewrap without --key)", () => {
  it("tries only the envelope's keys in the listed accounts, from the flag, the environment or the profile", async () => {
    await ok(["encrypt", "--endpoint", url, "--key", "alias/remote", "-o", "d.slkt"], {
      cwd,
      env: aliceEnv,
      input: "discovered",
    });
    const decrypt = ["decrypt", "d.slkt", "--endpoint", url];
    // The key is in 111122223333: another account refuses before asking KMS, and says where the keys are.
    const other = await run([...decrypt, "--discovery-account", "444455556666"], { cwd, env: aliceEnv });
    expect(other.code).toBe(7);
    expect(other.out).toBe("");
    expect(other.stderr).toContain(
      "the envelope names no AWS KMS key in the discovery accounts (444455556666): its keys are in 111122223333",
    );
    const listed = ["--discovery-account", "444455556666", "--discovery-account", "111122223333"];
    expect((await ok([...decrypt, ...listed], { cwd, env: aliceEnv })).out).toBe("discovered");
    const fromEnv = { ...aliceEnv, SEALKIT_DISCOVERY_ACCOUNTS: "444455556666" };
    expect((await run(decrypt, { cwd, env: fromEnv })).code).toBe(7);
    const config = join(cwd, "discovery.json");
    writeFileSync(config, JSON.stringify({ profiles: { default: { discoveryAccounts: ["111122223333"] } } }));
    const fromProfile = { ...aliceEnv, SEALKIT_CONFIG_FILE: config };
    expect((await ok(decrypt, { cwd, env: fromProfile })).out).toBe("discovered");
    // A flag wins over the profile; --key is used as given, whatever the filter.
    expect(
      (await run([...decrypt, "--discovery-account", "444455556666"], { cwd, env: fromProfile })).code,
    ).toBe(7);
    expect(
      (
        await ok([...decrypt, "--key", remoteArn, "--discovery-account", "444455556666"], {
          cwd,
          env: aliceEnv,
        })
      ).out,
    ).toBe("discovered");
    // rewrap opens the same way.
    await ok(["keys", "create", "--endpoint", url, "--alias", "alias/second"], { cwd, env: aliceEnv });
    const rewrap = ["rewrap", "d.slkt", "--provider", "aws", "--endpoint", url, "--to-key", "alias/second"];
    expect((await run([...rewrap, "--discovery-account", "444455556666"], { cwd, env: aliceEnv })).code).toBe(
      7,
    );
    await ok([...rewrap, "--discovery-account", "111122223333"], { cwd, env: aliceEnv });
    const info = JSON.parse((await ok(["inspect", "d.slkt", "--json"], { cwd })).out);
    expect(info.encryptedDataKeys).toHaveLength(2);
  });

  it("refuses what is not a 12-digit account id (exit 2, naming where it came from)", async () => {
    const r = await run(["decrypt", "d.slkt", "--endpoint", url, "--discovery-account", "1234"], {
      cwd,
      env: aliceEnv,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--discovery-account expected 12-digit AWS account ids, got "1234"');
    const e = await run(["decrypt", "d.slkt", "--endpoint", url], {
      cwd,
      env: { ...aliceEnv, SEALKIT_DISCOVERY_ACCOUNTS: "111122223333,alice" },
    });
    expect(e.code).toBe(2);
    expect(e.stderr).toContain('SEALKIT_DISCOVERY_ACCOUNTS expected 12-digit AWS account ids, got "alice"');
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

describe("AWS settings from the environment over the config profile (README: flag > environment > profile)", () => {
  it("AWS_REGION wins over the profile's region, AWS_ENDPOINT_URL_KMS over its endpoint", async () => {
    const config = join(cwd, "aws-profile.json");
    // The server answers for us-east-1 and refuses requests signed for another region.
    writeFileSync(
      config,
      JSON.stringify({ profiles: { default: { provider: "aws", endpoint: url, region: "eu-west-1" } } }),
    );
    const env = { ...aliceEnv, SEALKIT_CONFIG_FILE: config };
    const profileOnly = await run(["encrypt", "--key", "alias/remote"], { cwd, env, input: "x" });
    expect(profileOnly.code).toBe(4);
    expect(profileOnly.stderr).toMatch(/not 'eu-west-1'/);
    // The profile's region won: signed for eu-west-1, refused (exit 4).
    const enc = await ok(["encrypt", "--key", "alias/remote"], {
      cwd,
      env: { ...env, AWS_REGION: "us-east-1" },
      input: "region from the environment",
    });
    expect(
      (await ok(["decrypt"], { cwd, env: { ...env, AWS_DEFAULT_REGION: "us-east-1" }, input: enc.stdout }))
        .out,
    ).toBe("region from the environment");
    // A profile naming a closed port: the endpoint of the environment is used (the profile's won: exit 1).
    writeFileSync(
      config,
      JSON.stringify({
        profiles: { default: { provider: "aws", endpoint: "http://127.0.0.1:9", region: "us-east-1" } },
      }),
    );
    const dec = await ok(["decrypt"], {
      cwd,
      env: { ...env, AWS_ENDPOINT_URL_KMS: url },
      input: enc.stdout,
    });
    expect(dec.out).toBe("region from the environment");
    // --endpoint still wins over both.
    expect(
      (
        await run(["decrypt", "--endpoint", "http://127.0.0.1:9"], {
          cwd,
          env: { ...env, AWS_ENDPOINT_URL_KMS: url },
          input: enc.stdout,
        })
      ).code,
    ).toBe(1); // the closed port: ERR_PROVIDER_UNAVAILABLE
  });
});

describe("rewrap --remove-key with the aws provider", () => {
  it("takes an alias name or alias ARN, as documented: envelopes record key ARNs", async () => {
    const created = await ok(["keys", "create", "--endpoint", url, "--alias", "alias/old", "--json"], {
      cwd,
      env: aliceEnv,
    });
    const oldArn = JSON.parse(created.out).KeyMetadata.Arn as string;
    await ok(["keys", "create", "--endpoint", url, "--alias", "alias/new"], { cwd, env: aliceEnv });
    const keyIds = async (file: string) =>
      JSON.parse((await ok(["inspect", file, "--json"], { cwd })).out).encryptedDataKeys.map(
        (k: { keyId: string }) => k.keyId,
      );
    for (const [file, removeKey] of [
      ["rm-name.slkt", "alias/old"],
      ["rm-arn.slkt", oldArn.replace(/key\/.*$/, "alias/old")],
    ] as const) {
      await ok(["encrypt", "--endpoint", url, "--key", "alias/old", "-o", file], {
        cwd,
        env: aliceEnv,
        input: "moved",
      });
      // It exited 5: "has no encrypted data key for alias/old", the file unchanged.
      const r = await ok(
        ["rewrap", file, "--endpoint", url, "--to-key", "alias/new", "--remove-key", removeKey, "--json"],
        { cwd, env: aliceEnv },
      );
      expect(JSON.parse(r.out)[0].removed).toEqual([{ providerId: "aws-kms", keyId: oldArn }]);
      expect(await keyIds(file)).not.toContain(oldArn);
      expect(
        (await ok(["decrypt", file, "--endpoint", url, "--key", "alias/new"], { cwd, env: aliceEnv })).out,
      ).toBe("moved");
    }
    // An alias KMS does not know still says the file has no such key (exit 5), changing nothing.
    const missing = await run(
      ["rewrap", "rm-name.slkt", "--endpoint", url, "--to-key", "alias/old", "--remove-key", "alias/nothing"],
      { cwd, env: aliceEnv },
    );
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain("rm-name.slkt has no encrypted data key for alias/nothing");
  });
});

describe("decrypt without --key, an envelope naming a key id KMS cannot take", () => {
  it("opens with the envelope's other keys: encrypted data keys are not authenticated, anyone can add one", async () => {
    const { parseHeader, replaceEncryptedDataKeys } = await import("@sealkit/core");
    await ok(["encrypt", "--endpoint", url, "--key", "alias/remote", "-o", "long-id.slkt"], {
      cwd,
      env: aliceEnv,
      input: "still mine",
    });
    const bytes = new Uint8Array(readFileSync(join(cwd, "long-id.slkt")));
    const header = parseHeader(bytes);
    // A key ARN longer than KMS's 2,048 characters, put first.
    const bogus = {
      providerId: "aws-kms",
      keyId: `arn:aws:kms:us-east-1:111122223333:key/${"a".repeat(3000)}`,
      ciphertext: new Uint8Array(64).fill(1),
    };
    const added = replaceEncryptedDataKeys(header, [bogus, ...header.encryptedDataKeys]);
    const out = new Uint8Array(added.length + bytes.length - header.length);
    out.set(added);
    out.set(bytes.subarray(header.length), added.length);
    writeFileSync(join(cwd, "long-id.slkt"), out);
    for (const extra of [[], ["--discovery-account", "111122223333"]]) {
      // It was exit 2, a usage error: the provider refused the envelope's key id as configuration.
      const r = await run(["decrypt", "long-id.slkt", "--endpoint", url, ...extra], { cwd, env: aliceEnv });
      expect(r.stderr).toBe("");
      expect(r.out).toBe("still mine");
      expect(r.code).toBe(0);
    }
  });
});
