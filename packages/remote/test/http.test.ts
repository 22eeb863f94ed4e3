// The handler mounted in a Hono app served over real HTTP by @hono/node-server, called with remoteProvider.

import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { generateEnvelopeDataKey, openEnvelopeDataKey, rawKeyProvider } from "@sealkit/core";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataKeyHandler, remoteProvider } from "../src/index.js";

let server: ReturnType<typeof serve>;
let base: string;

beforeAll(async () => {
  const keys = createDataKeyHandler({
    provider: rawKeyProvider({ keyId: "app-key", key: new Uint8Array(32).fill(3) }),
    basePath: "/api/keys",
    authorize: (request) =>
      request.headers.get("cookie")?.includes("session=alice") ? { principal: "alice" } : undefined,
  });
  const app = new Hono();
  app.all("/api/keys/*", (c) => keys(c.req.raw));
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("handler behind Hono on Node HTTP", () => {
  it("round-trips a data key over HTTP with a cookie session", async () => {
    const provider = remoteProvider({
      endpoint: `${base}/api/keys`,
      providerId: "raw",
      headers: { cookie: "session=alice" },
    });
    const context = { doc: "42" };
    const dataKey = await generateEnvelopeDataKey([provider], { context, suite: "AES_256_GCM" });
    const opened = await openEnvelopeDataKey(dataKey.encryptedDataKeys, [provider], { context });
    expect(opened.plaintext).toEqual(dataKey.plaintext);
  });

  it("refuses a request without a session", async () => {
    const response = await fetch(`${base}/api/keys/data-keys`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-sealkit-request": "1" },
      body: JSON.stringify({ context: {} }),
    });
    expect(response.status).toBe(403);
    expect(response.headers.get("cache-control")).toBe("no-store");
  });
});
