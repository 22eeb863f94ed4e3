import { generateEnvelopeDataKey, openEnvelopeDataKey, rawKeyProvider, toBase64 } from "@sealkit/core";
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
