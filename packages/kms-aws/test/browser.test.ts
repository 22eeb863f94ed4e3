// awsKmsProvider in Chromium (/usr/bin/chromium through playwright-core): a bundled page with the SDK's browser
// build encrypts and decrypts through the local KMS server, which is on another origin and lets the page's origin
// call it (--cors-origin), as AWS KMS lets pages call it. Needs packages/cipher/dist.

import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromiumLaunchOptions } from "@sealkit/config/chromium";
import { testBundleConfig } from "@sealkit/config/tsup";
import { sourcePaths } from "@sealkit/config/vitest";
import { type Browser, chromium } from "playwright-core";
import { build } from "tsup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALICE, type LocalServer, startLocalServer } from "./support.js";

const root = resolve(import.meta.dirname, "..");
let dir: string;
let server: LocalServer;
let site: Server;
let origin: string;
let browser: Browser;
let key: string;

beforeAll(async () => {
  if (!existsSync(resolve(root, "../cipher/dist/index.js"))) {
    throw new Error("packages/cipher/dist is missing: run `pnpm --filter @sealkit/cipher build` first");
  }
  dir = mkdtempSync(join(tmpdir(), "sealkit-kms-aws-browser-"));
  await build(
    testBundleConfig({
      entry: { page: join(root, "test/browser/page.ts") },
      outDir: dir,
      platform: "browser",
      splitting: false,
      esbuildOptions(options) {
        options.alias = { "@sealkit/core": sourcePaths["@sealkit/core"]! };
        options.conditions = ["browser", "import"];
      },
    }),
  );
  const bundle = readFileSync(join(dir, "page.js"));
  site = createServer((req, res) => {
    if (req.method === "GET" && req.url?.startsWith("/?")) {
      res.writeHead(200, { "content-type": "text/html" });
      res.end('<!doctype html><script type="module" src="/page.js"></script>');
    } else if (req.method === "GET" && req.url === "/page.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(bundle);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => site.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  server = await startLocalServer({ corsOrigins: [origin] });
  key = await server.createKey();
  browser = await chromium.launch({ ...chromiumLaunchOptions, args: [...chromiumLaunchOptions.args] });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => (site ? site.close(r) : r(undefined)));
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("awsKmsProvider in Chromium", () => {
  it("encrypts and decrypts through the local KMS server with the SDK's browser build", async () => {
    const page = await browser.newPage();
    const generated = await server.count("GenerateDataKey");
    const decrypted = await server.count("Decrypt");
    const query = new URLSearchParams({
      id: ALICE.accessKeyId,
      secret: ALICE.secretAccessKey,
      key,
      endpoint: server.url,
    });
    await page.goto(`${origin}/?${query}`);
    await page.waitForFunction(() => "result" in globalThis, undefined, { timeout: 60_000 });
    const result = (await page.evaluate(() => (globalThis as { result?: unknown }).result)) as Record<
      string,
      unknown
    >;
    await page.close();
    expect(result.error).toBeUndefined();
    expect(result.texts).toEqual(Array.from({ length: 5 }, (_, i) => `sealed in Chromium ${i}`));
    expect(result.keyIds).toEqual([key]);
    expect(result.refused).toBe("ERR_NO_DECRYPTABLE_KEY");
    expect(await server.count("GenerateDataKey")).toBe(generated + 1);
    expect(await server.count("Decrypt")).toBe(decrypted + 1);
  }, 120_000);
});
