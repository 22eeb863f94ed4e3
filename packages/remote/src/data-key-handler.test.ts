import {
  cachingProvider,
  generateEnvelopeDataKey,
  openEnvelopeDataKey,
  rawKeyProvider,
  SealkitError,
  toBase64,
} from "@sealkit/core";
import { describe, expect, it } from "vitest";
import { type Authorization, createDataKeyHandler, type DataKeyEvent } from "./data-key-handler.js";
import { remoteProvider } from "./remote-provider.js";

const ORIGIN = "https://app.example";
const server = rawKeyProvider({ keyId: "server-key", key: new Uint8Array(32).fill(7) });

// Two users of two tenants, authenticated by a bearer token, as an application's authorize hook would.
const users: Record<string, { principal: string; tenant: string }> = {
  "token-alice": { principal: "alice", tenant: "acme" },
  "token-bob": { principal: "bob", tenant: "globex" },
};
const authorize = (request: Request): Authorization | undefined => {
  const user = users[request.headers.get("authorization")?.replace(/^Bearer /, "") ?? ""];
  return user && { principal: user.principal, requireContext: { tenant: user.tenant } };
};

function setup(options: Partial<Parameters<typeof createDataKeyHandler>[0]> = {}) {
  const events: DataKeyEvent[] = [];
  const handler = createDataKeyHandler({
    provider: server,
    authorize,
    basePath: "/api/keys",
    onEvent: (e) => events.push(e),
    ...options,
  });
  const client = (token: string) =>
    remoteProvider({
      endpoint: `${ORIGIN}/api/keys`,
      providerId: "raw",
      headers: { authorization: `Bearer ${token}` },
      fetch: async (input, init) => handler(new Request(input, init)),
    });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    handler(
      new Request(`${ORIGIN}/api/keys${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-sealkit-request": "1",
          authorization: "Bearer token-alice",
          ...headers,
        },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    );
  return { handler, client, post, events };
}

describe("createDataKeyHandler with remoteProvider", () => {
  it("issues a data key to an authorized user and opens it again for them", async () => {
    const { client, events } = setup();
    const alice = client("token-alice");
    const context = { tenant: "acme", file: "report.pdf" };
    const dataKey = await generateEnvelopeDataKey([alice], { context, suite: "XCHACHA20_POLY1305" });
    expect(dataKey.plaintext).toHaveLength(32);
    expect(dataKey.encryptedDataKeys[0]!.keyId).toBe("server-key");
    const opened = await openEnvelopeDataKey(dataKey.encryptedDataKeys, [alice], { context });
    expect(opened.plaintext).toEqual(dataKey.plaintext);
    expect(events.map((e) => [e.operation, e.principal, e.outcome])).toEqual([
      ["generate", "alice", "issued"],
      ["decrypt", "alice", "unwrapped"],
    ]);
    // Events never carry key material.
    expect(JSON.stringify(events)).not.toContain(toBase64(dataKey.plaintext));
  });

  it("refuses a user of another tenant, by the context rule, and names them in the event", async () => {
    const { client, events } = setup();
    const context = { tenant: "acme" };
    const dataKey = await generateEnvelopeDataKey([client("token-alice")], { context, suite: "AES_256_GCM" });
    const bob = client("token-bob");
    await expect(
      bob.decryptDataKey({ encryptedDataKey: dataKey.encryptedDataKeys[0]!, context }),
    ).rejects.toMatchObject({ code: "ERR_ACCESS_DENIED", message: expect.stringContaining("tenant=globex") });
    await expect(bob.generateDataKey({ length: 32, context })).rejects.toMatchObject({
      code: "ERR_ACCESS_DENIED",
    });
    expect(events.slice(-2).map((e) => [e.principal, e.outcome, e.code])).toEqual([
      ["bob", "refused", "ERR_ACCESS_DENIED"],
      ["bob", "refused", "ERR_ACCESS_DENIED"],
    ]);
  });

  it.each([
    ["Content-Type: application/json", { "Content-Type": "application/json" }],
    ["Content-Type: text/plain", { "Content-Type": "text/plain" }],
    ["X-Sealkit-Request: 1", { "X-Sealkit-Request": "1" }],
  ])("works when the caller's headers also name %s in another case", async (_name, extra) => {
    // Header names are case-insensitive: spread into one record beside the provider's own lower-case ones, both
    // were sent and joined ("application/json, application/json", "1, 1"), and every call was refused (415, 403).
    const { handler } = setup();
    for (const headers of [extra, () => extra]) {
      const alice = remoteProvider({
        endpoint: `${ORIGIN}/api/keys`,
        providerId: "raw",
        headers:
          typeof headers === "function"
            ? () => ({ ...headers(), authorization: "Bearer token-alice" })
            : {
                ...headers,
                authorization: "Bearer token-alice",
              },
        fetch: async (input, init) => handler(new Request(input, init)),
      });
      const context = { tenant: "acme" };
      const dataKey = await alice.generateDataKey({ length: 32, context });
      const opened = await alice.decryptDataKey({ encryptedDataKey: dataKey.encryptedDataKeys[0]!, context });
      expect(opened).toEqual(dataKey.plaintext);
    }
  });

  it("refuses everything when no authorize hook is given", async () => {
    const { post } = setup({ authorize: undefined });
    const response = await post("/data-keys", { context: {} });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      error: {
        code: "ERR_ACCESS_DENIED",
        message: "this endpoint has no authorize hook and refuses every request",
      },
    });
  });

  it("refuses unauthenticated callers", async () => {
    const { post } = setup();
    const response = await post(
      "/data-keys",
      { context: { tenant: "acme" } },
      { authorization: "Bearer nobody" },
    );
    expect(response.status).toBe(403);
  });

  it("marks every response no-store, including errors", async () => {
    const { post } = setup();
    for (const response of [
      await post("/data-keys", { context: { tenant: "acme" } }),
      await post("/data-keys", "{"),
      await post("/nope", {}),
    ]) {
      expect(response.headers.get("cache-control")).toBe("no-store");
    }
  });

  it.each([
    ["invalid JSON", "{", 400],
    ["a JSON array", "[]", 400],
    ["an unknown field", { context: {}, admin: true }, 400],
    ["a non-string context value", { context: { tenant: 1 } }, 400],
    ["a length out of range", { context: { tenant: "acme" }, length: 4096 }, 400],
    ["an oversized body", { context: { tenant: "acme", pad: "x".repeat(20_000) } }, 413],
  ])("rejects %s with a clear 4xx", async (_name, body, status) => {
    const { post } = setup();
    const response = await post("/data-keys", body);
    expect(response.status).toBe(status);
    expect((await response.json()).error.code).toBe("ERR_REQUEST_INVALID");
  });

  it.each([
    ["missing ciphertext", { context: {}, encryptedDataKey: { providerId: "raw", keyId: "server-key" } }],
    [
      "invalid base64",
      { context: {}, encryptedDataKey: { providerId: "raw", keyId: "k", ciphertext: "@@@" } },
    ],
    [
      "an empty key id",
      { context: {}, encryptedDataKey: { providerId: "raw", keyId: "", ciphertext: "AA==" } },
    ],
  ])("rejects a decrypt request with %s", async (_name, body) => {
    const { post } = setup();
    const response = await post("/data-keys/decrypt", body);
    expect(response.status).toBe(400);
  });

  it("answers a tampered encrypted data key with ERR_INVALID_CIPHERTEXT", async () => {
    const { client } = setup();
    const alice = client("token-alice");
    const context = { tenant: "acme" };
    const { encryptedDataKeys } = await generateEnvelopeDataKey([alice], { context, suite: "AES_256_GCM" });
    const edk = encryptedDataKeys[0]!;
    const tampered = { ...edk, ciphertext: edk.ciphertext.map((b, i) => (i === 20 ? b ^ 1 : b)) };
    await expect(alice.decryptDataKey({ encryptedDataKey: tampered, context })).rejects.toMatchObject({
      code: "ERR_INVALID_CIPHERTEXT",
    });
  });

  it("requires the custom request header (CSRF) and same origin or an allowed origin", async () => {
    const { post } = setup({ allowedOrigins: ["https://partner.example"] });
    const body = { context: { tenant: "acme" } };
    expect((await post("/data-keys", body, { "x-sealkit-request": "" })).status).toBe(403);
    expect((await post("/data-keys", body, { origin: "https://evil.example" })).status).toBe(403);
    expect((await post("/data-keys", body, { origin: ORIGIN })).status).toBe(200);
    const partner = await post("/data-keys", body, { origin: "https://partner.example" });
    expect(partner.status).toBe(200);
    expect(partner.headers.get("access-control-allow-origin")).toBe("https://partner.example");
  });

  it("answers CORS preflights only for configured origins", async () => {
    const { handler } = setup({ allowedOrigins: ["https://partner.example"] });
    const preflight = (origin: string) =>
      handler(new Request(`${ORIGIN}/api/keys/data-keys`, { method: "OPTIONS", headers: { origin } }));
    const allowed = await preflight("https://partner.example");
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-headers")).toContain("x-sealkit-request");
    expect((await preflight("https://evil.example")).status).toBe(403);
  });

  it("limits each principal's rate with a 429 and Retry-After, independently of others", async () => {
    let now = 0;
    const { post } = setup({ rateLimit: { perSecond: 1, burst: 2 }, now: () => now });
    const body = { context: { tenant: "acme" } };
    expect((await post("/data-keys", body)).status).toBe(200);
    expect((await post("/data-keys", body)).status).toBe(200);
    const limited = await post("/data-keys", body);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("1");
    expect((await limited.json()).error.code).toBe("ERR_RATE_LIMITED");
    const bob = await post(
      "/data-keys",
      { context: { tenant: "globex" } },
      { authorization: "Bearer token-bob" },
    );
    expect(bob.status).toBe(200);
    now += 1000;
    expect((await post("/data-keys", body)).status).toBe(200);
  });

  it("lets exactly the burst through when a principal's requests arrive all at once", async () => {
    const { post } = setup({ rateLimit: { perSecond: 1, burst: 100 }, now: () => 0 });
    const statuses = await Promise.all(
      Array.from({ length: 150 }, () => post("/data-keys", { context: { tenant: "acme" } })),
    ).then((responses) => responses.map((r) => r.status));
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 429)).toHaveLength(50);
  });

  it("gives a provider factory the authorized principal", async () => {
    const seen: string[] = [];
    const { post } = setup({
      provider: (authorization) => {
        seen.push(authorization.principal);
        return server;
      },
    });
    expect((await post("/data-keys", { context: { tenant: "acme" } })).status).toBe(200);
    expect(seen).toEqual(["alice"]);
  });

  it("answers 404 off its paths and 405 for other methods", async () => {
    const { handler } = setup();
    expect((await handler(new Request(`${ORIGIN}/api/other`, { method: "POST" }))).status).toBe(404);
    expect((await handler(new Request(`${ORIGIN}/api/keys/data-keys`))).status).toBe(405);
  });

  it("rejects a non-JSON content type with 415", async () => {
    const { post } = setup();
    const response = await post("/data-keys", "context=1", {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(response.status).toBe(415);
  });
});

describe("createDataKeyHandler behind core's cachingProvider in the page", () => {
  it("does not consult authorize for a cached key: a new caching provider per session does", async () => {
    // What the README's "Caching in the browser" warns of, pinned: the cache answers before the server can refuse.
    let signedIn = true;
    const { client, events } = setup({
      authorize: () => (signedIn ? { principal: "alice", requireContext: { tenant: "acme" } } : null),
    });
    const context = { tenant: "acme", file: "a.txt" };
    const session = cachingProvider(client("unused"), { maxAge: 60_000 });
    const dataKey = await generateEnvelopeDataKey([session], { context, suite: "AES_256_GCM" });
    await openEnvelopeDataKey(dataKey.encryptedDataKeys, [session], { context });
    signedIn = false;
    const cached = await openEnvelopeDataKey(dataKey.encryptedDataKeys, [session], { context });
    expect(cached.plaintext).toEqual(dataKey.plaintext);
    expect(events.map((e) => e.outcome)).toEqual(["issued", "unwrapped"]);
    const next = cachingProvider(client("unused"), { maxAge: 60_000 });
    await expect(openEnvelopeDataKey(dataKey.encryptedDataKeys, [next], { context })).rejects.toMatchObject({
      code: "ERR_NO_DECRYPTABLE_KEY",
    });
    expect(events.at(-1)).toMatchObject({ outcome: "refused", code: "ERR_ACCESS_DENIED" });
  });
});

describe("createDataKeyHandler facing hostile or broken input", () => {
  const decryptBody = (context: Record<string, string>, keyId = "server-key") => ({
    context,
    encryptedDataKey: { providerId: "raw", keyId, ciphertext: "AAAA" },
  });

  /** The error body, after checking it is a stable-coded JSON error without a stack. */
  async function errorOf(response: Response) {
    const text = await response.text();
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(text).not.toMatch(/\bat .*:\d+:\d+/); // no stack frames
    return (JSON.parse(text) as { error: { code: string; message: string } }).error;
  }

  it("keeps a context key named __proto__ instead of dropping it from the bound context", async () => {
    const seen: Record<string, string>[] = [];
    const { post } = setup({
      provider: {
        ...server,
        providerId: server.providerId,
        canDecrypt: server.canDecrypt,
        encryptDataKey: server.encryptDataKey,
        decryptDataKey: server.decryptDataKey,
        generateDataKey: (request) => {
          seen.push({ ...request.context });
          return server.generateDataKey(request);
        },
      },
    });
    const response = await post("/data-keys", '{"context":{"tenant":"acme","__proto__":"x"}}');
    expect(response.status).toBe(200);
    expect(Object.entries(seen[0]!)).toEqual([
      ["tenant", "acme"],
      ["__proto__", "x"],
    ]);
  });

  it.each([
    ["in the context", '{"context":{"tenant":"globex","tenant":"acme"}}'],
    ["spelt with an escape", '{"context":{"tenant":"globex","\\u0074enant":"acme"}}'],
    ["at the top", '{"context":{"tenant":"globex"},"context":{"tenant":"acme"}}'],
  ])(
    "refuses a member name given twice %s with 400 (parsers differ on which one counts)",
    async (_name, body) => {
      // JSON.parse keeps the last; a gateway or WAF in front that checks the first tenant would pass a request
      // the handler then serves for another (RFC 7493, I-JSON: names MUST be unique).
      const { post, events } = setup();
      const response = await post("/data-keys", body);
      expect(response.status).toBe(400);
      const error = await errorOf(response);
      expect(error.code).toBe("ERR_REQUEST_INVALID");
      expect(error.message).toMatch(/twice/);
      expect(events.at(-1)).toMatchObject({ outcome: "refused", status: 400 });
    },
  );

  it("takes the same name in different objects, and duplicates inside a string value", async () => {
    const { post } = setup();
    const body = '{"context":{"tenant":"acme","context":"{\\"tenant\\":1,\\"tenant\\":2}"},"length":32}';
    const response = await post("/data-keys", body);
    expect(response.status).toBe(200);
  });

  it.each([
    ["a lone high surrogate in a value", '{"context":{"tenant":"acme","a":"\\ud800"}}'],
    ["a lone low surrogate in a key", '{"context":{"tenant":"acme","\\udc00":"v"}}'],
  ])("refuses %s with 400, not a 500", async (_name, body) => {
    const { post, events } = setup();
    const response = await post("/data-keys", body);
    expect(response.status).toBe(400);
    const error = await errorOf(response);
    expect(error.code).toBe("ERR_REQUEST_INVALID");
    expect(error.message).toMatch(/Unicode/);
    expect(events.at(-1)).toMatchObject({ outcome: "refused", status: 400 });
  });

  it("refuses a lone surrogate in an encrypted data key's key id with 400", async () => {
    const { post } = setup();
    const response = await post("/data-keys/decrypt", decryptBody({ tenant: "acme" }, "key\ud800"));
    expect(response.status).toBe(400);
    expect((await errorOf(response)).code).toBe("ERR_REQUEST_INVALID");
  });

  it("refuses a context too large to encode (over 65,535 bytes) with 400, not a 500", async () => {
    const { post } = setup({ maxBodyBytes: 1 << 20 });
    const context: Record<string, string> = { tenant: "acme" };
    // 40 values of 1,000 three-byte characters: within the per-string limits, 120 kB encoded.
    for (let i = 0; i < 40; i++) context[`k${i}`] = "\u20ac".repeat(1000);
    const response = await post("/data-keys", { context });
    expect(response.status).toBe(400);
    expect((await errorOf(response)).code).toBe("ERR_REQUEST_INVALID");
  });

  it("issues no key it could not open again: the decrypt request for it must fit maxBodyBytes", async () => {
    // The decrypt request carries the context and the encrypted data key, so it is longer than the generate
    // request: a context that just fitted the generate body made an envelope whose key the endpoint answered 413
    // forever. Around the limit, every issued key must reopen, and the ones refused are refused before use.
    const { client, events } = setup({ maxBodyBytes: 2048, rateLimit: false });
    const alice = client("token-alice");
    let issued = 0;
    let refused = 0;
    for (let pad = 1700; pad <= 2048; pad += 3) {
      const context = { tenant: "acme", a: "x".repeat(1000), b: "x".repeat(pad - 1000) };
      const dataKey = await alice.generateDataKey({ length: 32, context }).catch((e: unknown) => e);
      if (SealkitError.isInstance(dataKey)) {
        refused++;
        expect(["ERR_LIMIT_EXCEEDED", "ERR_REQUEST_INVALID"]).toContain(dataKey.code);
        continue;
      }
      issued++;
      const { plaintext, encryptedDataKeys } = dataKey as Awaited<ReturnType<typeof alice.generateDataKey>>;
      const opened = await alice.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context });
      expect(opened).toEqual(plaintext);
    }
    expect(issued).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    expect(events.some((e) => e.code === "ERR_LIMIT_EXCEEDED" && e.status === 400)).toBe(true);
  });

  it("refuses an unknown suite with 400 ERR_UNSUPPORTED_SUITE before asking the provider", async () => {
    const { post } = setup();
    const response = await post("/data-keys", { context: { tenant: "acme" }, suite: "ROT13" });
    expect(response.status).toBe(400);
    expect((await errorOf(response)).code).toBe("ERR_UNSUPPORTED_SUITE");
    const known = await post("/data-keys", { context: { tenant: "acme" }, suite: "AES_256_GCM" });
    expect(known.status).toBe(200);
  });

  it("answers a body stream that fails mid-way with 400, not a 500", async () => {
    const { handler } = setup();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"context":'));
        controller.error(new Error("connection reset"));
      },
    });
    const response = await handler(
      new Request(`${ORIGIN}/api/keys/data-keys`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-sealkit-request": "1",
          authorization: "Bearer token-alice",
        },
        body,
        duplex: "half",
      } as RequestInit),
    );
    expect(response.status).toBe(400);
    expect((await errorOf(response)).code).toBe("ERR_REQUEST_INVALID");
  });

  it("stops reading a streamed body at the limit, without reading the rest", async () => {
    const { handler } = setup({ maxBodyBytes: 1024 });
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(512).fill(0x20));
      },
    });
    const response = await handler(
      new Request(`${ORIGIN}/api/keys/data-keys`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-sealkit-request": "1" },
        body,
        duplex: "half",
      } as RequestInit),
    );
    expect(response.status).toBe(413);
    expect((await errorOf(response)).code).toBe("ERR_REQUEST_INVALID");
    expect(pulled).toBeLessThan(10);
  });

  it.each([
    ["a number", 5],
    ["a function", () => ({})],
    ["a non-string value", { tenant: 1 }],
    ["an array", ["tenant"]],
    // Pairs Object.entries does not list: checked as no pairs, they admitted every context.
    ["a Map", new Map([["tenant", "globex"]])],
    ["an object inheriting its pairs", Object.create({ tenant: "globex" })],
    [
      "a class instance with a getter",
      new (class Scope {
        get tenant() {
          return "globex";
        }
      })(),
    ],
  ])("fails closed when authorize returns requireContext as %s", async (_name, requireContext) => {
    const { post, events } = setup({
      authorize: () => ({ principal: "alice", requireContext }) as unknown as Authorization,
    });
    const response = await post("/data-keys", { context: { tenant: "acme" } });
    expect(response.status).toBe(500);
    expect(await errorOf(response)).toEqual({ code: "ERR_PROVIDER_UNAVAILABLE", message: "internal error" });
    expect(events.at(-1)).toMatchObject({ outcome: "failed", status: 500 });
  });

  it("takes requireContext as a null-prototype object of strings", async () => {
    const requireContext = Object.assign(Object.create(null), { tenant: "acme" });
    const { post } = setup({ authorize: () => ({ principal: "alice", requireContext }) });
    expect((await post("/data-keys", { context: { tenant: "acme" } })).status).toBe(200);
    expect((await post("/data-keys", { context: { tenant: "globex" } })).status).toBe(403);
  });

  it.each([
    [
      "throws",
      () => {
        throw new Error("session store down: token=secret-session-token");
      },
    ],
    ["rejects", async () => Promise.reject(new TypeError("secret-session-token"))],
    ["returns a principal that is not a string", () => ({ principal: 42 })],
    ["returns true", () => true],
  ])("answers 500 with a generic message when authorize %s", async (_name, hook) => {
    const { post } = setup({ authorize: hook as never });
    const response = await post("/data-keys", { context: { tenant: "acme" } });
    expect(response.status).toBe(500);
    const text = await response.clone().text();
    expect(text).not.toContain("secret-session-token");
    expect(await errorOf(response)).toEqual({ code: "ERR_PROVIDER_UNAVAILABLE", message: "internal error" });
  });

  it("answers a provider limit error with 400 and a provider crash with a generic 500", async () => {
    const failing = (error: unknown) =>
      setup({
        provider: { ...server, generateDataKey: async () => Promise.reject(error) },
      }).post("/data-keys", { context: { tenant: "acme" } });
    const limit = await failing(new SealkitError("ERR_LIMIT_EXCEEDED", "context too large"));
    expect(limit.status).toBe(400);
    expect((await errorOf(limit)).code).toBe("ERR_LIMIT_EXCEEDED");
    const key = toBase64(new Uint8Array(32).fill(0xab));
    const crash = await failing(new Error(`bug while holding ${key}`));
    expect(crash.status).toBe(500);
    const text = await crash.text();
    expect(text).not.toContain(key);
    expect(JSON.parse(text).error.message).toBe("internal error");
    const down = await failing(new SealkitError("ERR_PROVIDER_UNAVAILABLE", `socket closed ${key}`));
    expect(down.status).toBe(502);
    expect(await down.text()).not.toContain(key);
  });

  it("answers a provider's SealkitError with its code and a fixed message, never the provider's text", async () => {
    const internal = "User: arn:aws:sts::444455556666:assumed-role/app-server/i-0abc is not authorized";
    const answer = async (error: SealkitError) => {
      const { post, events } = setup({
        provider: { ...server, generateDataKey: async () => Promise.reject(error) },
      });
      const response = await post("/data-keys", { context: { tenant: "acme" } });
      const text = await response.clone().text();
      expect(text).not.toContain("444455556666");
      return { status: response.status, error: await errorOf(response), event: events.at(-1) };
    };
    const denied = await answer(new SealkitError("ERR_ACCESS_DENIED", internal));
    expect(denied.status).toBe(403);
    expect(denied.error.code).toBe("ERR_ACCESS_DENIED");
    // The operator still learns what the provider said, through the event.
    expect(denied.event).toMatchObject({
      outcome: "refused",
      code: "ERR_ACCESS_DENIED",
      providerMessage: internal,
    });
    for (const code of ["ERR_KEY_NOT_FOUND", "ERR_INVALID_CIPHERTEXT", "ERR_REQUEST_INVALID"] as const) {
      expect((await answer(new SealkitError(code, internal))).error.code).toBe(code);
    }
    // A code the protocol does not answer (an HSM login, say) is an internal error to the client; the event, which
    // stays on the server, keeps it.
    const hsm = await answer(new SealkitError("ERR_HSM_LOGIN_FAILED", `${internal}: PIN refused`));
    expect(hsm.status).toBe(500);
    expect(hsm.error).toEqual({ code: "ERR_PROVIDER_UNAVAILABLE", message: "internal error" });
    expect(hsm.event).toMatchObject({ outcome: "failed", status: 500, code: "ERR_HSM_LOGIN_FAILED" });
    // Anything else thrown (a bug, whose message might hold anything) is not passed on, even to the event.
    const crash = await answer(new Error(`${internal} while holding a key`) as SealkitError);
    expect(crash.event).not.toHaveProperty("providerMessage");
  });

  it("passes the request's signal to the provider, so a caller who goes away cancels the KMS call", async () => {
    const signals: (AbortSignal | undefined)[] = [];
    const hang = (signal: AbortSignal | undefined) =>
      new Promise<never>((_resolve, reject) => {
        signals.push(signal);
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    const { handler, events } = setup({
      provider: {
        ...server,
        generateDataKey: async (request) => hang(request.signal),
        decryptDataKey: async (request) => hang(request.signal),
      },
    });
    for (const [path, body] of [
      ["/data-keys", { context: { tenant: "acme" } }],
      [
        "/data-keys/decrypt",
        {
          context: { tenant: "acme" },
          encryptedDataKey: { providerId: "raw", keyId: "server-key", ciphertext: "AAAA" },
        },
      ],
    ] as const) {
      const client = new AbortController();
      const answer = handler(
        new Request(`${ORIGIN}/api/keys${path}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-sealkit-request": "1",
            authorization: "Bearer token-alice",
          },
          body: JSON.stringify(body),
          signal: client.signal,
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      client.abort(new Error("tab closed"));
      expect((await answer).status).toBe(500);
      expect(signals.at(-1)?.aborted).toBe(true);
    }
    expect(events.map((e) => e.outcome)).toEqual(["failed", "failed"]);
  });

  it("wipes the plaintext data key the provider returned once it is encoded", async () => {
    const issued: Uint8Array[] = [];
    const opened: Uint8Array[] = [];
    const { client } = setup({
      provider: {
        ...server,
        generateDataKey: async (request) => {
          const key = await server.generateDataKey(request);
          issued.push(key.plaintext);
          return key;
        },
        decryptDataKey: async (request) => {
          const key = await server.decryptDataKey(request);
          opened.push(key);
          return key;
        },
      },
    });
    const alice = client("token-alice");
    const context = { tenant: "acme" };
    const dataKey = await alice.generateDataKey({ length: 32, context });
    await alice.decryptDataKey({ encryptedDataKey: dataKey.encryptedDataKeys[0]!, context });
    expect(issued[0]!.every((b) => b === 0)).toBe(true);
    expect(opened[0]!.every((b) => b === 0)).toBe(true);
    expect(dataKey.plaintext.some((b) => b !== 0)).toBe(true);
  });

  it("refuses and wipes a plaintext no data key could be (under 16 or over 64 bytes): not a KMS Decrypt oracle", async () => {
    const returned: Uint8Array[] = [];
    for (const length of [8, 15, 65, 4096]) {
      const { post, events } = setup({
        provider: {
          ...server,
          decryptDataKey: async () => {
            const secret = new Uint8Array(length).fill(0x5a);
            returned.push(secret);
            return secret;
          },
        },
      });
      const response = await post("/data-keys/decrypt", {
        context: { tenant: "acme" },
        encryptedDataKey: { providerId: "raw", keyId: "server-key", ciphertext: "AAAA" },
      });
      expect(response.status).toBe(400);
      const text = await response.text();
      expect(JSON.parse(text).error.code).toBe("ERR_INVALID_CIPHERTEXT");
      expect(text).not.toContain("WlpaWl"); // base64 of the 0x5a bytes
      expect(events.at(-1)).toMatchObject({
        outcome: "refused",
        status: 400,
        code: "ERR_INVALID_CIPHERTEXT",
      });
    }
    for (const secret of returned) expect(secret.every((b) => b === 0)).toBe(true);
  });

  it.each([
    ["GET", 405],
    ["PUT", 405],
    ["DELETE", 405],
  ])("answers %s with %i, a stable code and Allow", async (method, status) => {
    const { handler } = setup();
    const response = await handler(new Request(`${ORIGIN}/api/keys/data-keys/decrypt`, { method }));
    expect(response.status).toBe(status);
    expect(response.headers.get("allow")).toBe("POST, OPTIONS");
    expect((await errorOf(response)).code).toBe("ERR_REQUEST_INVALID");
  });

  it.each([
    ["missing", undefined, 415],
    ["text/plain", "text/plain", 415],
    ["application/jsonp", "application/jsonp", 415],
    ["application/json with charset", "application/json; charset=utf-8", 200],
  ])("content type %s answers the expected status", async (_name, type, status) => {
    const { handler } = setup();
    const headers: Record<string, string> = { "x-sealkit-request": "1", authorization: "Bearer token-alice" };
    if (type) headers["content-type"] = type;
    const response = await handler(
      new Request(`${ORIGIN}/api/keys/data-keys`, {
        method: "POST",
        headers,
        body: JSON.stringify({ context: { tenant: "acme" } }),
      }),
    );
    expect(response.status).toBe(status);
  });

  it.each([
    ["an empty body", ""],
    ["null", "null"],
    ["a string", '"x"'],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d])],
    ["a context that is an array", '{"context":["a"]}'],
    [
      "too many context pairs",
      JSON.stringify({ context: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])) }),
    ],
    ["a fractional length", '{"context":{},"length":31.5}'],
    ["an encrypted data key that is a string", '{"context":{},"encryptedDataKey":"x"}'],
  ])("refuses %s with 400 ERR_REQUEST_INVALID", async (_name, body) => {
    const { handler } = setup();
    const path =
      typeof body === "string" && body.includes("encryptedDataKey") ? "/data-keys/decrypt" : "/data-keys";
    const response = await handler(
      new Request(`${ORIGIN}/api/keys${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-sealkit-request": "1",
          authorization: "Bearer token-alice",
        },
        body,
      }),
    );
    expect(response.status).toBe(400);
    expect((await errorOf(response)).code).toBe("ERR_REQUEST_INVALID");
  });
});

describe("createDataKeyHandler options and clocks", () => {
  it.each([
    ["maxBodyBytes NaN (an unset environment variable through Number)", { maxBodyBytes: Number.NaN }],
    ["maxBodyBytes 0", { maxBodyBytes: 0 }],
    ["maxBodyBytes -1", { maxBodyBytes: -1 }],
    ["basePath not a string", { basePath: 42 }],
    ["allowedOrigins not an array", { allowedOrigins: "https://a.example" }],
    // "null" is the Origin of sandboxed iframes and data: documents on any site: allowing it with credentials
    // lets every site in. The others can never equal an Origin header, so they would refuse silently.
    ['allowedOrigins with "null"', { allowedOrigins: ["https://a.example", "null"] }],
    ['allowedOrigins with "*"', { allowedOrigins: ["*"] }],
    ["allowedOrigins with a path", { allowedOrigins: ["https://a.example/"] }],
    ["allowedOrigins with a default port", { allowedOrigins: ["https://a.example:443"] }],
    ["allowedOrigins with a bare host", { allowedOrigins: ["a.example"] }],
  ])("refuses %s when created, instead of failing open or on every request", (_name, options) => {
    expect(() => createDataKeyHandler({ provider: server, authorize, ...(options as object) })).toThrow(
      /maxBodyBytes|basePath|allowedOrigins/,
    );
  });

  it("ignores an onEvent that throws or rejects: no failed request, no unhandled rejection", async () => {
    // In Node an unhandled rejection ends the process by default: an async logger whose store is down would take
    // the server with it.
    const node = (globalThis as unknown as { process: NodeLike }).process;
    type NodeLike = {
      on(event: "unhandledRejection", listener: (reason: unknown) => void): void;
      off(event: "unhandledRejection", listener: (reason: unknown) => void): void;
    };
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    node.on("unhandledRejection", listener);
    try {
      for (const onEvent of [
        async () => Promise.reject(new Error("audit store down")),
        () => {
          throw new Error("logger broken");
        },
      ]) {
        const { post } = setup({ onEvent });
        expect((await post("/data-keys", { context: { tenant: "acme" } })).status).toBe(200);
        expect((await post("/data-keys", { context: { tenant: "globex" } })).status).toBe(403);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
    } finally {
      node.off("unhandledRejection", listener);
    }
  });

  it("copies allowedOrigins when created: entries pushed later, unchecked, are not trusted", async () => {
    const allowedOrigins = ["https://partner.example"];
    const { post, handler } = setup({ allowedOrigins });
    allowedOrigins.push("null", "https://evil.example");
    const body = { context: { tenant: "acme" } };
    expect((await post("/data-keys", body, { origin: "https://partner.example" })).status).toBe(200);
    expect((await post("/data-keys", body, { origin: "null" })).status).toBe(403);
    expect((await post("/data-keys", body, { origin: "https://evil.example" })).status).toBe(403);
    const preflight = await handler(
      new Request(`${ORIGIN}/api/keys/data-keys`, {
        method: "OPTIONS",
        headers: { origin: "https://evil.example" },
      }),
    );
    expect(preflight.status).toBe(403);
  });

  it("takes allowedOrigins as origins, and still answers a sandboxed page (Origin: null) 403", async () => {
    const { post } = setup({ allowedOrigins: ["https://partner.example", "http://localhost:5173"] });
    const body = { context: { tenant: "acme" } };
    expect((await post("/data-keys", body, { origin: "http://localhost:5173" })).status).toBe(200);
    const sandboxed = await post("/data-keys", body, { origin: "null" });
    expect(sandboxed.status).toBe(403);
    expect(sandboxed.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("does not lock principals out when the clock steps back", async () => {
    let now = 10_000_000;
    const { post } = setup({ rateLimit: { perSecond: 1, burst: 2 }, now: () => now });
    const body = { context: { tenant: "acme" } };
    expect((await post("/data-keys", body)).status).toBe(200);
    now -= 3_600_000; // an NTP step of an hour back
    expect((await post("/data-keys", body)).status).toBe(200);
    now += 1000;
    expect((await post("/data-keys", body)).status).toBe(200);
  });

  it("wipes the data key and answers 502 when the provider returns a key of another length, no encrypted keys or ones decrypt refuses", async () => {
    const issued: Uint8Array[] = [];
    const broken = (make: (plaintext: Uint8Array) => unknown) =>
      setup({
        provider: {
          ...server,
          generateDataKey: async () => {
            const answer = make(new Uint8Array(32).fill(9)) as { plaintext: Uint8Array };
            issued.push(answer.plaintext);
            return answer as never;
          },
        },
      }).post("/data-keys", { context: { tenant: "acme" }, length: 32 });
    for (const response of [
      await broken(() => ({
        plaintext: new Uint8Array(16).fill(9),
        encryptedDataKeys: [{ providerId: "raw", keyId: "k", ciphertext: new Uint8Array(4) }],
      })),
      await broken((plaintext) => ({ plaintext, encryptedDataKeys: undefined })),
      await broken((plaintext) => ({ plaintext, encryptedDataKeys: [] })),
      // Encrypted data keys the decrypt endpoint would refuse (400) when they come back: never issue them.
      await broken((plaintext) => ({
        plaintext,
        encryptedDataKeys: [{ providerId: "raw", keyId: "k", ciphertext: new Uint8Array(9000) }],
      })),
      await broken((plaintext) => ({
        plaintext,
        encryptedDataKeys: [{ providerId: "raw", keyId: "k".repeat(3000), ciphertext: new Uint8Array(4) }],
      })),
      await broken((plaintext) => ({
        plaintext,
        encryptedDataKeys: [{ providerId: "raw", keyId: "k", ciphertext: new Uint8Array(0) }],
      })),
      await broken((plaintext) => ({
        plaintext,
        encryptedDataKeys: [{ providerId: "raw", keyId: "\ud800", ciphertext: new Uint8Array(4) }],
      })),
      await broken((plaintext) => ({
        plaintext,
        encryptedDataKeys: [{ providerId: "raw", keyId: "k", ciphertext: "AAAA" }],
      })),
    ]) {
      expect(response.status).toBe(502);
      expect((await response.json()).error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    }
    for (const key of issued) expect(key.every((b) => b === 0)).toBe(true);
  });
});
