// CORS: the option's checks, and the server's preflights and answer headers over real HTTP. A real browser calling
// the server from another origin is in cors-browser.test.ts.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalKms } from "../local-kms.js";
import { checkCors } from "./cors.js";
import { createKmsServer, type KmsServer, type KmsServerOptions } from "./server.js";
import { ALICE, type RawResponse, send, signRequest } from "./test-support.js";

const PAGE = "http://localhost:5173";
const ROOT = "arn:aws:iam::111122223333:root";

describe("checkCors", () => {
  it.each([
    [["http://localhost:5173"]],
    [["https://app.example.com", "http://127.0.0.1:8080", "http://[::1]:3000"]],
    [["*"]],
  ])("accepts %j", (allowedOrigins) => {
    expect(checkCors({ allowedOrigins }, false)).toEqual(allowedOrigins);
  });

  it.each([
    ["http://localhost:5173/", 'did you mean "http://localhost:5173"'],
    ["HTTP://LOCALHOST:5173", 'did you mean "http://localhost:5173"'],
    ["https://app.example.com:443", 'did you mean "https://app.example.com"'],
    ["http://localhost:5173/app", 'did you mean "http://localhost:5173"'],
    ["localhost:5173", "is not an origin as browsers send it"],
    ["null", "is not an origin as browsers send it"],
    ["file:///home/me/page.html", "is not an origin as browsers send it"],
    ["", "is not an origin as browsers send it"],
  ])("refuses %j (%s)", (origin, message) => {
    expect(() => checkCors({ allowedOrigins: [origin] }, false)).toThrow(message);
  });

  it("refuses an empty list, a non-list, and * next to other origins", () => {
    expect(() => checkCors({ allowedOrigins: [] }, false)).toThrow(TypeError);
    expect(() => checkCors({ allowedOrigins: "*" as never }, false)).toThrow(TypeError);
    expect(() => checkCors({ allowedOrigins: ["*", PAGE] }, false)).toThrow("stands alone");
  });

  it("refuses * with unsigned requests allowed, but not a listed origin", () => {
    expect(() => checkCors({ allowedOrigins: ["*"] }, true)).toThrow("any web page");
    expect(checkCors({ allowedOrigins: [PAGE] }, true)).toEqual([PAGE]);
  });
});

describe("KMS server CORS", { timeout: 30_000 }, () => {
  let dir: string;
  const servers: KmsServer[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-cors-"));
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(options: Partial<KmsServerOptions> = {}): Promise<KmsServer> {
    const kms = await LocalKms.open({
      dataDir: join(dir, `kms-${servers.length}`),
      region: "us-east-1",
      account: "111122223333",
    });
    const server = createKmsServer({ kms, credentials: [ALICE], region: "us-east-1", ...options });
    servers.push(server);
    await server.listen(0, "127.0.0.1");
    return server;
  }

  const preflight = (url: string, headers: Record<string, string>) =>
    send(url, { method: "OPTIONS", path: "/", headers, body: "" });

  const corsHeaders = (r: RawResponse) =>
    Object.fromEntries(Object.entries(r.headers).filter(([name]) => name.startsWith("access-control-")));

  it("is off by default: OPTIONS gets 405 saying how to turn it on, answers carry no CORS headers", async () => {
    const server = await start();
    const pre = await preflight(server.url, { origin: PAGE, "access-control-request-method": "POST" });
    expect(pre.status).toBe(405);
    expect(pre.json().message).toMatch(/--cors-origin/);
    expect(corsHeaders(pre)).toEqual({});
    const signed = await signRequest(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
    const answer = await send(server.url, { ...signed, headers: { ...signed.headers, origin: PAGE } });
    expect(answer.status).toBe(200);
    expect(corsHeaders(answer)).toEqual({});
  });

  it("answers a listed origin's preflight with the headers a browser needs, and its requests with the origin", async () => {
    const server = await start({ cors: { allowedOrigins: [PAGE, "https://other.example"] } });
    const asked =
      "authorization,content-type,x-amz-date,x-amz-target,x-amz-user-agent,amz-sdk-invocation-id,amz-sdk-request";
    const pre = await preflight(server.url, {
      origin: PAGE,
      "access-control-request-method": "POST",
      "access-control-request-headers": asked,
    });
    expect(pre.status).toBe(200);
    expect(pre.text).toBe("");
    expect(corsHeaders(pre)).toEqual({
      "access-control-allow-origin": PAGE,
      "access-control-allow-methods": "POST, GET, HEAD",
      "access-control-allow-headers": asked,
      "access-control-max-age": "7200",
    });
    expect(pre.headers.vary).toBe("Origin");

    const signed = await signRequest(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
    const answer = await send(server.url, { ...signed, headers: { ...signed.headers, origin: PAGE } });
    expect(answer.status).toBe(200);
    expect(corsHeaders(answer)).toEqual({
      "access-control-allow-origin": PAGE,
      "access-control-expose-headers": "x-amzn-RequestId, Date",
    });
    expect(answer.headers.vary).toBe("Origin");
    // Errors too: a page must be able to read the AWS error name.
    const bad = await send(server.url, {
      ...signed,
      headers: { ...signed.headers, origin: "https://other.example", "x-amz-date": "20200101T000000Z" },
    });
    expect(bad.status).toBe(400);
    expect(corsHeaders(bad)["access-control-allow-origin"]).toBe("https://other.example");
    const health = await send(server.url, {
      method: "GET",
      path: "/health",
      headers: { origin: PAGE },
      body: "",
    });
    expect(corsHeaders(health)["access-control-allow-origin"]).toBe(PAGE);
  });

  it("refuses the preflight of an origin not listed (403, no CORS headers), and answers its requests without them", async () => {
    const server = await start({ cors: { allowedOrigins: [PAGE] } });
    for (const origin of ["https://evil.example", "http://localhost:5174", "null", "http://LOCALHOST:5173"]) {
      const pre = await preflight(server.url, { origin, "access-control-request-method": "POST" });
      expect(pre.status, origin).toBe(403);
      expect(pre.json().__type).toBe("AccessDeniedException");
      expect(corsHeaders(pre), origin).toEqual({});
    }
    const signed = await signRequest(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
    const answer = await send(server.url, {
      ...signed,
      headers: { ...signed.headers, origin: "https://evil.example" },
    });
    expect(corsHeaders(answer)).toEqual({});
  });

  it("refuses a preflight for another method, or without Origin; never echoes a header list that is not one", async () => {
    const server = await start({ cors: { allowedOrigins: [PAGE] } });
    expect(
      (await preflight(server.url, { origin: PAGE, "access-control-request-method": "DELETE" })).status,
    ).toBe(403);
    const noOrigin = await preflight(server.url, { "access-control-request-method": "POST" });
    expect(noOrigin.status).toBe(403);
    expect(noOrigin.json().message).toMatch(/only as a CORS preflight/);
    const odd = await preflight(server.url, {
      origin: PAGE,
      "access-control-request-method": "POST",
      "access-control-request-headers": "x-amz-date, bad header(",
    });
    expect(odd.status).toBe(200);
    expect(odd.headers["access-control-allow-headers"]).toBeUndefined();
  });

  it("puts the headers on the refusals before the body too (413), so that a page reads their names", async () => {
    const server = await start({ cors: { allowedOrigins: [PAGE] }, limits: { maxBodyBytes: 64 } });
    const body = JSON.stringify({ NumberOfBytes: 8, Pad: "x".repeat(100) });
    const signed = await signRequest(server.url, "GenerateRandom", body);
    const listed = await send(server.url, { ...signed, headers: { ...signed.headers, origin: PAGE } });
    expect(listed.status).toBe(413);
    expect(listed.json().__type).toBe("RequestEntityTooLargeException");
    expect(corsHeaders(listed)).toEqual({
      "access-control-allow-origin": PAGE,
      "access-control-expose-headers": "x-amzn-RequestId, Date",
    });
    const other = await send(server.url, {
      ...signed,
      headers: { ...signed.headers, origin: "https://evil.example" },
    });
    expect(other.status).toBe(413);
    expect(corsHeaders(other)).toEqual({});
  });

  it('with "*": any origin, without Vary', async () => {
    const server = await start({ cors: { allowedOrigins: ["*"] } });
    const pre = await preflight(server.url, {
      origin: "https://anywhere.example",
      "access-control-request-method": "POST",
    });
    expect(pre.status).toBe(200);
    expect(pre.headers["access-control-allow-origin"]).toBe("*");
    expect(pre.headers.vary).toBeUndefined();
  });

  it('refuses "*" together with unsigned requests when the server is created', async () => {
    const kms = await LocalKms.open({
      dataDir: join(dir, "star"),
      region: "us-east-1",
      account: "111122223333",
    });
    try {
      expect(() =>
        createKmsServer({
          kms,
          credentials: [ALICE],
          region: "us-east-1",
          allowUnsignedAs: ROOT,
          cors: { allowedOrigins: ["*"] },
        }),
      ).toThrow("any web page");
    } finally {
      await kms.close();
    }
  });
});
