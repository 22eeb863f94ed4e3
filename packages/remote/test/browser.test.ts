// In a real browser: Debian's headless Chromium (Playwright) loads a page that encrypts a multi-megabyte Blob on
// WebAssembly with a data key issued by a real server started here, uploads the envelope, decrypts it back; the
// server records every byte it received and is checked for the plaintext; a user of another tenant is refused.

import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { chromiumLaunchOptions } from "@sealkit/config/chromium";
import { sourcePaths } from "@sealkit/config/vitest";
import { rawKeyProvider } from "@sealkit/core";
import { build } from "esbuild";
import { Hono } from "hono";
import { type Browser, chromium } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataKeyHandler } from "../src/index.js";

const SIZE = 6 * 1024 * 1024 + 17;
const SEED = 0x5eed;
const users: Record<string, string> = { alice: "acme", mallory: "globex" };
const received: Buffer[] = [];
let stored: Uint8Array | undefined;
let server: ReturnType<typeof serve>;
let browser: Browser;
let base: string;

/** The same deterministic bytes the page makes (xorshift32). */
function expectedPlaintext(): Buffer {
  const bytes = Buffer.alloc(SIZE);
  let x = SEED >>> 0;
  for (let i = 0; i < SIZE; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

beforeAll(async () => {
  const page = await build({
    entryPoints: [new URL("./browser-page.ts", import.meta.url).pathname],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    alias: sourcePaths,
  });
  const script = page.outputFiles[0]!.text;
  const keys = createDataKeyHandler({
    provider: rawKeyProvider({ keyId: "browser-test-key", key: new Uint8Array(32).fill(9) }),
    basePath: "/api/keys",
    authorize: (request) => {
      const user = /user=(\w+)/.exec(request.headers.get("cookie") ?? "")?.[1];
      return user && users[user] ? { principal: user, requireContext: { tenant: users[user] } } : null;
    },
  });
  const app = new Hono();
  // Record every request body the server receives, to search it for plaintext afterwards.
  app.use("*", async (c, next) => {
    if (c.req.method !== "GET") received.push(Buffer.from(await c.req.raw.clone().arrayBuffer()));
    await next();
  });
  app.post("/login", (c) => {
    c.header("set-cookie", `user=${c.req.query("user")}; Path=/; SameSite=Strict`);
    return c.body(null, 204);
  });
  app.all("/api/keys/*", (c) => keys(c.req.raw));
  // A server that answers headers and then never finishes the body, and one that redirects to the real endpoint.
  app.post(
    "/stall/data-keys",
    () =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"plaintext":'));
          },
        }),
        { headers: { "content-type": "application/json" } },
      ),
  );
  app.post(
    "/moved/data-keys",
    () => new Response(null, { status: 307, headers: { location: "/api/keys/data-keys" } }),
  );
  app.put("/store", async (c) => {
    stored = new Uint8Array(await c.req.arrayBuffer());
    return c.body(null, 204);
  });
  app.get("/store", () => new Response(stored as Uint8Array<ArrayBuffer>));
  app.get("/page.js", () => new Response(script, { headers: { "content-type": "text/javascript" } }));
  app.get("/", (c) => c.html(`<!doctype html><script type="module" src="/page.js"></script>`));
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ ...chromiumLaunchOptions, args: [...chromiumLaunchOptions.args] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

describe("remoteProvider in headless Chromium", () => {
  it("encrypts a multi-megabyte Blob in the page, the server never sees plaintext, and it decrypts back", async () => {
    const page = await browser.newPage();
    await page.goto(base);
    await page.waitForFunction(() => "sealkitTest" in window);
    await page.evaluate(() => window.sealkitTest.login("alice"));
    const sealed = await page.evaluate(({ size, seed }) => window.sealkitTest.encryptBlob(size, seed), {
      size: SIZE,
      seed: SEED,
    });
    const plaintext = expectedPlaintext();
    expect(sealed.sha256).toBe(createHash("sha256").update(plaintext).digest("hex"));
    expect(sealed.envelopeBytes).toBeGreaterThan(SIZE);

    // Nothing the server received holds a 64-byte run of the plaintext, at several places.
    const everything = Buffer.concat(received);
    expect(everything.length).toBeGreaterThan(SIZE);
    for (const offset of [0, 1000, SIZE >> 1, SIZE - 64]) {
      expect(everything.includes(plaintext.subarray(offset, offset + 64))).toBe(false);
    }

    const opened = await page.evaluate(() => window.sealkitTest.decryptStored());
    expect(opened).toEqual({ plaintextBytes: SIZE, sha256: sealed.sha256 });
    await page.close();
  }, 120_000);

  it("refuses a user of another tenant: the server will not unwrap the data key for them", async () => {
    const page = await browser.newPage();
    await page.goto(base);
    await page.waitForFunction(() => "sealkitTest" in window);
    await page.evaluate(() => window.sealkitTest.login("mallory"));
    const result = await page.evaluate(() => window.sealkitTest.decryptStored());
    expect(result).toEqual({
      error: "ERR_NO_DECRYPTABLE_KEY",
      message: expect.stringMatching(/refused \(403\).*tenant=globex/),
    });
    await page.close();
  }, 60_000);

  it("gives up on a server that stalls mid-answer, at timeoutMs or at the caller's abort, and refuses a redirect", async () => {
    const page = await browser.newPage();
    await page.goto(base);
    await page.waitForFunction(() => "sealkitTest" in window);
    await page.evaluate(() => window.sealkitTest.login("alice"));
    const timedOut = await page.evaluate(() => window.sealkitTest.tryGenerate("/stall", { timeoutMs: 300 }));
    expect(timedOut).toMatchObject({
      error: "ERR_PROVIDER_UNAVAILABLE",
      message: expect.stringMatching(/300 ms/),
    });
    expect((timedOut as { ms: number }).ms).toBeLessThan(3000);
    const aborted = await page.evaluate(() =>
      window.sealkitTest.tryGenerate("/stall", { abortAfterMs: 100 }),
    );
    expect(aborted).toMatchObject({ error: "AbortError", message: "user left" });
    // The redirect target would have issued a key (same origin, same cookie): refused all the same.
    const moved = await page.evaluate(() => window.sealkitTest.tryGenerate("/moved", {}));
    expect(moved).toMatchObject({
      error: "ERR_PROVIDER_UNAVAILABLE",
      message: expect.stringMatching(/redirect/),
    });
    expect(await page.evaluate(() => window.sealkitTest.tryGenerate("/api/keys", {}))).toEqual({ ok: true });
    await page.close();
  }, 60_000);
});
