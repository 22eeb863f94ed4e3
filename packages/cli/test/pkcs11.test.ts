// The pkcs11 provider on SoftHSM2 through the built binary: a round trip, the PIN from the environment, a wrong PIN,
// and `kms serve --hsm` with the local KMS's root key on the token.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, run, startServe, tempDir } from "./helpers.js";

const LIBRARY = "/usr/lib/softhsm/libsofthsm2.so";
const hasSoftHsm =
  existsSync(LIBRARY) && spawnSync("softhsm2-util", ["--version"], { stdio: "ignore" }).status === 0;
if (!hasSoftHsm && process.env.CI)
  throw new Error("CI is set but SoftHSM2 is missing (apt-get install softhsm2)");

const t = tempDir();
const cwd = t.dir;
const conf = join(cwd, "softhsm2.conf");
const env = {
  SOFTHSM2_CONF: conf,
  SEALKIT_PKCS11_LIBRARY: LIBRARY,
  SEALKIT_PKCS11_TOKEN: "cli",
  SEALKIT_PKCS11_PIN: "1234",
  SEALKIT_PKCS11_PROFILE: "softhsm",
};

describe.skipIf(!hasSoftHsm)("pkcs11 provider on SoftHSM2", () => {
  beforeAll(async () => {
    mkdirSync(join(cwd, "tokens"));
    writeFileSync(
      conf,
      `directories.tokendir = ${join(cwd, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    const init = spawnSync(
      "softhsm2-util",
      ["--init-token", "--free", "--label", "cli", "--pin", "1234", "--so-pin", "5678"],
      {
        env: { ...process.env, SOFTHSM2_CONF: conf },
        encoding: "utf8",
      },
    );
    if (init.status !== 0) throw new Error(init.stderr);
    // SoftHSM2 reads SOFTHSM2_CONF when the library is first initialized in this process.
    process.env.SOFTHSM2_CONF = conf;
    const { createAesKey } = await import("@sealkit/kms-cloudhsm");
    const token = { library: LIBRARY, tokenLabel: "cli", pin: "1234", profile: "softhsm" as const };
    await createAesKey(token, { label: "master" });
    await createAesKey(token, { label: "kms-root" });
  });
  afterAll(() => t.cleanup());

  it("encrypts and decrypts with a key that never leaves the token", async () => {
    for (const suite of ["xchacha20-poly1305", "aes-256-gcm"]) {
      const enc = await ok(["encrypt", "--provider", "pkcs11", "--key", "master", "--suite", suite], {
        cwd,
        env,
        input: "hsm",
      });
      const info = JSON.parse((await ok(["inspect", writeTemp(enc.stdout), "--json"], { cwd })).out);
      expect(info.encryptedDataKeys[0]).toMatchObject({
        providerId: "pkcs11",
        keyId: "pkcs11:token=cli;object=master",
      });
      const dec = await ok(["decrypt", "--provider", "pkcs11", "--key", "master"], {
        cwd,
        env,
        input: enc.stdout,
      });
      expect(dec.out).toBe("hsm");
    }
    const enc = await ok(["encrypt", "--provider", "pkcs11"], {
      cwd,
      env: { ...env, SEALKIT_PKCS11_KEY_LABEL: "master" },
      input: "x",
    });
    // Without --key, decrypt takes the label from the envelope's key id (pkcs11:token=cli;object=master).
    expect((await ok(["decrypt", "--provider", "pkcs11"], { cwd, env, input: enc.stdout })).out).toBe("x");
    // A key on another token is not looked for on this one.
    const otherToken = await run(["decrypt", "--provider", "pkcs11"], {
      cwd,
      env: { ...env, SEALKIT_PKCS11_TOKEN: "other" },
      input: enc.stdout,
    });
    expect(otherToken.code).toBe(7);
    expect(otherToken.stderr).toMatch(/names no key the pkcs11 provider can open/);
    const wrongPin = await run(["decrypt", "--provider", "pkcs11", "--key", "master"], {
      cwd,
      env: { ...env, SEALKIT_PKCS11_PIN: "0000" },
      input: enc.stdout,
    });
    expect(wrongPin.code).toBe(4);
    expect(wrongPin.stderr).toMatch(/ERR_HSM_LOGIN_FAILED/);
    expect(wrongPin.stderr).not.toContain("0000");
  });

  it("kms serve --hsm keeps the local KMS's root key on the token", async () => {
    writeFileSync(join(cwd, "creds.json"), JSON.stringify({ credentials: [] }));
    writeFileSync(
      join(cwd, "hsm.json"),
      JSON.stringify({
        profile: "softhsm",
        library: LIBRARY,
        tokenLabel: "cli",
        keyLabel: "kms-root",
        pinEnv: "SEALKIT_PKCS11_PIN",
      }),
    );
    const dataDir = join(cwd, "kms");
    const serve = await startServe(
      [
        "--data-dir",
        dataDir,
        "--hsm",
        "hsm.json",
        "--allow-unsigned-as",
        "arn:aws:iam::111122223333:user/dev",
      ],
      { cwd, env },
    );
    expect(serve.output()).toMatch(/root key pkcs11:token=cli,key=kms-root/);
    expect(serve.errors()).toMatch(/WARNING: --allow-unsigned-as is ON/);
    expect(readdirSync(dataDir)).not.toContain("root.key");
    serve.child.kill("SIGTERM");
    // The graceful stop (requests finished, local KMS and HSM sessions closed) completed. On loaded runs this
    // used to fail now and then, killed by the SIGTERM itself: "ready" was printed before the signal handlers
    // were installed. They are installed first now.
    expect(await serve.closed).toEqual({ code: 0, signal: null });
    expect(serve.output()).toMatch(
      /SIGTERM: finishing requests in flight, then stopping \(send it again to exit at once\)\nstopped\n/,
    );
  });
});

let n = 0;
function writeTemp(bytes: Buffer): string {
  const file = join(cwd, `e${n++}.slkt`);
  writeFileSync(file, bytes);
  return file;
}

describe("pkcs11KeyLabels", () => {
  it("reads the object label of RFC 7512 key ids on the configured token", async () => {
    const { pkcs11KeyLabels } = await import("../src/providers.js");
    const ids = [
      "pkcs11:token=cli;object=master",
      "pkcs11:token=cli;object=a%3Bb%20c",
      "pkcs11:token=other;object=elsewhere",
      "pkcs11:token=cli;object=bad%E0%A4%A",
      "pkcs11:token=cli",
      "arn:aws:kms:us-east-1:111122223333:key/x",
      "pkcs11:token=cli;object=master",
    ];
    expect(pkcs11KeyLabels(ids, "cli")).toEqual(["master", "a;b c"]);
    expect(pkcs11KeyLabels(ids, undefined)).toEqual(["master", "a;b c", "elsewhere"]);
    expect(pkcs11KeyLabels(ids, "none")).toEqual([]);
  });
});
