// End to end, as a person would use the demo: Playwright drives Debian's headless Chromium against the built demo
// (web app, embedded local KMS, KMS endpoint and the edge worker in workerd). Screenshots of each step go to
// apps/demo/test-results/.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromiumLaunchOptions } from "@sealkit/config/chromium";
import { type Browser, chromium, type Page } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningDemo } from "../src/start-demo.js";

const shots = join(import.meta.dirname, "..", "test-results");
let demo: RunningDemo;
let browser: Browser;
let page: Page;
let dataDir: string;
let step = 0;

// A "video" of 3 MiB: random bytes with a recognizable marker, so that the stored envelope can be searched for it.
const MARKER = "SEALKIT-DEMO-PLAINTEXT-MARKER";
const original = new Uint8Array(3 * 1024 * 1024 + 123);
for (let i = 0; i < original.length; i += 65536) crypto.getRandomValues(original.subarray(i, i + 65536));
const marker = new TextEncoder().encode(MARKER);
for (let i = 0; i + marker.length < original.length; i += 256 * 1024) original.set(marker, i);

const shot = (name: string) =>
  page.screenshot({ path: join(shots, `${String(++step).padStart(2, "0")}-${name}.png`), fullPage: true });

async function login(name: string) {
  await page.goto(demo.url);
  await page.fill("input[name=name]", name);
  await page.fill("input[name=password]", name);
  await page.click("button[type=submit]");
  await page.waitForSelector("#files-view:not([hidden])");
}

/** Byte equality without vitest's element-by-element deep equality, which takes seconds per megabyte. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "sealkit-demo-e2e-"));
  // The built demo, as `pnpm demo` runs it (typed by its source).
  const { startDemo } = (await import(`../dist/${"start-demo.js"}`)) as typeof import("../src/start-demo.js");
  demo = await startDemo({ dataDir, ports: { web: 0, kms: 0, edge: 0 } });
  browser = await chromium.launch({ ...chromiumLaunchOptions, args: [...chromiumLaunchOptions.args] });
  page = await (
    await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } })
  ).newPage();
});

afterAll(async () => {
  await browser?.close();
  await demo?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the demo, end to end", () => {
  let fileId: string;

  it("signs alice in, encrypts a file in the browser and uploads only the envelope", async () => {
    await page.goto(demo.url);
    await shot("login");
    await login("alice");
    await page.setInputFiles("#file", {
      name: "clip.mp4",
      mimeType: "video/mp4",
      buffer: Buffer.from(original),
    });
    await page.click("#upload");
    await page.waitForSelector("#upload-status.ok", { timeout: 60_000 });
    expect(await page.textContent("#upload-status")).toContain("Uploaded clip.mp4");
    await page.waitForSelector("article[data-file='clip.mp4']");
    await shot("uploaded");

    const stored = readdirSync(join(dataDir, "files")).filter((f) => f.endsWith(".slk"));
    expect(stored).toHaveLength(1);
    fileId = stored[0]!.slice(0, -4);
    const envelope = readFileSync(join(dataDir, "files", stored[0]!));
    expect(envelope.length).toBeGreaterThan(original.length);
    expect(contains(envelope, marker)).toBe(false);
    expect(contains(envelope, original.subarray(1000, 1032))).toBe(false);
    expect(await page.textContent("article[data-file='clip.mp4']")).toContain("tenant=acme");
  });

  it("downloads and decrypts it back in the browser, byte for byte", async () => {
    const download = page.waitForEvent("download");
    await page.click("article[data-file='clip.mp4'] button[data-action=decrypt]");
    const path = await (await download).path();
    expect(sameBytes(readFileSync(path!), original)).toBe(true);
    await shot("decrypted");
  });

  it("encrypts with AES-256-GCM (Web Crypto) too, and decrypts it back", async () => {
    const text = "AES-256-GCM in the page, through Web Crypto";
    await page.selectOption("#suite", "AES_256_GCM");
    await page.setInputFiles("#file", { name: "aes.txt", mimeType: "text/plain", buffer: Buffer.from(text) });
    // Clicked and read in one task: the status must not still show the first upload's outcome.
    const during = await page.evaluate(() => {
      document.getElementById("upload")!.click();
      return document.getElementById("upload-status")!.className;
    });
    expect(during).toBe("status");
    await page.waitForSelector("#upload-status.ok", { timeout: 60_000 });
    expect(await page.textContent("#upload-status")).toContain("Uploaded aes.txt");
    const article = "article[data-file='aes.txt']";
    await page.waitForSelector(article);
    expect(await page.textContent(article)).toContain("AES_256_GCM");
    const download = page.waitForEvent("download");
    await page.click(`${article} button[data-action=decrypt]`);
    expect(readFileSync((await (await download).path())!, "utf8")).toBe(text);
  });

  it("serves byte ranges through the edge worker, decrypting only the frames it needs", async () => {
    const link = await page.evaluate(
      async (id) => (await (await fetch(`/api/files/${id}/edge-link`)).json()).url,
      fileId,
    );
    const response = await fetch(link, { headers: { range: "bytes=1000000-1999999" } });
    expect(response.status).toBe(206);
    expect(response.headers.get("content-range")).toBe(`bytes 1000000-1999999/${original.length}`);
    expect(sameBytes(new Uint8Array(await response.arrayBuffer()), original.subarray(1000000, 2000000))).toBe(
      true,
    );
    // One read for the header, one for the frames that hold the range.
    expect(Number(response.headers.get("x-sealkit-origin-reads"))).toBeLessThanOrEqual(2);
    const whole = await fetch(link);
    expect(sameBytes(new Uint8Array(await whole.arrayBuffer()), original)).toBe(true);
    expect((await fetch(link.replace(/signature=[0-9a-f]{4}/, "signature=0000"))).status).toBe(403);
    await page.click("article[data-file='clip.mp4'] button[data-action=edge]");
    await page.waitForSelector("#player:not([hidden])");
    await shot("edge-player");
  });

  it("refuses bob, of another tenant, when he tries to open alice's file", async () => {
    await page.click("#logout");
    await login("bob");
    await page.click("article[data-file='clip.mp4'] button[data-action=decrypt]");
    const result = page.locator(`[data-result='${fileId}']`);
    await expect.poll(() => result.textContent(), { timeout: 30_000 }).toMatch(/refused.*tenant=globex/i);
    expect(await result.getAttribute("class")).toContain("error");
    await shot("bob-refused");
    const edge = await page.evaluate(
      async (id) => (await fetch(`/api/files/${id}/edge-link`)).status,
      fileId,
    );
    expect(edge).toBe(403);
  });

  it("shows the keys and an intact audit trail with alice's operations", async () => {
    await page.click("a[data-view=admin]");
    await page.waitForSelector("#audit table");
    expect(await page.textContent("#keys")).toContain("alias/demo-files");
    const audit = (await page.textContent("#audit"))!;
    expect(audit).toContain("GenerateDataKey");
    expect(audit).toContain("user/alice");
    expect(audit).toContain("user/edge-worker");
    expect(audit).toContain("tenant=acme");
    expect(await page.textContent("#audit-status")).toMatch(/verified/);
    // bob's attempt was refused by the application before any KMS call, and is in its record.
    expect(await page.textContent("#key-requests")).toMatch(
      /unwrap data key\s*bob.*tenant=acme.*refused \(ERR_ACCESS_DENIED\)/s,
    );
    await shot("audit");
  });

  it("is readable at phone width", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click("a[data-view=files]");
    await page.waitForSelector("article[data-file='clip.mp4']");
    await shot("phone");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  });
});
