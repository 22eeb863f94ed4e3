// Runs the browser half of the cipher benchmark: bundles browser-page.mjs with esbuild, serves it from a local
// HTTP server, and drives Debian's Chromium through playwright-core (no browser download).

import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromiumLaunchOptions } from "@sealkit/config/chromium";
import { build } from "esbuild";
import { chromium } from "playwright-core";

const HERE = fileURLToPath(new URL(".", import.meta.url));

/** Bundles the page; Sealkit is included only when its packages are built. */
async function bundle(withSealkit) {
  const entry = [
    'import sodium from "libsodium-wrappers";',
    'import { runBrowserBench } from "./browser-page.mjs";',
    withSealkit
      ? 'import * as cipher from "@sealkit/cipher"; import * as core from "@sealkit/core";'
      : "const cipher = null; const core = null;",
    "globalThis.runBench = (options) => runBrowserBench(options, { sodium, cipher, core });",
  ].join("\n");
  const result = await build({
    stdin: { contents: entry, resolveDir: HERE, sourcefile: "bench-entry.mjs", loader: "js" },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "error",
  });
  return result.outputFiles[0].text;
}

function serve(script) {
  const html =
    '<!doctype html><meta charset="utf-8"><title>Sealkit cipher bench</title><script type="module" src="/bench.js"></script>';
  const server = createServer((req, res) => {
    if (req.url === "/bench.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(script);
    } else if (req.url === "/favicon.ico") {
      res.writeHead(204).end();
    } else if (req.url === "/" || req.url === "/index.html") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(html);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/**
 * @returns {Promise<{ results: object[], browser: string }>}
 * @throws {Error} with `correctness: true` when an implementation fails its round trip in the page
 */
export async function runInBrowser(options, { withSealkit, log }) {
  const script = await bundle(withSealkit);
  const server = await serve(script);
  const userDataDir = await mkdtemp(join(tmpdir(), "sealkit-bench-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumLaunchOptions.executablePath,
      headless: true,
      // --expose-gc lets the page collect garbage between timed runs, as Node does with --expose-gc.
      args: [...chromiumLaunchOptions.args, "--js-flags=--expose-gc"],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (m) => log(`  [chromium] ${m.text()}`));
    page.on("pageerror", (e) => log(`  [chromium error] ${e.message}`));
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => typeof globalThis.runBench === "function", null, { timeout: 30_000 });
    const out = await page.evaluate((o) => globalThis.runBench(o), {
      rounds: options.rounds,
      warmup: options.warmup,
      bulkBytes: options.bulkBytes,
      smallMessages: options.smallMessages,
      smallSize: options.smallSize,
    });
    if (out.error) {
      const error = new Error(`browser run failed: ${out.error}`);
      error.correctness = out.correctness;
      throw error;
    }
    const version = context.browser()?.version() ?? out.userAgent.match(/Chrome\/([\d.]+)/)?.[1] ?? "unknown";
    return { results: out.results, browser: `Chromium ${version}` };
  } finally {
    await context?.close();
    server.close();
    await rm(userDataDir, { recursive: true, force: true });
  }
}
