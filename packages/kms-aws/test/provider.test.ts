// awsKmsProvider through the real @aws-sdk/client-kms, over HTTP, against the Sealkit KMS server: round trips,
// aliases, strict and discovery decryption, refusals mapped to Sealkit codes, grant tokens, throttling with retries.

import {
  CreateAliasCommand,
  CreateGrantCommand,
  DeleteAliasCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  PutKeyPolicyCommand,
} from "@aws-sdk/client-kms";
import { decrypt, encrypt } from "@sealkit/cipher";
import { type KeyProvider, parseHeader, SealkitError } from "@sealkit/core";
import { localKmsProvider } from "@sealkit/kms-local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsKmsProvider } from "../src/index.js";
import { ACCOUNT, ALICE, type LocalServer, MALLORY, REGION, rejection, startLocalServer } from "./support.js";

const te = new TextEncoder();
const td = new TextDecoder();
const context = { tenant: "acme", purpose: "kms-aws-test" };

/** The Sealkit codes of the failures behind an ERR_NO_DECRYPTABLE_KEY. */
function causeCodes(error: { cause?: unknown }): string[] {
  const aggregate = error.cause as AggregateError;
  return aggregate.errors.map((e: unknown) => (SealkitError.isInstance(e) ? e.code : String(e)));
}

async function roundTrip(encryptWith: KeyProvider, decryptWith: KeyProvider, text = "hello kms") {
  const sealed = await encrypt(te.encode(text), { providers: [encryptWith], context });
  const opened = await decrypt(sealed, { providers: [decryptWith], expectContext: context });
  expect(td.decode(opened.plaintext)).toBe(text);
  return { sealed, header: opened.header };
}

describe("awsKmsProvider against the Sealkit KMS server", () => {
  let server: LocalServer;
  let keyA: string;
  let keyB: string;
  let keyC: string;

  beforeAll(async () => {
    server = await startLocalServer();
    keyA = await server.createKey();
    keyB = await server.createKey();
    keyC = await server.createKey();
  }, 60_000);
  afterAll(() => server?.close());

  const provider = (options: Partial<Parameters<typeof awsKmsProvider>[0]> = {}) =>
    awsKmsProvider({ client: server.client(), ...options });

  it("round-trips with one key; the envelope records the key ARN", async () => {
    const p = provider({ generatorKeyId: keyA });
    const { header } = await roundTrip(p, p);
    expect(header.encryptedDataKeys).toHaveLength(1);
    expect(header.encryptedDataKeys[0]).toMatchObject({ providerId: "aws-kms", keyId: keyA });
  });

  it("with several keys any one of them alone decrypts, asking KMS about that key only", async () => {
    const sealed = await encrypt(te.encode("three keys"), {
      providers: [provider({ generatorKeyId: keyA, keyIds: [keyB, keyC] })],
      context,
    });
    expect(parseHeader(sealed).encryptedDataKeys.map((k) => k.keyId)).toEqual([keyA, keyB, keyC]);
    for (const key of [keyA, keyB, keyC]) {
      const before = await server.count("Decrypt");
      const opened = await decrypt(sealed, { providers: [provider({ generatorKeyId: key })] });
      expect(td.decode(opened.plaintext)).toBe("three keys");
      expect(await server.count("Decrypt")).toBe(before + 1);
    }
  });

  it("accepts alias names and alias ARNs; the envelope records the key ARN KMS returned", async () => {
    const key = await server.createKey();
    await server
      .client()
      .send(new CreateAliasCommand({ AliasName: "alias/kms-aws-orders", TargetKeyId: key }));
    const aliasArn = `arn:aws:kms:${REGION}:${ACCOUNT}:alias/kms-aws-orders`;
    for (const id of ["alias/kms-aws-orders", aliasArn]) {
      const p = provider({ generatorKeyId: id });
      const { header } = await roundTrip(p, p);
      expect(header.encryptedDataKeys.map((k) => k.keyId)).toEqual([key]);
      // Decryption by a provider given only the alias: DescribeKey resolves it, then Decrypt with the key ARN.
      const sealed = await encrypt(te.encode("x"), {
        providers: [provider({ generatorKeyId: key })],
        context,
      });
      expect((await decrypt(sealed, { providers: [provider({ keyIds: [id] })] })).plaintext).toEqual(
        te.encode("x"),
      );
    }
  });

  it("an alias that no longer resolves does not stop the provider's other aliases from decrypting", async () => {
    const admin = server.client();
    await admin.send(new CreateAliasCommand({ AliasName: "alias/kms-aws-stale", TargetKeyId: keyA }));
    await admin.send(new CreateAliasCommand({ AliasName: "alias/kms-aws-kept", TargetKeyId: keyB }));
    const sealed = await encrypt(te.encode("under the kept alias"), {
      providers: [provider({ generatorKeyId: "alias/kms-aws-kept" })],
      context,
    });
    await admin.send(new DeleteAliasCommand({ AliasName: "alias/kms-aws-stale" }));
    const p = provider({ keyIds: ["alias/kms-aws-stale", "alias/kms-aws-kept"] });
    const notFound = await server.count("DescribeKey", "NotFoundException");
    expect(td.decode((await decrypt(sealed, { providers: [p] })).plaintext)).toBe("under the kept alias");
    expect(await server.count("DescribeKey", "NotFoundException")).toBe(notFound + 1);
    // An envelope under a key the provider cannot place: the stale alias may have named it, so its failure is told.
    const other = await encrypt(te.encode("x"), { providers: [provider({ generatorKeyId: keyC })], context });
    const error = await rejection(decrypt(other, { providers: [p] }));
    expect(causeCodes(error)).toEqual(["ERR_KEY_NOT_FOUND"]);
  });

  it("strict mode refuses an envelope whose key is not listed, without a Decrypt call", async () => {
    const sealed = await encrypt(te.encode("not yours"), {
      providers: [provider({ generatorKeyId: keyB })],
      context,
    });
    const before = await server.count("Decrypt");
    const beforeFailed = await server.count("Decrypt", "IncorrectKeyException");
    for (const p of [provider({ generatorKeyId: keyA }), provider({ keyIds: [keyA, keyC] })]) {
      const error = await rejection(decrypt(sealed, { providers: [p] }));
      expect(error.code).toBe("ERR_NO_DECRYPTABLE_KEY");
    }
    // An alias-configured provider resolves its alias (DescribeKey) but still never asks KMS to decrypt.
    await server
      .client()
      .send(new CreateAliasCommand({ AliasName: "alias/kms-aws-strict", TargetKeyId: keyA }));
    const aliased = provider({ generatorKeyId: "alias/kms-aws-strict" });
    expect((await rejection(decrypt(sealed, { providers: [aliased] }))).code).toBe("ERR_NO_DECRYPTABLE_KEY");
    expect(await server.count("Decrypt")).toBe(before);
    expect(await server.count("Decrypt", "IncorrectKeyException")).toBe(beforeFailed);
  });

  it("discovery mode decrypts any key its filter allows, and filters out others without a KMS call", async () => {
    const sealed = await encrypt(te.encode("discover me"), {
      providers: [provider({ generatorKeyId: keyC })],
      context,
    });
    const open = provider({ discovery: true, discoveryFilter: { partition: "aws", accountIds: [ACCOUNT] } });
    expect(td.decode((await decrypt(sealed, { providers: [open] })).plaintext)).toBe("discover me");
    const regional = provider({
      discovery: true,
      discoveryFilter: { partition: "aws", accountIds: [ACCOUNT], regions: [REGION] },
    });
    expect(td.decode((await decrypt(sealed, { providers: [regional] })).plaintext)).toBe("discover me");

    const before = await server.count("Decrypt");
    for (const discoveryFilter of [
      { partition: "aws", accountIds: ["999999999999"] },
      { partition: "aws-cn", accountIds: [ACCOUNT] },
      { partition: "aws", accountIds: [ACCOUNT], regions: ["eu-west-1"] },
    ]) {
      const filtered = provider({ discovery: true, discoveryFilter });
      const error = await rejection(decrypt(sealed, { providers: [filtered] }));
      expect(error.code).toBe("ERR_NO_DECRYPTABLE_KEY");
      expect(error.message).toMatch(/no provider accepts/);
    }
    expect(await server.count("Decrypt")).toBe(before);
  });

  it("maps a disabled key to ERR_KEY_DISABLED with the SDK error as cause", async () => {
    const key = await server.createKey();
    const p = provider({ generatorKeyId: key });
    const sealed = await encrypt(te.encode("before"), { providers: [p], context });
    await server.client().send(new DisableKeyCommand({ KeyId: key }));
    const onEncrypt = await rejection(encrypt(te.encode("after"), { providers: [p], context }));
    expect(onEncrypt.code).toBe("ERR_KEY_DISABLED");
    expect((onEncrypt.cause as Error).name).toBe("DisabledException");
    const onDecrypt = await rejection(decrypt(sealed, { providers: [p] }));
    expect(onDecrypt.code).toBe("ERR_NO_DECRYPTABLE_KEY");
    expect(causeCodes(onDecrypt)).toEqual(["ERR_KEY_DISABLED"]);
    await server.client().send(new EnableKeyCommand({ KeyId: key }));
    expect(td.decode((await decrypt(sealed, { providers: [p] })).plaintext)).toBe("before");
  });

  it("maps a key policy that denies Decrypt for a context to ERR_ACCESS_DENIED", async () => {
    const key = await server.createKey();
    const policy = {
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
          Action: "kms:*",
          Resource: "*",
        },
        {
          Effect: "Deny",
          Principal: { AWS: "*" },
          Action: "kms:Decrypt",
          Resource: "*",
          Condition: { StringEquals: { "kms:EncryptionContext:tenant": "blocked" } },
        },
      ],
    };
    await server
      .client()
      .send(new PutKeyPolicyCommand({ KeyId: key, PolicyName: "default", Policy: JSON.stringify(policy) }));
    const p = provider({ generatorKeyId: key });
    const allowed = await encrypt(te.encode("ok"), { providers: [p], context: { tenant: "acme" } });
    expect(td.decode((await decrypt(allowed, { providers: [p] })).plaintext)).toBe("ok");
    const blocked = await encrypt(te.encode("no"), { providers: [p], context: { tenant: "blocked" } });
    const error = await rejection(decrypt(blocked, { providers: [p] }));
    expect(error.code).toBe("ERR_NO_DECRYPTABLE_KEY");
    expect(causeCodes(error)).toEqual(["ERR_ACCESS_DENIED"]);
    const direct = await rejection(
      p.decryptDataKey({
        encryptedDataKey: parseHeader(blocked).encryptedDataKeys[0]!,
        context: { tenant: "blocked" },
      }),
    );
    expect(direct.code).toBe("ERR_ACCESS_DENIED");
    expect((direct.cause as Error).name).toBe("AccessDeniedException");
  });

  it("a wrong context gives ERR_INVALID_CIPHERTEXT inside ERR_NO_DECRYPTABLE_KEY's cause", async () => {
    const p = provider({ generatorKeyId: keyA });
    const sealed = await encrypt(te.encode("bound"), { providers: [p], context: { tenant: "acme" } });
    // Change the context in the header ("acme" -> "acmf"): KMS refuses the data key before any header check.
    const at = Buffer.from(sealed).indexOf("acme");
    expect(at).toBeGreaterThan(0);
    const tampered = sealed.slice();
    tampered[at + 3] = "f".charCodeAt(0);
    const error = await rejection(decrypt(tampered, { providers: [p] }));
    expect(error.code).toBe("ERR_NO_DECRYPTABLE_KEY");
    expect(causeCodes(error)).toEqual(["ERR_INVALID_CIPHERTEXT"]);
    expect(((error.cause as AggregateError).errors[0] as Error).cause).toMatchObject({
      name: "InvalidCiphertextException",
    });
  });

  it("an encrypted data key relabelled with another listed key, or garbage, is refused by KMS, never opened", async () => {
    const p = provider({ keyIds: [keyA, keyB] });
    const sealed = await encrypt(te.encode("under A"), {
      providers: [provider({ generatorKeyId: keyA })],
      context,
    });
    const edk = parseHeader(sealed).encryptedDataKeys[0]!;
    // Decrypt is always sent with KeyId: KMS checks the blob against that key (IncorrectKeyException).
    const relabelled = await rejection(
      p.decryptDataKey({ encryptedDataKey: { ...edk, keyId: keyB }, context }),
    );
    expect(relabelled.code).toBe("ERR_INVALID_CIPHERTEXT");
    expect((relabelled.cause as Error).name).toBe("IncorrectKeyException");
    const garbage = await rejection(
      p.decryptDataKey({ encryptedDataKey: { ...edk, ciphertext: new Uint8Array(200).fill(9) }, context }),
    );
    expect(garbage.code).toBe("ERR_INVALID_CIPHERTEXT");
    const truncated = await rejection(
      p.decryptDataKey({ encryptedDataKey: { ...edk, ciphertext: edk.ciphertext.subarray(0, 20) }, context }),
    );
    expect(truncated.code).toBe("ERR_INVALID_CIPHERTEXT");
  });

  it("passes grant tokens: a principal allowed only by a grant uses it right after CreateGrant", async () => {
    const key = await server.createKey();
    const mallory = server.client(MALLORY);
    const denied = await rejection(
      encrypt(te.encode("x"), {
        providers: [awsKmsProvider({ client: mallory, generatorKeyId: key })],
        context,
      }),
    );
    expect(denied.code).toBe("ERR_ACCESS_DENIED");
    const grant = await server.client().send(
      new CreateGrantCommand({
        KeyId: key,
        GranteePrincipal: MALLORY.principal,
        Operations: ["GenerateDataKey", "Decrypt"],
      }),
    );
    expect(grant.GrantToken).toBeTruthy();
    const p = awsKmsProvider({ client: mallory, generatorKeyId: key, grantTokens: [grant.GrantToken!] });
    await roundTrip(p, p, "granted");
    // The tokens reach KMS on every call: a malformed one is refused by the server.
    const bad = awsKmsProvider({ client: mallory, generatorKeyId: key, grantTokens: ["not-a-grant-token"] });
    const error = await rejection(encrypt(te.encode("x"), { providers: [bad], context }));
    expect(error.code).toBe("ERR_REQUEST_INVALID");
    expect((error.cause as Error).name).toBe("InvalidGrantTokenException");
  });

  it("maps an unknown key to ERR_KEY_NOT_FOUND", async () => {
    const missing = `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-4000-8000-000000000000`;
    const error = await rejection(
      encrypt(te.encode("x"), { providers: [provider({ generatorKeyId: missing })] }),
    );
    expect(error.code).toBe("ERR_KEY_NOT_FOUND");
    expect((error.cause as Error).name).toBe("NotFoundException");
  });

  it("maps requests KMS refuses as invalid to ERR_REQUEST_INVALID, not to an outage", async () => {
    const p = provider({ generatorKeyId: keyA });
    // Over KMS's 6,144-byte CiphertextBlob and 4,096-byte Plaintext limits: ValidationException.
    const decrypting = await rejection(
      p.decryptDataKey({
        encryptedDataKey: { providerId: "aws-kms", keyId: keyA, ciphertext: new Uint8Array(7000).fill(1) },
        context,
      }),
    );
    expect(decrypting.code).toBe("ERR_REQUEST_INVALID");
    expect((decrypting.cause as Error).name).toBe("ValidationException");
    const encrypting = await rejection(p.encryptDataKey({ plaintext: new Uint8Array(4097), context }));
    expect(encrypting.code).toBe("ERR_REQUEST_INVALID");
  });

  it("refuses a bad length or a lone surrogate in the context before asking KMS", async () => {
    const p = provider({ generatorKeyId: keyA });
    const before = await server.count("GenerateDataKey", "ValidationException");
    await expect(p.generateDataKey({ length: 0, context })).rejects.toThrow(RangeError);
    await expect(p.generateDataKey({ length: 2048, context })).rejects.toThrow(RangeError);
    await expect(p.generateDataKey({ length: 32, context: { a: "\ud800" } })).rejects.toThrow(TypeError);
    expect(await server.count("GenerateDataKey", "ValidationException")).toBe(before);
  });

  it("interoperates with kms-local's in-process localKmsProvider on the same LocalKms", async () => {
    const local = localKmsProvider({
      kms: server.started.kms,
      keyId: keyA,
      caller: { principal: ALICE.principal, account: ACCOUNT },
    });
    const remote = provider({ generatorKeyId: keyA });
    const one = await roundTrip(local, remote, "local to server");
    const two = await roundTrip(remote, local, "server to local");
    expect(one.header.encryptedDataKeys[0]).toMatchObject({ providerId: "aws-kms", keyId: keyA });
    expect(two.header.encryptedDataKeys[0]).toMatchObject({ providerId: "aws-kms", keyId: keyA });
  });
});

describe("awsKmsProvider with the server's quotas on", () => {
  let server: LocalServer;
  beforeAll(async () => {
    server = await startLocalServer({ throttle: { quotas: { cryptographic: 4 }, burstSeconds: 1 } });
  }, 60_000);
  afterAll(() => server?.close());

  it("throttled calls are retried by the SDK's standard retry strategy", async () => {
    const key = await server.createKey();
    const p = awsKmsProvider({
      client: server.client(ALICE, { retryMode: "standard", maxAttempts: 10 }),
      generatorKeyId: key,
    });
    const sealed = await Promise.all(
      Array.from({ length: 12 }, (_, i) => encrypt(te.encode(`m${i}`), { providers: [p], context })),
    );
    expect(sealed).toHaveLength(12);
    expect(await server.count("GenerateDataKey")).toBe(12);
    expect(await server.count("GenerateDataKey", "ThrottlingException")).toBeGreaterThan(0);

    // Without retries the throttling reaches the caller as ERR_THROTTLED.
    const once = awsKmsProvider({ client: server.client(ALICE, { maxAttempts: 1 }), generatorKeyId: key });
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, () => encrypt(te.encode("x"), { providers: [once], context })),
    );
    const failed = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) {
      expect(f.reason.code).toBe("ERR_THROTTLED");
      expect(f.reason.cause.name).toBe("ThrottlingException");
    }
  }, 60_000);
});

describe("awsKmsProvider across regions (clientForRegion)", () => {
  let east: LocalServer;
  let west: LocalServer;
  beforeAll(async () => {
    east = await startLocalServer();
    west = await startLocalServer({ region: "eu-west-1" });
  });
  afterAll(async () => {
    await east?.close();
    await west?.close();
  });

  it("calls each key's region; each region alone decrypts", async () => {
    const eastKey = await east.createKey();
    const westKey = await west.createKey();
    expect(westKey).toMatch(/^arn:aws:kms:eu-west-1:/);
    const clients = { "us-east-1": east.client(), "eu-west-1": west.client() };
    const asked: (string | undefined)[] = [];
    const clientForRegion = (region: string | undefined) => {
      asked.push(region);
      return clients[(region ?? "us-east-1") as keyof typeof clients];
    };
    const both = awsKmsProvider({ clientForRegion, generatorKeyId: eastKey, keyIds: [westKey] });
    const sealed = await encrypt(te.encode("two regions"), { providers: [both], context });
    expect(parseHeader(sealed).encryptedDataKeys.map((k) => k.keyId)).toEqual([eastKey, westKey]);
    expect(asked).toEqual(["us-east-1", "eu-west-1"]);
    expect(await west.count("Encrypt")).toBe(1);

    const westOnly = awsKmsProvider({ clientForRegion, keyIds: [westKey] });
    expect(td.decode((await decrypt(sealed, { providers: [westOnly] })).plaintext)).toBe("two regions");
    expect(await west.count("Decrypt")).toBe(1);
    expect(await east.count("Decrypt")).toBe(0);
  });
});

describe("awsKmsProvider cancellation", () => {
  let server: LocalServer;
  beforeAll(async () => {
    server = await startLocalServer();
  });
  afterAll(() => server?.close());

  it("an aborted call rejects with the abort reason, not a Sealkit error", async () => {
    const key = await server.createKey();
    const p = awsKmsProvider({ client: server.client(), generatorKeyId: key });
    const reason = new Error("caller gave up");
    const controller = new AbortController();
    const pending = p.generateDataKey({ length: 32, context, signal: controller.signal });
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    const sealed = await encrypt(te.encode("x"), { providers: [p], context });
    const edk = parseHeader(sealed).encryptedDataKeys[0]!;
    const again = new AbortController();
    const opening = p.decryptDataKey({ encryptedDataKey: edk, context, signal: again.signal });
    again.abort(reason);
    await expect(opening).rejects.toBe(reason);
  });
});
