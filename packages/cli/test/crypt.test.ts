// encrypt / decrypt through the built binary: raw and local providers, both suites, files and stdio, and failures.

import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, run, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const raw = ["--provider", "raw", "--raw-key-file", "team.key"];
const plaintext = randomBytes(300_000);

beforeAll(async () => {
  writeFileSync(join(cwd, "team.key"), randomBytes(32));
  writeFileSync(join(cwd, "hex.key"), `${randomBytes(32).toString("hex")}\n`);
  writeFileSync(join(cwd, "plain.bin"), plaintext);
  await ok(["keys", "create", "--alias", "alias/app", "--description", "app key"], { cwd });
  await ok(["keys", "create", "--alias", "alias/other"], { cwd });
});
afterAll(() => t.cleanup());

/** Files other than the ones a test expects: no temp files may be left behind. */
const leftovers = () => readdirSync(cwd).filter((f) => f.includes(".sealkit-") && f.endsWith(".tmp"));

describe("round trips", () => {
  for (const suite of ["xchacha20-poly1305", "aes-256-gcm"]) {
    it(`raw provider through stdin/stdout, ${suite}`, async () => {
      const enc = await ok(
        ["encrypt", ...raw, "--suite", suite, "--frame-size", "4K", "--context", "app=test"],
        {
          cwd,
          input: plaintext,
        },
      );
      expect(enc.stdout.subarray(0, 4).toString("latin1")).toBe("SLKT");
      const dec = await ok(["decrypt", ...raw, "--expect-context", "app=test"], { cwd, input: enc.stdout });
      expect(dec.stdout.equals(plaintext)).toBe(true);
      expect(dec.stderr).toBe(""); // no progress bar when stderr is not a terminal
    });

    it(`local KMS key through files, ${suite}`, async () => {
      await ok(["encrypt", "plain.bin", "--key", "alias/app", "--suite", suite, "-o", `l-${suite}.slkt`], {
        cwd,
      });
      const info = JSON.parse((await ok(["inspect", `l-${suite}.slkt`, "--json"], { cwd })).out);
      expect(info.suite).toBe(suite);
      expect(info.plaintextLength).toBe(plaintext.length);
      expect(info.frameCount).toBe(Math.ceil(plaintext.length / 65536));
      await ok(["decrypt", `l-${suite}.slkt`, "-o", `l-${suite}.out`], { cwd });
      expect(readFileSync(join(cwd, `l-${suite}.out`)).equals(plaintext)).toBe(true);
      expect(statSync(join(cwd, `l-${suite}.out`)).mode & 0o777).toBe(0o600);
    });
  }

  it("a hex key file, an empty input, and several recipients", async () => {
    const hex = ["--provider", "raw", "--raw-key-file", "hex.key"];
    const enc = await ok(["encrypt", ...hex], { cwd, input: "" });
    expect((await ok(["decrypt", ...hex], { cwd, input: enc.stdout })).stdout.length).toBe(0);

    await ok(["encrypt", "plain.bin", "--key", "alias/app", "--key", "alias/other", "-o", "two.slkt"], {
      cwd,
    });
    const info = JSON.parse((await ok(["inspect", "two.slkt", "--json"], { cwd })).out);
    expect(info.encryptedDataKeys).toHaveLength(2);
    // Either recipient alone opens it.
    for (const key of ["alias/app", "alias/other"]) {
      const r = await ok(["decrypt", "two.slkt", "--key", key], { cwd });
      expect(r.stdout.equals(plaintext)).toBe(true);
    }
  });

  it("settings from the environment and from a config file profile; a flag wins", async () => {
    writeFileSync(
      join(cwd, "config.json"),
      JSON.stringify({
        profiles: { team: { provider: "raw", rawKeyFile: "team.key" }, bad: { provider: "nope" } },
      }),
    );
    const env = { SEALKIT_CONFIG_FILE: join(cwd, "config.json") };
    const enc = await ok(["encrypt", "--profile", "team"], { cwd, env, input: "profile" });
    const dec = await ok(["decrypt"], { cwd, env: { ...env, SEALKIT_PROFILE: "team" }, input: enc.stdout });
    expect(dec.out).toBe("profile");
    const viaEnv = await ok(["decrypt"], {
      cwd,
      env: { SEALKIT_PROVIDER: "raw", SEALKIT_RAW_KEY_FILE: "team.key" },
      input: enc.stdout,
    });
    expect(viaEnv.out).toBe("profile");
    // The flag beats the profile's provider: the local KMS cannot open a raw envelope.
    const r = await run(["decrypt", "--profile", "team", "--provider", "local"], {
      cwd,
      env,
      input: enc.stdout,
    });
    expect(r.code).toBe(7);
    expect((await run(["decrypt", "--profile", "bad"], { cwd, env, input: enc.stdout })).code).toBe(2);
    expect((await run(["decrypt", "--profile", "missing"], { cwd, env, input: enc.stdout })).code).toBe(2);
  });
});

describe("decrypt never leaves partial plaintext at the output path", () => {
  it("a tampered envelope: exit 3, no output file, no temp file", async () => {
    await ok(["encrypt", "plain.bin", ...raw, "--frame-size", "1024", "-o", "t.slkt"], { cwd });
    const bytes = readFileSync(join(cwd, "t.slkt"));
    bytes[bytes.length - 5000]! ^= 1; // a frame near the end: earlier frames verify first
    writeFileSync(join(cwd, "t.slkt"), bytes);
    const r = await run(["decrypt", "t.slkt", ...raw, "-o", "t.out"], { cwd });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^sealkit: ERR_AUTHENTICATION_FAILED: /);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(existsSync(join(cwd, "t.out"))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it("an existing output file is left untouched", async () => {
    writeFileSync(join(cwd, "keep.txt"), "precious");
    const bytes = readFileSync(join(cwd, "t.slkt"));
    const r = await run(["decrypt", ...raw, "-o", "keep.txt"], { cwd, input: bytes });
    expect(r.code).toBe(3);
    expect(readFileSync(join(cwd, "keep.txt"), "utf8")).toBe("precious");
    expect(leftovers()).toEqual([]);
  });

  it("a truncated envelope to stdout: verified frames, then exit 3 at the end", async () => {
    await ok(["encrypt", "plain.bin", ...raw, "--frame-size", "1024", "-o", "cut.slkt"], { cwd });
    const bytes = readFileSync(join(cwd, "cut.slkt"));
    const r = await run(["decrypt", ...raw], { cwd, input: bytes.subarray(0, bytes.length - 3000) });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/ERR_TRUNCATED/);
    expect(r.stdout.length).toBeGreaterThan(0);
    expect(plaintext.subarray(0, r.stdout.length).equals(r.stdout)).toBe(true);
    const toFile = await run(["decrypt", ...raw, "-o", "cut.out"], {
      cwd,
      input: bytes.subarray(0, bytes.length - 3000),
    });
    expect(toFile.code).toBe(3);
    expect(existsSync(join(cwd, "cut.out"))).toBe(false);
  });
});

describe("exit codes", () => {
  it("2: usage errors, commander's and ours", async () => {
    expect((await run(["encrypt", "--bogus"], { cwd })).code).toBe(2);
    expect((await run(["frobnicate"], { cwd })).code).toBe(2);
    expect((await run([], { cwd })).code).toBe(2);
    const suite = await run(["encrypt", ...raw, "--suite", "rot13"], { cwd, input: "x" });
    expect(suite.code).toBe(2);
    expect(suite.stderr).toMatch(/unknown suite "rot13"/);
    expect((await run(["encrypt", ...raw, "--frame-size", "10"], { cwd, input: "x" })).code).toBe(2);
    expect((await run(["encrypt", "--context", "novalue", ...raw], { cwd, input: "x" })).code).toBe(2);
    expect((await run(["encrypt", "--provider", "local"], { cwd, input: "x" })).code).toBe(2); // no --key
    expect((await run(["--help"], { cwd })).code).toBe(0);
  });

  it("3: not an envelope", async () => {
    const r = await run(["decrypt", ...raw], { cwd, input: "this is not an envelope at all, no no no" });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/ERR_ENVELOPE_MALFORMED/);
    expect((await run(["inspect", "plain.bin"], { cwd })).code).toBe(3);
  });

  it("4: access denied names the principal and what to do", async () => {
    const r = await run(
      ["encrypt", "--key", "alias/app", "--principal", "arn:aws:iam::444455556666:user/mallory"],
      { cwd, input: "x" },
    );
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(
      /^sealkit: ERR_ACCESS_DENIED: .* — check the key policy or grants for arn:aws:iam::444455556666:user\/mallory/,
    );
  });

  it("5: missing file, unknown key, missing data dir", async () => {
    expect((await run(["encrypt", "nope.bin", ...raw], { cwd })).code).toBe(5);
    expect((await run(["encrypt", "--key", "alias/nope"], { cwd, input: "x" })).code).toBe(5);
    const empty = tempDir();
    try {
      expect((await run(["keys", "list"], { cwd: empty.dir })).code).toBe(5);
    } finally {
      empty.cleanup();
    }
  });

  it("6: disabled key", async () => {
    await ok(["keys", "create", "--alias", "alias/off"], { cwd });
    await ok(["encrypt", "--key", "alias/off", "-o", "off.slkt"], { cwd, input: "x" });
    await ok(["keys", "disable", "alias/off"], { cwd });
    const r = await run(["encrypt", "--key", "alias/off"], { cwd, input: "x" });
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/ERR_KEY_DISABLED.*sealkit keys enable/);
    await ok(["keys", "enable", "alias/off"], { cwd });
    await ok(["decrypt", "off.slkt"], { cwd });
  });

  it("7: wrong context, wrong key", async () => {
    await ok(["encrypt", "--key", "alias/app", "--context", "tenant=acme", "-o", "ctx.slkt"], {
      cwd,
      input: "x",
    });
    const wrong = await run(["decrypt", "ctx.slkt", "--expect-context", "tenant=umbrella", "-o", "ctx.out"], {
      cwd,
    });
    expect(wrong.code).toBe(7);
    expect(wrong.stderr).toMatch(/ERR_CONTEXT_MISMATCH/);
    expect(existsSync(join(cwd, "ctx.out"))).toBe(false);
    await ok(["decrypt", "ctx.slkt", "--expect-context", "tenant=acme"], { cwd });
    const otherKey = await run(["decrypt", "ctx.slkt", "--key", "alias/other"], { cwd });
    expect(otherKey.code).toBe(7);
    expect(otherKey.stderr).toMatch(/ERR_NO_DECRYPTABLE_KEY/);
    writeFileSync(join(cwd, "wrong.key"), randomBytes(32));
    const enc = await ok(["encrypt", ...raw], { cwd, input: "x" });
    const r = await run(
      ["decrypt", "--provider", "raw", "--raw-key-file", "wrong.key", "--key", "team.key"],
      {
        cwd,
        input: enc.stdout,
      },
    );
    expect(r.code).toBe(7);
  });
});

describe("inspect", () => {
  it("describes the header in words and as JSON", async () => {
    await ok(
      [
        "encrypt",
        "plain.bin",
        "--key",
        "alias/app",
        "--context",
        "purpose=backup",
        "--frame-size",
        "64K",
        "-o",
        "i.slkt",
      ],
      {
        cwd,
      },
    );
    const text = (await ok(["inspect", "i.slkt"], { cwd })).out;
    expect(text).toMatch(/suite:\s+xchacha20-poly1305/);
    expect(text).toMatch(/frames:\s+5/);
    expect(text).toMatch(/context:\s+purpose=backup/);
    expect(text).toMatch(/aws-kms\s+arn:aws:kms:us-east-1:111122223333:key\//);
    const info = JSON.parse((await ok(["inspect", "i.slkt", "--json"], { cwd })).out);
    expect(info).toMatchObject({
      suite: "xchacha20-poly1305",
      frameSize: 65536,
      frameCount: 5,
      plaintextLength: plaintext.length,
      context: { purpose: "backup" },
      envelopeLength: statSync(join(cwd, "i.slkt")).size,
    });
    expect(info.messageId).toMatch(/^[0-9a-f]{64}$/);
    expect(info.encryptedDataKeys[0].providerId).toBe("aws-kms");
  });
});
