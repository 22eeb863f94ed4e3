// remoteProvider against real HTTP servers (@hono/node-server) that answer as a broken, slow or hostile data-key
// server would: garbage, HTML, 5xx, wrong-length keys, redirects, huge bodies, silence. Plus many calls at once.

import { serve } from "@hono/node-server";
import { decrypt, encrypt } from "@sealkit/cipher";
import { fromBase64, openEnvelopeDataKey, rawKeyProvider, SealkitError, toBase64 } from "@sealkit/core";
import { afterAll, describe, expect, it } from "vitest";
import { createDataKeyHandler } from "./data-key-handler.js";
import type { WireEncryptedDataKey } from "./protocol.js";
import { remoteProvider } from "./remote-provider.js";

type Server = ReturnType<typeof serve>;
const servers: Server[] = [];

/** A real HTTP server on a free port answering with `fetch`; closed after the suite. */
async function listen(fetch: (request: Request) => Response | Promise<Response>): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

afterAll(async () => {
  for (const server of servers) {
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const key32 = () => toBase64(crypto.getRandomValues(new Uint8Array(32)));
const edk: WireEncryptedDataKey = { providerId: "aws-kms", keyId: "k1", ciphertext: "AAAA" };
const context = { tenant: "acme" };

/** The SealkitError a call rejects with. */
async function failure(promise: Promise<unknown>): Promise<SealkitError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
  expect(SealkitError.isInstance(error)).toBe(true);
  return error as SealkitError;
}

describe("remoteProvider against a misbehaving server", () => {
  it.each([
    ["HTML with 200", () => new Response("<html>login</html>", { headers: { "content-type": "text/html" } })],
    ["an HTML 502 from a proxy", () => new Response("<h1>Bad Gateway</h1>", { status: 502 })],
    ["an empty 500", () => new Response(null, { status: 500 })],
    ["truncated JSON", () => new Response('{"plaintext":"AAAA', { status: 200 })],
    ["a JSON array", () => json([])],
    [
      "a key of 16 bytes where 32 were asked",
      () => json({ plaintext: toBase64(new Uint8Array(16)), encryptedDataKeys: [edk] }),
    ],
    ["a key that is not base64", () => json({ plaintext: "not base64!", encryptedDataKeys: [edk] })],
    ["no encrypted data keys", () => json({ plaintext: key32(), encryptedDataKeys: [] })],
    [
      "an encrypted data key without ciphertext",
      () => json({ plaintext: key32(), encryptedDataKeys: [{ providerId: "aws-kms", keyId: "k" }] }),
    ],
  ])("maps %s to ERR_PROVIDER_UNAVAILABLE", async (_name, answer) => {
    const endpoint = await listen(answer);
    const error = await failure(remoteProvider({ endpoint }).generateDataKey({ length: 32, context }));
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
  });

  it("keeps no part of a key from a malformed answer in the error or its causes", async () => {
    // V8's JSON.parse quotes the text around an unexpected token in its message: "...laintext\":q83vEjRWeJ\"...".
    let key = key32();
    while (!/^[A-Za-z]/.test(key)) key = key32(); // a digit or "+" first would be another parse error
    const endpoint = await listen(
      () => new Response(`{"plaintext":${key},"encryptedDataKeys":[]}`, { status: 200 }),
    );
    const error = await failure(remoteProvider({ endpoint }).generateDataKey({ length: 32, context }));
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    let text = "";
    for (let e: unknown = error; e; e = (e as Error).cause)
      text += `${String(e)} ${(e as Error).stack ?? ""}\n`;
    for (let i = 0; i + 8 <= key.length; i++) expect(text).not.toContain(key.slice(i, i + 8));
  });

  it("passes on a known code from a JSON error body and falls back for unknown ones", async () => {
    const endpoint = await listen((request) =>
      new URL(request.url).pathname.endsWith("/decrypt")
        ? json({ error: { code: "ERR_THROTTLED", message: "slow down" } }, 503)
        : json({ error: { code: "ERR_FROM_THE_FUTURE", message: "?" } }, 400),
    );
    const p = remoteProvider({ endpoint });
    const known = await failure(
      p.decryptDataKey({ encryptedDataKey: { ...edk, ciphertext: new Uint8Array(4) }, context }),
    );
    expect(known.code).toBe("ERR_THROTTLED");
    expect(known.message).toContain("slow down");
    expect((await failure(p.generateDataKey({ length: 32, context }))).code).toBe("ERR_PROVIDER_UNAVAILABLE");
  });

  it.each([
    ["ERR_REQUEST_INVALID", 400],
    ["ERR_INVALID_CIPHERTEXT", 400],
    ["ERR_UNSUPPORTED_SUITE", 400],
    ["ERR_LIMIT_EXCEEDED", 400],
    ["ERR_ACCESS_DENIED", 403],
    ["ERR_CONTEXT_MISMATCH", 403],
    ["ERR_KEY_NOT_FOUND", 404],
    ["ERR_KEY_DISABLED", 409],
    ["ERR_RATE_LIMITED", 429],
    ["ERR_PROVIDER_UNAVAILABLE", 502],
    ["ERR_THROTTLED", 503],
  ])("rethrows %s, a code the handler answers (%i), as it is", async (code, status) => {
    const endpoint = await listen(() => json({ error: { code, message: "m" } }, status));
    expect((await failure(remoteProvider({ endpoint }).generateDataKey({ length: 32, context }))).code).toBe(
      code,
    );
  });

  it("bounds the server's error message and ignores one that is not a string", async () => {
    let message: unknown = "x".repeat(100_000);
    const endpoint = await listen(() => json({ error: { code: "ERR_ACCESS_DENIED", message } }, 403));
    const p = remoteProvider({ endpoint });
    const long = await failure(p.generateDataKey({ length: 32, context }));
    expect(long.code).toBe("ERR_ACCESS_DENIED");
    expect(long.message.length).toBeLessThan(400);
    message = { nested: "object" };
    const odd = await failure(p.generateDataKey({ length: 32, context }));
    expect(odd.message).not.toContain("[object Object]");
  });

  it("refuses a response body over its limit without buffering all of it", async () => {
    let sent = 0;
    const endpoint = await listen(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(
                new TextEncoder().encode(
                  `{"plaintext":"${key32()}","encryptedDataKeys":[${JSON.stringify(edk)}],"pad":"`,
                ),
              );
            },
            pull(controller) {
              if (sent >= 64 << 20) {
                controller.enqueue(new TextEncoder().encode('"}'));
                controller.close();
                return;
              }
              sent += 1 << 16;
              controller.enqueue(new Uint8Array(1 << 16).fill(0x61));
            },
          }),
          { headers: { "content-type": "application/json" } },
        ),
    );
    const error = await failure(remoteProvider({ endpoint }).generateDataKey({ length: 32, context }));
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.message).toMatch(/larger than/);
    expect(sent).toBeLessThan(16 << 20);
  });

  it("refuses issued keys it could never open itself (another provider id)", async () => {
    const endpoint = await listen(() =>
      json({
        plaintext: key32(),
        encryptedDataKeys: [{ providerId: "raw", keyId: "k", ciphertext: "AAAA" }],
      }),
    );
    const error = await failure(remoteProvider({ endpoint }).generateDataKey({ length: 32, context }));
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.message).toMatch(/provider id|cannot open/);
  });

  it("refuses more encrypted data keys than decrypt accepts, instead of sealing an envelope it cannot open", async () => {
    // Sealkit's decrypt refuses envelopes with more than 16 encrypted data keys by default
    // (ERR_TOO_MANY_ENCRYPTED_DATA_KEYS), as the AWS Encryption SDK does; its encrypt also fails on more than
    // maxEncryptedDataKeys (encrypt_stream.ts: "maxEncryptedDataKeys exceeded."). A server answering 17 sealed an
    // envelope that every default decrypt refused.
    const server = rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(9) });
    const issued = { count: 0 };
    const endpoint = await listen(async (request) => {
      const { context: ctx, encryptedDataKey } = (await request.json()) as {
        context: Record<string, string>;
        encryptedDataKey?: WireEncryptedDataKey;
      };
      if (encryptedDataKey) {
        const opened = await server.decryptDataKey({
          encryptedDataKey: { ...encryptedDataKey, ciphertext: fromBase64(encryptedDataKey.ciphertext)! },
          context: ctx,
        });
        return json({ plaintext: toBase64(opened) });
      }
      const key = await server.generateDataKey({ length: 32, context: ctx });
      const mine = {
        providerId: "raw",
        keyId: "k",
        ciphertext: toBase64(key.encryptedDataKeys[0]!.ciphertext),
      };
      const others = Array.from({ length: issued.count - 1 }, (_, i) => ({ ...edk, keyId: `backup-${i}` }));
      return json({ plaintext: toBase64(key.plaintext), encryptedDataKeys: [mine, ...others] });
    });
    const seal = async (count: number, options: { maxEncryptedDataKeys?: number } = {}) => {
      issued.count = count;
      const provider = remoteProvider({ endpoint, providerId: "raw", ...options });
      const envelope = await encrypt(new TextEncoder().encode("hello"), {
        providers: [provider],
        context,
        ...options,
      });
      return decrypt(envelope, { providers: [provider], ...options });
    };
    await expect(seal(16)).resolves.toMatchObject({ plaintext: new TextEncoder().encode("hello") });
    for (const count of [17, 10_000]) {
      issued.count = count;
      const error = await failure(
        remoteProvider({ endpoint, providerId: "raw" }).generateDataKey({ length: 32, context }),
      );
      expect(error.code).toBe("ERR_TOO_MANY_ENCRYPTED_DATA_KEYS");
      expect(error.message).toMatch(/issued \d+ encrypted data keys; at most 16/);
    }
    // Raised everywhere: the provider, cipher's encrypt (which refuses to write more than its own limit) and decrypt.
    await expect(seal(17, { maxEncryptedDataKeys: 17 })).resolves.toMatchObject({
      plaintext: new TextEncoder().encode("hello"),
    });
    expect(() => remoteProvider({ endpoint, maxEncryptedDataKeys: 0 })).toThrow(RangeError);
  });

  it("does not follow a redirect: a data key must come from the configured server", async () => {
    let impostorCalls = 0;
    const impostor = await listen(() => {
      impostorCalls++;
      return json({ plaintext: key32(), encryptedDataKeys: [edk] });
    });
    const endpoint = await listen(
      (request) =>
        new Response(null, {
          status: 307,
          headers: { location: `${impostor}${new URL(request.url).pathname}` },
        }),
    );
    const error = await failure(
      remoteProvider({ endpoint, headers: { "x-api-key": "secret" } }).generateDataKey({
        length: 32,
        context,
      }),
    );
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(impostorCalls).toBe(0);
  });

  it("maps an unreachable server to ERR_PROVIDER_UNAVAILABLE", async () => {
    const error = await failure(
      remoteProvider({ endpoint: "http://127.0.0.1:1/api/keys" }).generateDataKey({ length: 32, context }),
    );
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.message).toMatch(/unreachable/);
  });
});

describe("remoteProvider with a slow server", () => {
  // Answers headers at once and then never finishes the body, or never answers at all.
  const silent = () => new Promise<Response>(() => {});
  const stalled = () =>
    new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"plaintext":'));
        },
      }),
      { headers: { "content-type": "application/json" } },
    );

  it.each([
    ["never answers", silent],
    ["stalls in the body", stalled],
  ])("rejects with the caller's abort reason when the signal fires (server %s)", async (_name, answer) => {
    const endpoint = await listen(answer);
    const reason = new Error("user navigated away");
    const controller = new AbortController();
    const pending = remoteProvider({ endpoint }).generateDataKey({
      length: 32,
      context,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
  });

  it("rejects at once with the reason of a signal aborted before the call", async () => {
    const endpoint = await listen(() => json({ plaintext: key32(), encryptedDataKeys: [edk] }));
    const reason = new Error("already gone");
    await expect(
      remoteProvider({ endpoint }).decryptDataKey({
        encryptedDataKey: { ...edk, ciphertext: new Uint8Array(4) },
        context,
        signal: AbortSignal.abort(reason),
      }),
    ).rejects.toBe(reason);
  });

  it.each([
    ["never answers", silent],
    ["stalls in the body", stalled],
  ])("gives up after timeoutMs with ERR_PROVIDER_UNAVAILABLE (server %s)", async (_name, answer) => {
    const endpoint = await listen(answer);
    const started = Date.now();
    const error = await failure(
      remoteProvider({ endpoint, timeoutMs: 200 }).generateDataKey({ length: 32, context }),
    );
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.message).toMatch(/200 ms/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("bounds a headers() function by timeoutMs and the signal, and types its failure", async () => {
    let fetched = 0;
    const fetchCounting: typeof fetch = async () => {
      fetched++;
      return new Response("{}");
    };
    const hang = () => new Promise<Record<string, string>>(() => {});
    const timedOut = await failure(
      remoteProvider({ endpoint: "/k", fetch: fetchCounting, headers: hang, timeoutMs: 100 }).generateDataKey(
        {
          length: 32,
          context,
        },
      ),
    );
    expect(timedOut.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(timedOut.message).toMatch(/100 ms/);

    const reason = new Error("user navigated away");
    const controller = new AbortController();
    const pending = remoteProvider({ endpoint: "/k", fetch: fetchCounting, headers: hang }).generateDataKey({
      length: 32,
      context,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(reason), 20);
    await expect(pending).rejects.toBe(reason);

    const cause = new Error("token refresh failed");
    for (const headers of [
      () => {
        throw cause;
      },
      () => Promise.reject(cause),
    ]) {
      const error = await failure(
        remoteProvider({ endpoint: "/k", fetch: fetchCounting, headers }).generateDataKey({
          length: 32,
          context,
        }),
      );
      expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
      expect(error.cause).toBe(cause);
    }
    // A SealkitError from headers() (say, the app's own ERR_ACCESS_DENIED) passes unchanged.
    const denied = new SealkitError("ERR_ACCESS_DENIED", "signed out");
    await expect(
      remoteProvider({
        endpoint: "/k",
        fetch: fetchCounting,
        headers: () => {
          throw denied;
        },
      }).generateDataKey({ length: 32, context }),
    ).rejects.toBe(denied);
    expect(fetched).toBe(0);
  });

  it("refuses keyIds given as a string, which matched key ids by substring", async () => {
    const keyArn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd";
    expect(() => remoteProvider({ endpoint: "/k", keyIds: keyArn as unknown as string[] })).toThrow(
      TypeError,
    );
    expect(() => remoteProvider({ endpoint: "/k", keyIds: [keyArn, ""] })).toThrow(TypeError);
    expect(() => remoteProvider({ endpoint: "/k", providerId: "" })).toThrow(TypeError);
    const strict = remoteProvider({ endpoint: "/k", keyIds: [keyArn] });
    const edk = (keyId: string) => ({ providerId: "aws-kms", keyId, ciphertext: new Uint8Array(4) });
    expect(strict.canDecrypt(edk(keyArn))).toBe(true);
    expect(strict.canDecrypt(edk("key/1234"))).toBe(false);
    // Copied when created, as kms-aws and the AWS Encryption SDK do: a key id pushed later is not trusted.
    const keyIds = [keyArn];
    const copied = remoteProvider({ endpoint: "/k", keyIds });
    keyIds.push("arn:aws:kms:eu-west-1:444455556666:key/other");
    expect(copied.canDecrypt(edk("arn:aws:kms:eu-west-1:444455556666:key/other"))).toBe(false);
  });

  it("rejects a timeoutMs that is not a positive integer", () => {
    for (const timeoutMs of [0, -1, 2 ** 31]) {
      expect(() => remoteProvider({ endpoint: "/k", timeoutMs })).toThrow(RangeError);
    }
    for (const timeoutMs of [1.5, Number.NaN, "100"]) {
      expect(() => remoteProvider({ endpoint: "/k", timeoutMs: timeoutMs as number })).toThrow(TypeError);
    }
  });
});

describe("remoteProvider under concurrency", () => {
  it("serves 64 parallel generate and decrypt calls over HTTP, each with its own key", async () => {
    const handler = createDataKeyHandler({
      provider: rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(5) }),
      authorize: () => ({ principal: "p" }),
      rateLimit: false,
    });
    const endpoint = await listen(handler);
    const p = remoteProvider({ endpoint, providerId: "raw" });
    const keys = await Promise.all(
      Array.from({ length: 64 }, (_, i) => p.generateDataKey({ length: 32, context: { n: String(i) } })),
    );
    expect(new Set(keys.map((k) => toBase64(k.plaintext))).size).toBe(64);
    const opened = await Promise.all(
      keys.map((k, i) => openEnvelopeDataKey(k.encryptedDataKeys, [p], { context: { n: String(i) } })),
    );
    for (const [i, o] of opened.entries()) expect(o.plaintext).toEqual(keys[i]!.plaintext);
  });
});
