// awsKmsProvider through the real @aws-sdk/client-kms against a tiny HTTP server answering crafted bytes: the faults
// the Sealkit KMS server cannot be made to show (an impostor's key ids, a key of the wrong length, every AWS exception
// name, an HTML 502, silence). A real server and a real SDK; only the answers are made up.

import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { inspect } from "node:util";
import { KMSClient, type KMSClientConfig } from "@aws-sdk/client-kms";
import { encodeContext, toBase64 } from "@sealkit/core";
import { ERROR_STATUS, type KmsErrorName, kmsHttpStatus, kmsSealkitCode } from "@sealkit/kms-local";
import { afterAll, describe, expect, it } from "vitest";
import { fromKmsError } from "../src/errors.js";
import { awsKmsProvider } from "../src/index.js";
import { ACCOUNT, REGION, rejection } from "./support.js";

const KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/11111111-1111-4111-8111-111111111111`;
const OTHER = `arn:aws:kms:${REGION}:${ACCOUNT}:key/22222222-2222-4222-8222-222222222222`;
const ATTACKER = "arn:aws:kms:us-east-1:999999999999:key/33333333-3333-4333-8333-333333333333";
const context = { tenant: "acme" };

interface Call {
  readonly operation: string;
  readonly body: Record<string, unknown>;
}
type Answer = { status?: number; body: unknown; contentType?: string } | "silence";

const servers: Server[] = [];
const clients: KMSClient[] = [];
afterAll(async () => {
  for (const c of clients) c.destroy();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A KMS endpoint answering each call with `answer(call)`; returns a real SDK client for it and the calls seen. */
async function craftedKms(
  answer: (call: Call) => Answer | Promise<Answer>,
  config: Partial<KMSClientConfig> = {},
) {
  const calls: Call[] = [];
  // Operations whose request the client closed before an answer came (cancelled, or given up on).
  const abandoned: string[] = [];
  const server = createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const operation = String(request.headers["x-amz-target"] ?? "").replace("TrentService.", "");
    const call = { operation, body: JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") };
    calls.push(call);
    response.on("close", () => {
      if (!response.writableEnded) abandoned.push(operation);
    });
    const out = await answer(call);
    if (out === "silence") return; // never answers
    response.writeHead(out.status ?? 200, {
      "content-type": out.contentType ?? "application/x-amz-json-1.1",
    });
    response.end(typeof out.body === "string" ? out.body : JSON.stringify(out.body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = new KMSClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: REGION,
    credentials: { accessKeyId: "AKIAFAULTS0000000001", secretAccessKey: "faults-secret" },
    maxAttempts: 1,
    ...config,
  });
  clients.push(client);
  // Keep what the SDK deserialized, to check that the provider wiped the plaintext in it.
  const outputs: Record<string, unknown>[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      outputs.push(result.output as unknown as Record<string, unknown>);
      return result;
    },
    { step: "initialize", name: "keepOutputs" },
  );
  return { client, calls, outputs, abandoned };
}

const b64 = (bytes: Uint8Array) => toBase64(bytes);
const key = (n: number, fill = 0x42) => new Uint8Array(n).fill(fill);
const isZero = (bytes: unknown) => bytes instanceof Uint8Array && bytes.every((b) => b === 0);

describe("awsKmsProvider checks what KMS answers", () => {
  it("refuses a GenerateDataKey answered for another key than the configured key ARN, and wipes the key", async () => {
    const { client, outputs } = await craftedKms(() => ({
      body: { KeyId: ATTACKER, Plaintext: b64(key(32)), CiphertextBlob: b64(key(64, 1)) },
    }));
    const error = await rejection(
      awsKmsProvider({ client, generatorKeyId: KEY }).generateDataKey({ length: 32, context }),
    );
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.message).toContain(ATTACKER);
    expect(isZero(outputs[0]!.Plaintext)).toBe(true);
  });

  it.each([
    ["a bare key id", "11111111-1111-4111-8111-111111111111", OTHER, KEY],
    ["an alias ARN", `arn:aws:kms:${REGION}:${ACCOUNT}:alias/app`, ATTACKER, OTHER],
  ])("checks the returned key ARN against %s", async (_name, configured, wrong, right) => {
    let returned = wrong;
    const { client } = await craftedKms(() => ({
      body: { KeyId: returned, Plaintext: b64(key(32)), CiphertextBlob: b64(key(64, 1)) },
    }));
    const p = awsKmsProvider({ client, generatorKeyId: configured });
    expect((await rejection(p.generateDataKey({ length: 32, context }))).code).toBe(
      "ERR_PROVIDER_UNAVAILABLE",
    );
    returned = right;
    const ok = await p.generateDataKey({ length: 32, context });
    expect(ok.encryptedDataKeys[0]!.keyId).toBe(right);
  });

  it("accepts any key ARN for an alias name, which names no key KMS could be checked against", async () => {
    const { client } = await craftedKms(() => ({
      body: { KeyId: OTHER, Plaintext: b64(key(32)), CiphertextBlob: b64(key(64, 1)) },
    }));
    const p = awsKmsProvider({ client, generatorKeyId: "alias/app" });
    expect((await p.generateDataKey({ length: 32, context })).encryptedDataKeys[0]!.keyId).toBe(OTHER);
  });

  it("refuses an Encrypt (second key) answered for another key, and wipes the generated key", async () => {
    const { client, outputs } = await craftedKms((call) =>
      call.operation === "GenerateDataKey"
        ? { body: { KeyId: KEY, Plaintext: b64(key(32)), CiphertextBlob: b64(key(64, 1)) } }
        : { body: { KeyId: ATTACKER, CiphertextBlob: b64(key(64, 2)) } },
    );
    const p = awsKmsProvider({ client, generatorKeyId: KEY, keyIds: [OTHER] });
    const error = await rejection(p.generateDataKey({ length: 32, context }));
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(isZero(outputs[0]!.Plaintext)).toBe(true);
    const direct = await rejection(p.encryptDataKey({ plaintext: key(32), context }));
    expect(direct.code).toBe("ERR_PROVIDER_UNAVAILABLE");
  });

  it("refuses a data key of another length than asked for, and wipes it", async () => {
    const { client, outputs } = await craftedKms(() => ({
      body: { KeyId: KEY, Plaintext: b64(key(16)), CiphertextBlob: b64(key(64, 1)) },
    }));
    const error = await rejection(
      awsKmsProvider({ client, generatorKeyId: KEY }).generateDataKey({ length: 32, context }),
    );
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.message).toMatch(/malformed data key/);
    expect(isZero(outputs[0]!.Plaintext)).toBe(true);
  });

  it("refuses a Decrypt answered for another key, and wipes what it returned", async () => {
    const { client, outputs } = await craftedKms(() => ({
      body: { KeyId: OTHER, Plaintext: b64(key(32)) },
    }));
    const p = awsKmsProvider({ client, generatorKeyId: KEY });
    const error = await rejection(
      p.decryptDataKey({
        encryptedDataKey: { providerId: "aws-kms", keyId: KEY, ciphertext: key(64, 1) },
        context,
      }),
    );
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(isZero(outputs[0]!.Plaintext)).toBe(true);
  });

  it.each([
    ["a Plaintext that is a number", { Plaintext: 123, CiphertextBlob: b64(key(64, 1)) }],
    ["a Plaintext that is a JSON array", { Plaintext: Array(32).fill(1), CiphertextBlob: b64(key(64, 1)) }],
    ["a CiphertextBlob that is a JSON array", { Plaintext: b64(key(32)), CiphertextBlob: [1, 2, 3] }],
    [
      "a CiphertextBlob over KMS's 6,144 bytes",
      { Plaintext: b64(key(32)), CiphertextBlob: b64(key(6145, 1)) },
    ],
  ])(
    "refuses a GenerateDataKey answer with %s (a typed error, not a crash), wiping the key",
    async (_name, fields) => {
      const { client, outputs } = await craftedKms(() => ({ body: { KeyId: KEY, ...fields } }));
      const error = await rejection(
        awsKmsProvider({ client, generatorKeyId: KEY }).generateDataKey({ length: 32, context }),
      );
      expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
      const plaintext = outputs[0]!.Plaintext;
      if (plaintext instanceof Uint8Array) expect(isZero(plaintext)).toBe(true);
    },
  );

  it.each([
    ["a JSON array", [1, 2, 3]],
    ["over KMS's 6,144 bytes", b64(key(6145, 2))],
  ])("refuses an Encrypt answer whose CiphertextBlob is %s", async (_name, blob) => {
    const { client, outputs } = await craftedKms((call) =>
      call.operation === "GenerateDataKey"
        ? { body: { KeyId: KEY, Plaintext: b64(key(32)), CiphertextBlob: b64(key(64, 1)) } }
        : { body: { KeyId: OTHER, CiphertextBlob: blob } },
    );
    const p = awsKmsProvider({ client, generatorKeyId: KEY, keyIds: [OTHER] });
    expect((await rejection(p.generateDataKey({ length: 32, context }))).code).toBe(
      "ERR_PROVIDER_UNAVAILABLE",
    );
    expect(isZero(outputs[0]!.Plaintext)).toBe(true);
    expect((await rejection(p.encryptDataKey({ plaintext: key(32), context }))).code).toBe(
      "ERR_PROVIDER_UNAVAILABLE",
    );
  });

  it.each([
    ["a number", 123],
    ["a JSON array", Array(32).fill(1)],
  ])("refuses a Decrypt answer whose Plaintext is %s", async (_name, plaintext) => {
    const { client } = await craftedKms(() => ({ body: { KeyId: KEY, Plaintext: plaintext } }));
    const error = await rejection(
      awsKmsProvider({ client, generatorKeyId: KEY }).decryptDataKey({
        encryptedDataKey: { providerId: "aws-kms", keyId: KEY, ciphertext: key(64, 1) },
        context,
      }),
    );
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
  });

  it.each([
    ["an alias ARN, to a key of another account", `arn:aws:kms:${REGION}:${ACCOUNT}:alias/app`, ATTACKER],
    [
      "an alias ARN, to a key of another region",
      `arn:aws:kms:${REGION}:${ACCOUNT}:alias/app`,
      `arn:aws:kms:eu-west-1:${ACCOUNT}:key/11111111-1111-4111-8111-111111111111`,
    ],
    ["a bare key id, to another key", "11111111-1111-4111-8111-111111111111", OTHER],
  ])(
    "strict decryption refuses a DescribeKey that resolves %s, without a Decrypt call",
    async (_name, configured, impostor) => {
      const { client, calls } = await craftedKms((call) =>
        call.operation === "DescribeKey"
          ? { body: { KeyMetadata: { Arn: impostor, KeyId: impostor.split("/")[1] } } }
          : { body: { KeyId: impostor, Plaintext: b64(key(32)) } },
      );
      const p = awsKmsProvider({ client, keyIds: [configured] });
      const error = await rejection(
        p.decryptDataKey({
          encryptedDataKey: { providerId: "aws-kms", keyId: impostor, ciphertext: key(64, 1) },
          context,
        }),
      );
      expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
      expect(error.message).toContain(impostor);
      expect(calls.map((c) => c.operation)).not.toContain("Decrypt");
    },
  );

  it("sends the canonical request: KeyId, the context, NumberOfBytes", async () => {
    const { client, calls } = await craftedKms(() => ({
      body: { KeyId: KEY, Plaintext: b64(key(32)), CiphertextBlob: b64(key(64, 1)) },
    }));
    await awsKmsProvider({ client, generatorKeyId: KEY }).generateDataKey({ length: 32, context });
    expect(calls[0]).toEqual({
      operation: "GenerateDataKey",
      body: { KeyId: KEY, NumberOfBytes: 32, EncryptionContext: context },
    });
  });
});

describe("awsKmsProvider maps every AWS KMS exception name", () => {
  const table: [string, string][] = [
    ["AccessDeniedException", "ERR_ACCESS_DENIED"],
    ["UnrecognizedClientException", "ERR_ACCESS_DENIED"],
    ["InvalidSignatureException", "ERR_ACCESS_DENIED"],
    ["IncompleteSignatureException", "ERR_ACCESS_DENIED"],
    ["MissingAuthenticationTokenException", "ERR_ACCESS_DENIED"],
    ["ExpiredTokenException", "ERR_ACCESS_DENIED"],
    ["DisabledException", "ERR_KEY_DISABLED"],
    ["KMSInvalidStateException", "ERR_KEY_DISABLED"],
    ["NotFoundException", "ERR_KEY_NOT_FOUND"],
    ["ThrottlingException", "ERR_THROTTLED"],
    ["InvalidCiphertextException", "ERR_INVALID_CIPHERTEXT"],
    ["IncorrectKeyException", "ERR_INVALID_CIPHERTEXT"],
    ["ValidationException", "ERR_REQUEST_INVALID"],
    ["SerializationException", "ERR_REQUEST_INVALID"],
    ["InvalidKeyUsageException", "ERR_REQUEST_INVALID"],
    ["InvalidArnException", "ERR_REQUEST_INVALID"],
    ["DryRunOperationException", "ERR_REQUEST_INVALID"],
    ["InvalidGrantTokenException", "ERR_REQUEST_INVALID"],
    ["LimitExceededException", "ERR_REQUEST_INVALID"],
    ["UnsupportedOperationException", "ERR_REQUEST_INVALID"],
    ["KMSInternalException", "ERR_PROVIDER_UNAVAILABLE"],
    ["KeyUnavailableException", "ERR_PROVIDER_UNAVAILABLE"],
    ["DependencyTimeoutException", "ERR_PROVIDER_UNAVAILABLE"],
    ["CustomKeyStoreInvalidStateException", "ERR_PROVIDER_UNAVAILABLE"],
    ["SomethingNewException", "ERR_PROVIDER_UNAVAILABLE"],
  ];

  it.each(table)(
    "%s -> %s, on GenerateDataKey, Encrypt and Decrypt, the SDK error kept as cause",
    async (name, code) => {
      const status = name === "ThrottlingException" ? 400 : name.startsWith("KMSInternal") ? 500 : 400;
      const { client } = await craftedKms(() => ({
        status,
        body: { __type: `com.amazonaws.kms#${name}`, message: "crafted" },
      }));
      const p = awsKmsProvider({ client, generatorKeyId: KEY });
      for (const call of [
        p.generateDataKey({ length: 32, context }),
        p.encryptDataKey({ plaintext: key(32), context }),
        p.decryptDataKey({
          encryptedDataKey: { providerId: "aws-kms", keyId: KEY, ciphertext: key(8) },
          context,
        }),
      ]) {
        const error = await rejection(call);
        expect(error.code).toBe(code);
        expect((error.cause as Error).name).toBe(name);
      }
    },
  );

  it("an HTML 502 from a proxy is ERR_PROVIDER_UNAVAILABLE", async () => {
    const { client } = await craftedKms(() => ({
      status: 502,
      contentType: "text/html",
      body: "<html><body>Bad Gateway</body></html>",
    }));
    const error = await rejection(
      awsKmsProvider({ client, generatorKeyId: KEY }).generateDataKey({ length: 32, context }),
    );
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
  });

  it("a 200 that is not JSON is ERR_PROVIDER_UNAVAILABLE, and the message never repeats the key it held", async () => {
    const secret = b64(key(32, 0x7a));
    const { client } = await craftedKms(() => ({ body: `{"KeyId":"${KEY}","Plaintext":"${secret}"` }));
    const error = await rejection(
      awsKmsProvider({ client, generatorKeyId: KEY }).generateDataKey({ length: 32, context }),
    );
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.message).not.toContain(secret);
  });

  it.each([
    [
      "GenerateDataKey, the key unquoted",
      (s: string) => `{"KeyId":"${KEY}","Plaintext":${s},"CiphertextBlob":"AAAA"}`,
    ],
    ["GenerateDataKey, a bad token after it", (s: string) => `{"Plaintext":"${s}",KeyId:1}`],
    ["Decrypt, the key unquoted", (s: string) => `{"KeyId":"${KEY}","Plaintext":${s}}`],
  ])(
    "a 200 whose JSON breaks next to the data key (%s) never quotes it, in the message, cause or stack",
    async (name, body) => {
      const secret = b64(Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1));
      const { client } = await craftedKms(() => ({ body: body(secret) }));
      const p = awsKmsProvider({ client, generatorKeyId: KEY });
      const error = await rejection(
        name.startsWith("Decrypt")
          ? p.decryptDataKey({
              encryptedDataKey: { providerId: "aws-kms", keyId: KEY, ciphertext: key(8) },
              context,
            })
          : p.generateDataKey({ length: 32, context }),
      );
      expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
      expect(error.message).toMatch(/the answer \(HTTP 200\) was not valid JSON$/);
      // What a logger prints: the message, the stack and the cause chain. JSON.parse quotes some 10 characters
      // around the fault, so no 6 characters of the key may appear.
      const printed = inspect(error, { depth: 5 });
      for (let i = 0; i + 6 <= secret.length; i++) expect(printed).not.toContain(secret.slice(i, i + 6));
    },
  );

  it.each([
    [400, undefined],
    [500, undefined],
    [503, "com.amazonaws.kms#KMSInternalException"],
    [400, "com.amazonaws.kms#AccessDeniedException"],
  ])(
    "an error (HTTP %s, %s) whose body holds a data key never keeps it on the cause",
    async (status, type) => {
      // The SDK copies every field of an error body onto its exception: an answer that carried a Decrypt or
      // GenerateDataKey result with an error status (a proxy keeping the body, a broken endpoint) put the data key
      // on the cause as Plaintext, where a logger, or SEALKIT_DEBUG=1 in the CLI, printed it.
      const secret = b64(Uint8Array.from({ length: 32 }, (_, i) => i * 5 + 3));
      const { client } = await craftedKms(() => ({
        status,
        body: {
          ...(type ? { __type: type, message: "crafted" } : {}),
          KeyId: KEY,
          Plaintext: secret,
          CiphertextBlob: b64(key(64, 1)),
        },
      }));
      const p = awsKmsProvider({ client, generatorKeyId: KEY });
      for (const call of [
        p.generateDataKey({ length: 32, context }),
        p.decryptDataKey({
          encryptedDataKey: { providerId: "aws-kms", keyId: KEY, ciphertext: key(8) },
          context,
        }),
      ]) {
        const error = await rejection(call);
        expect(error.code).toBe(
          type?.endsWith("AccessDeniedException") ? "ERR_ACCESS_DENIED" : "ERR_PROVIDER_UNAVAILABLE",
        );
        // The SDK error is still the cause, with what says what happened.
        const cause = error.cause as { name: string; $metadata: { httpStatusCode: number } };
        expect(cause.$metadata.httpStatusCode).toBe(status);
        expect(cause.name).toBe(type ? type.split("#")[1] : "Unknown");
        const printed = `${inspect(error, { depth: Infinity, showHidden: true })}${JSON.stringify(cause)}`;
        expect(printed).not.toContain(secret);
        expect(printed).not.toContain(secret.slice(0, 12));
      }
    },
  );

  it("a closed port is ERR_PROVIDER_UNAVAILABLE", async () => {
    const client = new KMSClient({
      endpoint: "http://127.0.0.1:1",
      region: REGION,
      credentials: { accessKeyId: "AKIAFAULTS0000000001", secretAccessKey: "faults-secret" },
      maxAttempts: 1,
    });
    clients.push(client);
    const error = await rejection(
      awsKmsProvider({ client, generatorKeyId: KEY }).generateDataKey({ length: 32, context }),
    );
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.cause).toBeDefined();
  });
});

describe("awsKmsProvider with a silent KMS", () => {
  it("rejects with the abort reason while KMS does not answer", async () => {
    const { client } = await craftedKms(() => "silence");
    const p = awsKmsProvider({ client, generatorKeyId: KEY });
    const reason = new Error("caller gave up");
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 50);
    await expect(p.generateDataKey({ length: 32, context, signal: controller.signal })).rejects.toBe(reason);
  });

  it("a client given a request timeout that throws turns silence into ERR_PROVIDER_UNAVAILABLE (README advice)", async () => {
    const { client } = await craftedKms(() => "silence", {
      requestHandler: { requestTimeout: 200, throwOnRequestTimeout: true },
    });
    const error = await rejection(
      awsKmsProvider({ client, generatorKeyId: KEY }).generateDataKey({ length: 32, context }),
    );
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect((error.cause as Error).name).toBe("TimeoutError");
  });

  it("rejects with the abort reason while resolving an alias (DescribeKey) for strict decryption", async () => {
    const reason = new Error("caller gave up");
    const controller = new AbortController();
    // Abort once the server holds the DescribeKey (a fixed delay lost that race on a loaded machine).
    const { client, calls } = await craftedKms(() => {
      setTimeout(() => controller.abort(reason), 20);
      return "silence";
    });
    const p = awsKmsProvider({ client, keyIds: ["alias/app"] });
    const started = Date.now();
    await expect(
      p.decryptDataKey({
        encryptedDataKey: { providerId: "aws-kms", keyId: KEY, ciphertext: key(8) },
        context,
        signal: controller.signal,
      }),
    ).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(calls.map((c) => c.operation)).toEqual(["DescribeKey"]);
  }, 10_000);
});

describe("awsKmsProvider sharing an alias's DescribeKey", () => {
  const edk = { providerId: "aws-kms", keyId: KEY, ciphertext: key(8) };
  const answers = (describeKey: () => Answer | Promise<Answer>) => (call: Call) =>
    call.operation === "DescribeKey" ? describeKey() : { body: { KeyId: KEY, Plaintext: b64(key(32)) } };

  it("a DescribeKey every caller gave up on is cancelled, and the next caller asks again", async () => {
    const reason = new Error("caller gave up");
    const first = new AbortController();
    let silent = true;
    const { client, calls, abandoned } = await craftedKms(
      answers(() => {
        if (!silent) return { body: { KeyMetadata: { Arn: KEY } } };
        setTimeout(() => first.abort(reason), 20);
        return "silence";
      }),
    );
    const p = awsKmsProvider({ client, keyIds: ["alias/app"] });
    await expect(p.decryptDataKey({ encryptedDataKey: edk, context, signal: first.signal })).rejects.toBe(
      reason,
    );
    silent = false;
    // It hung on the abandoned DescribeKey for good: every later strict decryption waited on it.
    const opened = await p.decryptDataKey({
      encryptedDataKey: edk,
      context,
      signal: AbortSignal.timeout(10_000),
    });
    expect(opened).toHaveLength(32);
    expect(calls.map((c) => c.operation)).toEqual(["DescribeKey", "DescribeKey", "Decrypt"]);
    await expect.poll(() => abandoned).toEqual(["DescribeKey"]);
  }, 20_000);

  it("one caller giving up does not cancel the DescribeKey another still waits on", async () => {
    const reason = new Error("caller gave up");
    const impatient = new AbortController();
    let answer: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      answer = resolve;
    });
    const { client, calls, abandoned } = await craftedKms(
      answers(async () => {
        setTimeout(() => impatient.abort(reason), 20);
        await held;
        return { body: { KeyMetadata: { Arn: KEY } } };
      }),
    );
    const p = awsKmsProvider({ client, keyIds: ["alias/app"] });
    const patient = p.decryptDataKey({ encryptedDataKey: edk, context });
    await expect(p.decryptDataKey({ encryptedDataKey: edk, context, signal: impatient.signal })).rejects.toBe(
      reason,
    );
    answer();
    expect(await patient).toHaveLength(32);
    expect(calls.map((c) => c.operation)).toEqual(["DescribeKey", "Decrypt"]);
    expect(abandoned).toEqual([]);
  }, 20_000);
});

describe("awsKmsProvider caller mistakes", () => {
  const { client } = { client: new KMSClient({ region: REGION, endpoint: "http://127.0.0.1:1" }) };
  clients.push(client);
  const p = awsKmsProvider({ client, generatorKeyId: KEY });

  it.each([0, 1025, -1])("rejects a length of %d with RangeError before calling KMS", async (length) => {
    await expect(p.generateDataKey({ length, context })).rejects.toThrow(RangeError);
  });

  it("rejects a context with a lone surrogate with TypeError before calling KMS", async () => {
    await expect(p.generateDataKey({ length: 32, context: { a: "\ud800" } })).rejects.toThrow(TypeError);
    await expect(p.encryptDataKey({ plaintext: key(32), context: { "\udc00": "v" } })).rejects.toThrow(
      TypeError,
    );
    expect(() => encodeContext({ a: "\ud800" })).toThrow(TypeError);
  });

  it.each([
    ["a string", "data key as text"],
    ["an array", [1, 2, 3]],
    ["undefined", undefined],
  ])(
    "rejects a data key to encrypt that is %s with TypeError before calling KMS",
    async (_name, plaintext) => {
      // The SDK would encrypt a string's UTF-8 bytes as the data key.
      await expect(p.encryptDataKey({ plaintext: plaintext as never, context })).rejects.toThrow(
        /"plaintext" expected Uint8Array/,
      );
    },
  );
});

describe("awsKmsProvider and kms-local agree", () => {
  it("gives every AWS name kms-local raises the code kms-local gives it (one failure, one code, in process or over HTTP)", () => {
    // Every name of the KMS service model that kms-local's own error table has.
    const names = Object.keys(ERROR_STATUS).filter(
      (name) => kmsHttpStatus(name as KmsErrorName) !== undefined,
    );
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) {
      const viaAws = fromKmsError(Object.assign(new Error("x"), { name }), "Decrypt", "k").code;
      expect([name, viaAws]).toEqual([name, kmsSealkitCode(name as KmsErrorName)]);
    }
  });
});
