import { describe, expect, it } from "vitest";
import { awsKmsProvider, type KmsClientLike } from "./aws-kms-provider.js";

const KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000";
let calls = 0;
const client: KmsClientLike = {
  send: (async () => {
    calls++;
    throw new Error("no KMS in this test");
  }) as KmsClientLike["send"],
};

describe("awsKmsProvider options", () => {
  it.each([
    [{}, /"client" or "clientForRegion"/],
    [{ client, discovery: true }, /"discoveryFilter" is required/],
    [{ client, discovery: true, discoveryFilter: { partition: "aws", accountIds: [] } }, /accountIds/],
    [{ client, discovery: true, discoveryFilter: { partition: "aws", accountIds: ["12"] } }, /12-digit/],
    [
      { client, discovery: true, discoveryFilter: { partition: "", accountIds: ["111122223333"] } },
      /partition/,
    ],
    [
      {
        client,
        discovery: true,
        generatorKeyId: KEY,
        discoveryFilter: { partition: "aws", accountIds: ["111122223333"] },
      },
      /decrypts only/,
    ],
    [{ client, generatorKeyId: "" }, /"generatorKeyId" expected/],
    [{ client, keyIds: [KEY, ""] }, /"keyIds\[1\]" expected/],
    [{ client, generatorKeyId: KEY, grantTokens: [1] }, /"grantTokens"/],
    // The AWS Encryption SDK refuses such a keyring too: every decryption would fail with "no provider accepts".
    [{ client }, /give "generatorKeyId" or "keyIds", or "discovery"/],
    [{ client, generatorKeyId: undefined, keyIds: [] }, /give "generatorKeyId" or "keyIds", or "discovery"/],
  ])("rejects %j", (options, message) => {
    expect(() => awsKmsProvider(options as never)).toThrow(TypeError);
    expect(() => awsKmsProvider(options as never)).toThrow(message);
  });

  it("rejects grant tokens and key ids outside KMS's bounds (10 tokens of 1 to 8,192 characters; 2,048)", () => {
    // KMS refuses these in every call (ValidationException); they were accepted here.
    const tokens = (list: string[]) => ({ client, generatorKeyId: KEY, grantTokens: list });
    const long = `alias/${"a".repeat(2043)}`;
    for (const [options, message] of [
      [
        tokens(Array.from({ length: 11 }, (_, i) => `token${i}`)),
        /at most 10 tokens of 1 to 8,192 characters, got 11/,
      ],
      [tokens([""]), /"grantTokens" expected at most 10 tokens/],
      [tokens(["t".repeat(8193)]), /"grantTokens" expected/],
      [{ client, generatorKeyId: long }, /"generatorKeyId" expected .* at most 2048 characters/],
      [{ client, generatorKeyId: KEY, keyIds: [long] }, /"keyIds\[0\]" expected/],
    ] as const) {
      expect(() => awsKmsProvider(options as never)).toThrow(TypeError);
      expect(() => awsKmsProvider(options as never)).toThrow(message);
    }
    expect(() => awsKmsProvider(tokens(Array.from({ length: 10 }, () => "t".repeat(8192))))).not.toThrow();
    expect(() => awsKmsProvider({ client, generatorKeyId: long.slice(1) })).not.toThrow();
  });

  it("strict canDecrypt accepts only listed key ARNs of provider id aws-kms", () => {
    const p = awsKmsProvider({ client, generatorKeyId: KEY });
    const edk = (providerId: string, keyId: string) => ({ providerId, keyId, ciphertext: new Uint8Array(1) });
    expect(p.canDecrypt(edk("aws-kms", KEY))).toBe(true);
    expect(p.canDecrypt(edk("aws-kms", OTHER))).toBe(false);
    expect(p.canDecrypt(edk("raw", KEY))).toBe(false);
    expect(p.canDecrypt(edk("aws-kms", "arn:aws:kms:us-east-1:111122223333:alias/x"))).toBe(false);
  });

  it("takes a multi-Region key's replicas as distinct keys in strict mode (the ESDK's standard keyring, README)", () => {
    const replica = (region: string) =>
      `arn:aws:kms:${region}:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab`;
    const p = awsKmsProvider({ client, generatorKeyId: replica("us-east-1") });
    const edk = (keyId: string) => ({ providerId: "aws-kms", keyId, ciphertext: new Uint8Array(1) });
    expect(p.canDecrypt(edk(replica("us-east-1")))).toBe(true);
    expect(p.canDecrypt(edk(replica("eu-west-1")))).toBe(false);
    const both = awsKmsProvider({
      client,
      generatorKeyId: replica("us-east-1"),
      keyIds: [replica("eu-west-1")],
    });
    expect(both.canDecrypt(edk(replica("eu-west-1")))).toBe(true);
  });

  it("refuses to decrypt a key it may not try, without calling KMS", async () => {
    const p = awsKmsProvider({ client, generatorKeyId: KEY });
    const before = calls;
    await expect(
      p.decryptDataKey({
        encryptedDataKey: { providerId: "aws-kms", keyId: OTHER, ciphertext: new Uint8Array(1) },
        context: {},
      }),
    ).rejects.toMatchObject({ code: "ERR_ACCESS_DENIED" });
    expect(calls).toBe(before);
  });

  it("discovery: a clientForRegion that throws for a region named by the envelope fails that key with a code", async () => {
    const asked: (string | undefined)[] = [];
    const p = awsKmsProvider({
      clientForRegion: (region) => {
        asked.push(region);
        throw new RangeError(`no client for region ${region}`);
      },
      discovery: true,
      discoveryFilter: { partition: "aws", accountIds: ["111122223333"] },
    });
    const invented = "arn:aws:kms:xx-invented-9:111122223333:key/00000000-0000-4000-8000-000000000000";
    const error = await p
      .decryptDataKey({
        encryptedDataKey: { providerId: "aws-kms", keyId: invented, ciphertext: new Uint8Array(1) },
        context: {},
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ERR_PROVIDER_UNAVAILABLE" });
    expect((error as Error).cause).toBeInstanceOf(RangeError);
    expect(asked).toEqual(["xx-invented-9"]);
  });

  it("keeps its own copies of keyIds and the discovery filter: changing the caller's arrays later changes nothing", async () => {
    const keyIds = [KEY];
    const strict = awsKmsProvider({ client, keyIds });
    keyIds.push(OTHER);
    keyIds[0] = OTHER;
    const edk = (keyId: string) => ({ providerId: "aws-kms", keyId, ciphertext: new Uint8Array(1) });
    expect(strict.canDecrypt(edk(KEY))).toBe(true);
    expect(strict.canDecrypt(edk(OTHER))).toBe(false);

    const discoveryFilter = { partition: "aws", accountIds: ["111122223333"], regions: ["us-east-1"] };
    const open = awsKmsProvider({ client, discovery: true, discoveryFilter });
    discoveryFilter.accountIds.push("999999999999");
    discoveryFilter.regions.push("eu-west-1");
    discoveryFilter.partition = "aws-cn";
    expect(open.canDecrypt(edk("arn:aws:kms:us-east-1:999999999999:key/k"))).toBe(false);
    expect(open.canDecrypt(edk("arn:aws:kms:eu-west-1:111122223333:key/k"))).toBe(false);
    expect(open.canDecrypt(edk(KEY))).toBe(true);
  });

  it("rejects keyIds that is not an array", () => {
    expect(() => awsKmsProvider({ client, keyIds: KEY as never })).toThrow(/"keyIds" expected an array/);
  });

  it("maps transport failures to ERR_PROVIDER_UNAVAILABLE with the cause", async () => {
    const p = awsKmsProvider({ client, generatorKeyId: KEY });
    const error = await p.generateDataKey({ length: 32, context: {} }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ERR_PROVIDER_UNAVAILABLE" });
    expect((error as Error).cause).toBeInstanceOf(Error);
  });
});
