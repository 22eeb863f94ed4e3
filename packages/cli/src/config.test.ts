// Settings precedence (flag > environment > profile > default), config file errors, and the error-to-exit-code map.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SealkitError } from "@sealkit/core";
import { afterAll, describe, expect, it } from "vitest";
import { parseContext, parseJsonText, parseSize, resolveSettings } from "./config.js";
import { describeError, EXIT, exitCodeOf, UsageError } from "./exit-codes.js";

const dir = mkdtempSync(join(tmpdir(), "sealkit-cli-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, "config.json");
writeFileSync(
  file,
  JSON.stringify({
    profiles: {
      default: { provider: "aws", key: "alias/default", region: "eu-west-1" },
      hsm: { provider: "pkcs11", pkcs11: { tokenLabel: "t", keyLabel: "k", pinEnv: "MY_PIN" } },
      typo: { provder: "raw" },
      pinTypo: { provider: "pkcs11", pkcs11: { keyLabel: "k", pinENV: "MY_PIN" } },
      pkcs11String: { provider: "pkcs11", pkcs11: "softhsm" },
      keyObject: { key: { id: "alias/x" } },
      remote: { provider: "aws", endpoint: "http://127.0.0.1:1", region: "eu-west-1" },
      pinEnvNumber: { provider: "pkcs11", pkcs11: { keyLabel: "k", pinEnv: 5 } },
    },
  }),
);
const env = (extra: Record<string, string> = {}) => ({ HOME: dir, SEALKIT_CONFIG_FILE: file, ...extra });

describe("resolveSettings", () => {
  it("takes a flag over an environment variable over the profile over the default", () => {
    expect(resolveSettings({}, env())).toMatchObject({
      provider: "aws",
      keys: ["alias/default"],
      region: "eu-west-1",
    });
    expect(resolveSettings({}, env({ SEALKIT_PROVIDER: "raw", SEALKIT_KEY: "a, b" }))).toMatchObject({
      provider: "raw",
      keys: ["a", "b"],
    });
    expect(
      resolveSettings({ provider: "local", key: ["c"] }, env({ SEALKIT_PROVIDER: "raw" })),
    ).toMatchObject({
      provider: "local",
      keys: ["c"],
      dataDir: ".sealkit/kms",
    });
    expect(resolveSettings({}, { HOME: dir })).toMatchObject({ provider: "local", keys: [] });
  });

  it("takes AWS_REGION and AWS_ENDPOINT_URL_KMS over the profile for the AWS client, as the README's order says", () => {
    const withEndpoint = { ...env(), SEALKIT_PROFILE: "remote" };
    // The default profile names eu-west-1: it won over AWS_REGION.
    expect(resolveSettings({}, env({ AWS_REGION: "us-east-1" })).awsRegion).toBe("us-east-1");
    expect(resolveSettings({}, env({ AWS_DEFAULT_REGION: "us-west-2" })).awsRegion).toBe("us-west-2");
    expect(resolveSettings({}, env()).awsRegion).toBe("eu-west-1");
    expect(resolveSettings({ region: "ap-south-1" }, env({ AWS_REGION: "us-east-1" })).awsRegion).toBe(
      "ap-south-1",
    );
    // The local KMS's region is not AWS's: AWS_REGION does not move it.
    expect(resolveSettings({}, env({ AWS_REGION: "us-east-1" })).region).toBe("eu-west-1");
    expect(resolveSettings({}, withEndpoint)).toMatchObject({
      endpoint: "http://127.0.0.1:1",
      awsEndpoint: "http://127.0.0.1:1",
    });
    // The SDK reads AWS_ENDPOINT_URL_KMS when the CLI passes no endpoint; the provider stays the profile's.
    expect(
      resolveSettings({}, { ...withEndpoint, AWS_ENDPOINT_URL_KMS: "http://127.0.0.1:2" }),
    ).toMatchObject({ provider: "aws", awsEndpoint: undefined });
    expect(
      resolveSettings(
        { endpoint: "http://127.0.0.1:3" },
        { ...withEndpoint, AWS_ENDPOINT_URL_KMS: "http://127.0.0.1:2" },
      ).awsEndpoint,
    ).toBe("http://127.0.0.1:3");
  });

  it("finds only profiles the file has, whatever the name (__proto__, toString)", () => {
    for (const name of ["__proto__", "toString", "constructor", "hasOwnProperty"]) {
      // __proto__ was Object.prototype: an empty profile, used silently.
      expect(() => resolveSettings({ profile: name }, env())).toThrow(
        `profile "${name}" not found in ${file}`,
      );
    }
    expect(() => resolveSettings({}, env({ SEALKIT_PROFILE: "pinEnvNumber" }))).toThrow(
      /"pkcs11.pinEnv" expected the name of an environment variable/,
    );
    const own = join(dir, "proto-profile.json");
    writeFileSync(own, '{"profiles":{"__proto__":{"provider":"raw"}}}');
    expect(resolveSettings({ profile: "__proto__" }, { HOME: dir, SEALKIT_CONFIG_FILE: own }).provider).toBe(
      "raw",
    );
  });

  it('refuses a setting beside "profiles" instead of ignoring it', () => {
    const top = join(dir, "top-level.json");
    writeFileSync(top, JSON.stringify({ provider: "raw", profiles: { default: {} } }));
    // It was ignored: the provider was the default, local.
    expect(() => resolveSettings({}, { HOME: dir, SEALKIT_CONFIG_FILE: top })).toThrow(
      `config file ${top} has an unknown field "provider" (settings go in a profile)`,
    );
    writeFileSync(
      top,
      JSON.stringify({ $schema: "./sealkit.schema.json", profiles: { default: { provider: "raw" } } }),
    );
    expect(resolveSettings({}, { HOME: dir, SEALKIT_CONFIG_FILE: top }).provider).toBe("raw");
  });

  it("names each key once, however often it is given", () => {
    expect(resolveSettings({ key: ["alias/a", "alias/b", "alias/a"] }, env()).keys).toEqual([
      "alias/a",
      "alias/b",
    ]);
    expect(resolveSettings({}, env({ SEALKIT_KEY: "k,k, k" })).keys).toEqual(["k"]);
  });

  it("selects a profile by flag or SEALKIT_PROFILE, and reads the PIN from the variable it names", () => {
    const s = resolveSettings({}, env({ SEALKIT_PROFILE: "hsm", MY_PIN: "1234" }));
    expect(s.provider).toBe("pkcs11");
    expect(s.pkcs11).toMatchObject({ tokenLabel: "t", keyLabel: "k", pin: "1234" });
    expect(
      resolveSettings({ profile: "hsm" }, env({ SEALKIT_PKCS11_PIN: "9999", MY_PIN: "1" })).pkcs11.pin,
    ).toBe("9999");
  });

  it("refuses unknown providers, missing profiles, unknown fields and bad JSON with usage errors", () => {
    // An endpoint makes aws the default provider; a provider given anywhere wins (no config file here).
    const bare = { HOME: dir };
    expect(resolveSettings({}, bare).provider).toBe("local");
    expect(resolveSettings({ endpoint: "http://127.0.0.1:4600" }, bare).provider).toBe("aws");
    expect(resolveSettings({}, { ...bare, SEALKIT_ENDPOINT: "http://127.0.0.1:4600" }).provider).toBe("aws");
    expect(resolveSettings({ endpoint: "http://x" }, { ...bare, SEALKIT_PROVIDER: "raw" }).provider).toBe(
      "raw",
    );
    expect(resolveSettings({ endpoint: "http://x" }, bare, "local").provider).toBe("local");
    expect(() => resolveSettings({ provider: "vault" }, env())).toThrow(UsageError);
    expect(() => resolveSettings({ profile: "nope" }, env())).toThrow(/profile "nope" not found/);
    expect(() => resolveSettings({ profile: "typo" }, env())).toThrow(/unknown field "provder"/);
    // Wrong shapes were ignored (the PIN then seemed missing) or sent to the KMS as "[object Object]".
    expect(() => resolveSettings({ profile: "pinTypo" }, env())).toThrow(/unknown field "pkcs11.pinENV"/);
    expect(() => resolveSettings({ profile: "pkcs11String" }, env())).toThrow(/"pkcs11" expected an object/);
    expect(() => resolveSettings({ profile: "keyObject" }, env())).toThrow(
      /"key" expected a string or an array of strings/,
    );
    expect(() => resolveSettings({ profile: "keyObject" }, env())).toThrow(UsageError);
    writeFileSync(join(dir, "bad.json"), "{");
    expect(() => resolveSettings({}, { SEALKIT_CONFIG_FILE: join(dir, "bad.json") })).toThrow(
      /not valid JSON/,
    );
    expect(() => resolveSettings({}, { SEALKIT_CONFIG_FILE: join(dir, "missing.json") })).toThrow(UsageError);
  });
});

describe("parsers", () => {
  it("sizes and contexts", () => {
    expect(parseSize("64K", "x")).toBe(65536);
    expect(parseSize("4MiB", "x")).toBe(4 * 1024 * 1024);
    expect(parseSize("100", "x")).toBe(100);
    expect(() => parseSize("lots", "x")).toThrow(UsageError);
    expect(parseContext(["a=1", "b=", "c=x=y"], "--context")).toEqual({ a: "1", b: "", c: "x=y" });
    expect(() => parseContext(["=1"], "--context")).toThrow(UsageError);
    expect(() => parseContext(["a=1", "a=2"], "--context")).toThrow(/twice/);
  });

  it("keeps keys named like Object.prototype's properties as context pairs", () => {
    // `context["__proto__"] = "x"` on a plain object sets no pair: the pair was silently dropped.
    const context = parseContext(["__proto__=x", "constructor=y", "toString=z"], "--context");
    expect(Object.keys(context)).toEqual(["__proto__", "constructor", "toString"]);
    expect(Object.getPrototypeOf(context)).toBe(Object.prototype);
    expect(() => parseContext(["__proto__=x", "__proto__=y"], "--context")).toThrow(/twice/);
  });
});

describe("exit codes", () => {
  it("maps each error family to its code", () => {
    const e = (code: ConstructorParameters<typeof SealkitError>[0]) => new SealkitError(code, "m");
    expect(exitCodeOf(new UsageError("u"))).toBe(EXIT.USAGE);
    expect(exitCodeOf(e("ERR_AUTHENTICATION_FAILED"))).toBe(EXIT.ENVELOPE);
    expect(exitCodeOf(e("ERR_TRUNCATED"))).toBe(EXIT.ENVELOPE);
    expect(exitCodeOf(e("ERR_ACCESS_DENIED"))).toBe(EXIT.ACCESS_DENIED);
    expect(exitCodeOf(e("ERR_KEY_NOT_FOUND"))).toBe(EXIT.NOT_FOUND);
    expect(exitCodeOf(Object.assign(new Error("x"), { code: "ENOENT" }))).toBe(EXIT.NOT_FOUND);
    expect(exitCodeOf(e("ERR_KEY_DISABLED"))).toBe(EXIT.KEY_DISABLED);
    expect(exitCodeOf(e("ERR_CONTEXT_MISMATCH"))).toBe(EXIT.NO_KEY);
    expect(exitCodeOf(e("ERR_NO_DECRYPTABLE_KEY"))).toBe(EXIT.NO_KEY);
    expect(exitCodeOf(e("ERR_PROVIDER_UNAVAILABLE"))).toBe(EXIT.FAILURE);
    expect(exitCodeOf(new Error("boom"))).toBe(EXIT.FAILURE);
  });

  it("reports the one reason behind ERR_NO_DECRYPTABLE_KEY", () => {
    const denied = new SealkitError("ERR_NO_DECRYPTABLE_KEY", "none", {
      cause: new AggregateError([new SealkitError("ERR_ACCESS_DENIED", "no")]),
    });
    expect(exitCodeOf(denied)).toBe(EXIT.ACCESS_DENIED);
    expect(describeError(denied, "arn:aws:iam::1:user/x")).toMatch(
      /^sealkit: ERR_ACCESS_DENIED: no \[ERR_NO_DECRYPTABLE_KEY\] — check the key policy or grants for arn:aws:iam::1:user\/x/,
    );
    // Two attempts denied: the summary, which names both.
    const both = new SealkitError("ERR_NO_DECRYPTABLE_KEY", "none", {
      cause: new AggregateError([
        new SealkitError("ERR_ACCESS_DENIED", "a"),
        new SealkitError("ERR_ACCESS_DENIED", "b"),
      ]),
    });
    expect(describeError(both)).toMatch(/^sealkit: ERR_ACCESS_DENIED: none \[ERR_NO_DECRYPTABLE_KEY\]/);
    const mixed = new SealkitError("ERR_NO_DECRYPTABLE_KEY", "none", {
      cause: new AggregateError([
        new SealkitError("ERR_ACCESS_DENIED", "a"),
        new SealkitError("ERR_INVALID_CIPHERTEXT", "b"),
      ]),
    });
    expect(exitCodeOf(mixed)).toBe(EXIT.NO_KEY);
  });

  it("a data dir another process holds points at that process and --endpoint, not at reachability", () => {
    // The message kms-local's lockDatabase throws.
    const busy = new SealkitError(
      "ERR_PROVIDER_UNAVAILABLE",
      "cannot open d/kms.db: d/kms.db is already open (its lock d/kms.db.lock is held by another LocalKms: one data dir takes one LocalKms at a time, in this or another process); close the other one first",
    );
    expect(describeError(busy)).toMatch(
      /— another process holds this data dir \(a sealkit kms serve\?\).*--endpoint$/,
    );
  });

  it("a PKCS#11 key that is not on the token points at the label and token, not at the KMS key commands", () => {
    // The message kms-cloudhsm's findKey throws.
    const missing = new SealkitError(
      "ERR_KEY_NOT_FOUND",
      'PKCS#11 key "nokey" not found: no secret key on the token has that CKA_LABEL',
    );
    for (const error of [
      missing,
      new SealkitError("ERR_NO_DECRYPTABLE_KEY", "none", { cause: new AggregateError([missing]) }),
    ]) {
      const line = describeError(error);
      expect(line).toMatch(/— check the key label \(--key, --pkcs11-key-label/);
      expect(line).not.toMatch(/sealkit keys list/);
    }
  });
});

describe("parseJsonText", () => {
  it("says where a file is not valid JSON, never what it holds there", () => {
    const cases: [string, string][] = [
      ['{"profiles":{"default":{"pin":SuperSecretPin123}}}', " (line 1, column 31)"],
      ['{"a":\n  1,\n  "b": nope}', " (line 3, column 9)"],
      ['{"a":1,}', " (line 1, column 8)"],
      ["x", " (line 1, column 1)"],
      ['{"a":', " (it ends too early)"],
      ["", " (it ends too early)"],
    ];
    for (const [text, place] of cases) {
      let message = "";
      try {
        parseJsonText(text, "f.json");
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        message = (error as Error).message;
      }
      expect(message).toBe(`f.json is not valid JSON${place}`);
    }
    expect(parseJsonText('{"a":[1]}', "f")).toEqual({ a: [1] });
  });
});

describe("describeError hints", () => {
  it("points at the missing setting, not at reachability, when the AWS SDK lacks credentials or a region", () => {
    const noCredentials = new SealkitError(
      "ERR_PROVIDER_UNAVAILABLE",
      "AWS KMS ListKeys failed: CredentialsProviderError: Could not load credentials from any providers",
    );
    expect(describeError(noCredentials)).toMatch(/ — check the credentials \(AWS_ACCESS_KEY_ID/);
    const noRegion = new SealkitError(
      "ERR_PROVIDER_UNAVAILABLE",
      "AWS KMS GenerateDataKey with key alias/x failed: Error: Region is missing",
    );
    expect(describeError(noRegion)).toMatch(
      / — set the region: --region, AWS_REGION or the profile's region/,
    );
    const trailing = new SealkitError(
      "ERR_ENVELOPE_MALFORMED",
      "malformed envelope: trailing bytes after the final frame",
    );
    expect(describeError(trailing)).toMatch(/ — the file has bytes after the end of its envelope/);
  });
});

describe("frame size settings", () => {
  it("a bad value is reported under the name it was given by", () => {
    expect(() => resolveSettings({ frameSize: "abc" }, env())).toThrow(/^--frame-size expected/);
    expect(() => resolveSettings({}, env({ SEALKIT_FRAME_SIZE: "abc" }))).toThrow(
      /^SEALKIT_FRAME_SIZE expected/,
    );
    expect(resolveSettings({}, env({ SEALKIT_FRAME_SIZE: "4K" })).frameSize).toBe(4096);
    // An empty variable is unset, as SEALKIT_KEY="" or SEALKIT_PROVIDER="" are: it was a usage error.
    expect(resolveSettings({}, env({ SEALKIT_FRAME_SIZE: "" })).frameSize).toBeUndefined();
  });
});

describe("describeError is one line", () => {
  it("keeps the first line of a multi-line message (a YAML seed error quoted the file below it)", () => {
    const yaml = Object.assign(
      new Error(
        "Nested mappings are not allowed in compact mappings at line 2, column 21:\n\n  key: a: b\n   ^\n",
      ),
      { code: "BLOCK_AS_IMPLICIT_KEY" },
    );
    expect(describeError(yaml)).toBe(
      "sealkit: BLOCK_AS_IMPLICIT_KEY: Nested mappings are not allowed in compact mappings at line 2, column 21",
    );
  });
});
