// CSRF and CORS in a real browser (Debian's headless Chromium): a page of another origin on the same site, to which
// the browser does send the user's SameSite=Strict session cookie (cookies ignore ports), tries to get a data key
// from the handler. Only the custom request header and the Origin check stand in its way.

import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { chromiumLaunchOptions } from "@sealkit/config/chromium";
import { rawKeyProvider } from "@sealkit/core";
import { Hono } from "hono";
import { type Browser, chromium } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataKeyHandler } from "../src/index.js";

type Server = ReturnType<typeof serve>;
const servers: Server[] = [];
let browser: Browser;
let app: string;
let evil: string;
let partnerKeys: ((request: Request) => Promise<Response>) | undefined;
/** What reached the app from the other origin: method, path, status, the session cookie, whether authorize ran. */
const seen: { method: string; path: string; status: number; cookie: boolean; authorized: boolean }[] = [];

async function listen(fetch: (request: Request) => Response | Promise<Response>): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const authorizeByCookie = (request: Request) => {
  const user = /user=(\w+)/.exec(request.headers.get("cookie") ?? "")?.[1];
  authorizeCalls.push(request.headers.get("origin") ?? "");
  return user === "alice" ? { principal: "alice" } : null;
};
const authorizeCalls: string[] = [];
const provider = rawKeyProvider({ keyId: "csrf-test-key", key: new Uint8Array(32).fill(4) });

beforeAll(async () => {
  const keys = createDataKeyHandler({ provider, basePath: "/api/keys", authorize: authorizeByCookie });
  const hono = new Hono();
  hono.use("*", async (c, next) => {
    const origin = c.req.header("origin");
    const before = authorizeCalls.length;
    await next();
    if (origin && origin !== app) {
      seen.push({
        method: c.req.method,
        path: new URL(c.req.url).pathname,
        status: c.res.status,
        cookie: /user=alice/.test(c.req.header("cookie") ?? ""),
        authorized: authorizeCalls.length > before,
      });
    }
  });
  hono.post("/login", (c) => {
    c.header("set-cookie", "user=alice; Path=/; SameSite=Strict; HttpOnly");
    return c.body(null, 204);
  });
  hono.all("/api/keys/*", (c) => keys(c.req.raw));
  hono.all("/api/partner-keys/*", (c) => (partnerKeys ? partnerKeys(c.req.raw) : c.notFound()));
  hono.get("/", (c) => c.html("<!doctype html><title>app</title>"));
  app = await listen(hono.fetch);
  evil = await listen(
    () =>
      new Response("<!doctype html><title>other origin</title>", {
        headers: { "content-type": "text/html" },
      }),
  );
  browser = await chromium.launch({ ...chromiumLaunchOptions, args: [...chromiumLaunchOptions.args] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Runs in the other origin's page: the three ways a page can POST to the app, and what each got back. */
async function attack(target: string): Promise<Record<string, string>> {
  const body = JSON.stringify({ context: { tenant: "acme" } });
  const outcome = (p: Promise<Response>) =>
    p.then(
      async (r) => `${r.type} ${r.status} ${r.type === "opaque" ? "" : await r.text()}`,
      (e: Error) => `rejected ${e.name}`,
    );
  return {
    // Credentials and the custom header: the browser asks first (preflight), and sends nothing unless allowed.
    cors: await outcome(
      fetch(target, {
        method: "POST",
        credentials: "include",
        headers: { "content-type": "application/json", "x-sealkit-request": "1" },
        body,
      }),
    ),
    // No preflight: the browser sends the request with the cookie but drops the custom header and the JSON type.
    noCors: await outcome(
      fetch(target, {
        method: "POST",
        mode: "no-cors",
        credentials: "include",
        headers: { "content-type": "text/plain", "x-sealkit-request": "1" },
        body,
      }),
    ),
  };
}

describe("the data-key endpoint against a page of another origin on the same site, in Chromium", () => {
  it("gives the other origin no data key, though its requests carry the user's cookie", async () => {
    const context = await browser.newContext();
    const appPage = await context.newPage();
    await appPage.goto(app);
    await appPage.evaluate(() => fetch("/login", { method: "POST" }).then((r) => r.status));
    // The same request from the app's own page works: the cookie session is real.
    const own = await appPage.evaluate(() =>
      fetch("/api/keys/data-keys", {
        method: "POST",
        headers: { "content-type": "application/json", "x-sealkit-request": "1" },
        body: JSON.stringify({ context: { tenant: "acme" } }),
      }).then((r) => r.status),
    );
    expect(own).toBe(200);

    const page = await context.newPage();
    await page.goto(evil);
    const result = await page.evaluate(attack, `${app}/api/keys/data-keys`);
    expect(result.cors).toBe("rejected TypeError");
    expect(result.noCors).toBe("opaque 0 ");
    // Both reached the server (a preflight, then the no-cors POST with the cookie) and were refused before
    // authorize was asked: no principal, no key.
    expect(seen.filter((s) => s.path === "/api/keys/data-keys")).toEqual([
      { method: "OPTIONS", path: "/api/keys/data-keys", status: 403, cookie: false, authorized: false },
      { method: "POST", path: "/api/keys/data-keys", status: 403, cookie: true, authorized: false },
    ]);
    expect(authorizeCalls.filter((origin) => origin === evil)).toEqual([]);

    // Control: with that origin in allowedOrigins, the very same page gets a key with the user's cookie, so the
    // refusals above are the handler's doing and the cookie did travel.
    partnerKeys = createDataKeyHandler({
      provider,
      basePath: "/api/partner-keys",
      authorize: authorizeByCookie,
      allowedOrigins: [evil],
    });
    const allowed = await page.evaluate(attack, `${app}/api/partner-keys/data-keys`);
    expect(allowed.cors).toMatch(/^cors 200 \{"plaintext":/);
    expect(allowed.noCors).toBe("opaque 0 ");
    await context.close();
  }, 60_000);
});
