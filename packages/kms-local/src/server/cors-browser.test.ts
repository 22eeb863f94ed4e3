// A page in Chromium (/usr/bin/chromium through playwright-core) calls the KMS server from another origin with a
// signed request: the browser's own CORS checks (preflight, then the answer's headers) decide what the page sees.

import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromiumLaunchOptions } from "@sealkit/config/chromium";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalKms } from "../local-kms.js";
import { createKmsServer, type KmsServer } from "./server.js";
import { ALICE, signRequest } from "./test-support.js";

let dir: string;
let site: Server;
let origin: string;
let browser: Browser;
let page: Page;
const servers: KmsServer[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sealkit-kms-cors-browser-"));
  site = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!doctype html><title>page</title>");
  });
  await new Promise<void>((r) => site.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  browser = await chromium.launch({ ...chromiumLaunchOptions, args: [...chromiumLaunchOptions.args] });
  page = await browser.newPage();
  await page.goto(`${origin}/`);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => (site ? site.close(r) : r(undefined)));
  for (const s of servers) await s.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function start(
  allowedOrigins?: string[],
  unsignedAs?: string,
  maxBodyBytes?: number,
): Promise<KmsServer> {
  const kms = await LocalKms.open({
    dataDir: join(dir, `kms-${servers.length}`),
    region: "us-east-1",
    account: "111122223333",
  });
  const server = createKmsServer({
    kms,
    credentials: [ALICE],
    region: "us-east-1",
    ...(allowedOrigins ? { cors: { allowedOrigins } } : {}),
    ...(unsignedAs ? { allowUnsignedAs: unsignedAs, onWarning: () => {} } : {}),
    ...(maxBodyBytes ? { limits: { maxBodyBytes } } : {}),
  });
  servers.push(server);
  await server.listen(0, "127.0.0.1");
  return server;
}

/** Signs GenerateRandom here and has the page send it with fetch; what the page could read, or its error. */
async function fromPage(server: KmsServer, body = '{"NumberOfBytes":16}') {
  const signed = await signRequest(server.url, "GenerateRandom", body);
  // The browser sets Host itself (to the same value that was signed).
  const { host: _host, ...headers } = signed.headers;
  return page.evaluate(
    async ({ url, headers, body }) => {
      try {
        const r = await fetch(url, { method: "POST", headers, body });
        const json = (await r.json()) as { Plaintext?: string; __type?: string };
        return {
          status: r.status,
          type: json.__type,
          bytes: json.Plaintext ? atob(json.Plaintext).length : undefined,
          requestId: r.headers.get("x-amzn-requestid"),
          date: r.headers.get("date"),
        };
      } catch (e) {
        return { error: `${(e as Error).name}: ${(e as Error).message}` };
      }
    },
    { url: `${server.url}/`, headers, body: signed.body },
  );
}

describe("KMS server CORS in Chromium", { timeout: 60_000 }, () => {
  it("a page of a listed origin calls the server and reads the answer, its request id and its Date", async () => {
    const server = await start([origin]);
    const result = await fromPage(server);
    expect(result).toMatchObject({ status: 200, bytes: 16 });
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(result.date ?? "")).not.toBeNaN();
  });

  it("a body over the server's limit: the page reads the 413 and its error name, not a network error", async () => {
    const server = await start([origin], undefined, 64);
    const result = await fromPage(server, JSON.stringify({ NumberOfBytes: 16, Pad: "x".repeat(100) }));
    expect(result).toMatchObject({ status: 413, type: "RequestEntityTooLargeException" });
  });

  it("a page of another origin is stopped by the browser, as it is without --cors-origin", async () => {
    for (const server of [await start(["http://localhost:1"]), await start()]) {
      expect(await fromPage(server)).toEqual({ error: "TypeError: Failed to fetch" });
    }
  });

  it("with unsigned requests allowed, a cross-site page still cannot make it act (no X-Amz-Target without a preflight)", async () => {
    const root = "arn:aws:iam::111122223333:root";
    const server = await start(undefined, root);
    const sent = await page.evaluate(async (url) => {
      const attempts = [
        // A "simple" request: no preflight, so the browser drops the header it may not send.
        fetch(url, {
          method: "POST",
          mode: "no-cors",
          headers: { "content-type": "text/plain", "x-amz-target": "TrentService.CreateKey" },
          body: "{}",
        }).then(() => "sent"),
        // With the header: needs a preflight, which the server refuses.
        fetch(url, {
          method: "POST",
          headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.CreateKey" },
          body: "{}",
        }).then(
          () => "answered",
          (e: Error) => e.name,
        ),
      ];
      return Promise.all(attempts);
    }, `${server.url}/`);
    expect(sent).toEqual(["sent", "TypeError"]);
    // The simple request reached the server, without its target, and was refused, as unsigned from a page (its
    // Origin is not listed); no key was created.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(
      /sealkit_kms_requests_total\{operation="-",error="MissingAuthenticationTokenException"\} 1\b/,
    );
    const listed = await fetch(`${server.url}/`, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.ListKeys" },
      body: "{}",
    });
    expect(((await listed.json()) as { Keys: unknown[] }).Keys).toEqual([]);
  });
});

describe("KMS server with unsigned requests allowed, against a DNS-rebinding page", {
  timeout: 60_000,
}, () => {
  it("a page whose host name resolves to the server (same origin: no CORS) cannot make it act unsigned", async () => {
    // DNS rebinding: a page loaded from attacker.example, whose name the attacker then points at 127.0.0.1, is of the
    // same origin as the server to the browser: its POST needs no preflight and it reads the answer. Binding to
    // 127.0.0.1 does not keep it out. Here Chromium resolves rebind.test to 127.0.0.1 and the page is one the server
    // itself answered at that name: the state of the attacker's page once the name is rebound.
    const root = "arn:aws:iam::111122223333:root";
    const server = await start(undefined, root);
    const port = new URL(server.url).port;
    const rebinding = await chromium.launch({
      ...chromiumLaunchOptions,
      args: [...chromiumLaunchOptions.args, "--host-resolver-rules=MAP rebind.test 127.0.0.1"],
    });
    try {
      const attacker = await rebinding.newPage();
      await attacker.goto(`http://rebind.test:${port}/health`);
      const result = await attacker.evaluate(async () => {
        const r = await fetch("/", {
          method: "POST",
          headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.CreateKey" },
          body: '{"Description":"made by a web page"}',
        });
        return { status: r.status, body: await r.json() };
      });
      // Browsers send Origin with every POST: an unsigned request from a page whose origin is not listed with
      // --cors-origin is refused as unsigned, audited, and the local KMS is not called.
      expect(result).toMatchObject({
        status: 400,
        body: { __type: "MissingAuthenticationTokenException" },
      });
      expect(result.body.message).toContain(`http://rebind.test:${port}`);
      const listed = await fetch(`${server.url}/`, {
        method: "POST",
        headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.ListKeys" },
        body: "{}",
      });
      expect(((await listed.json()) as { Keys: unknown[] }).Keys).toEqual([]);
    } finally {
      await rebinding.close();
    }
  });

  it("a page of an origin listed with --cors-origin may still act unsigned (the operator's choice)", async () => {
    const root = "arn:aws:iam::111122223333:root";
    const server = await start([origin], root);
    const result = await page.evaluate(async (url) => {
      const r = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": "TrentService.GenerateRandom",
        },
        body: '{"NumberOfBytes":8}',
      });
      return r.status;
    }, `${server.url}/`);
    expect(result).toBe(200);
  });
});
