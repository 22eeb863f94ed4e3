// Runs the data-key handler inside workerd (Miniflare), the runtime of Cloudflare's edge, and calls it with
// remoteProvider over Miniflare's fetch.

import { sourcePaths } from "@sealkit/config/vitest";
import { generateEnvelopeDataKey, openEnvelopeDataKey } from "@sealkit/core";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { remoteProvider } from "../src/index.js";

let mf: Miniflare;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [new URL("./worker.ts", import.meta.url).pathname],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    write: false,
    alias: sourcePaths,
  });
  mf = new Miniflare({
    modules: true,
    script: bundle.outputFiles[0]!.text,
    compatibilityDate: "2025-09-01",
    bindings: { WRAPPING_KEY_HEX: "11".repeat(32) },
  });
}, 60_000);

afterAll(() => mf?.dispose());

const client = (token: string) =>
  remoteProvider({
    endpoint: "http://edge.test/keys",
    providerId: "raw",
    headers: { authorization: `Bearer ${token}` },
    fetch: ((input: RequestInfo | URL, init?: RequestInit) =>
      mf.dispatchFetch(String(input), init as never)) as unknown as typeof fetch,
  });

describe("data-key handler in workerd", () => {
  it("issues and opens a data key", async () => {
    const provider = client("edge-user");
    const context = { object: "videos/intro.mp4" };
    const dataKey = await generateEnvelopeDataKey([provider], { context, suite: "XCHACHA20_POLY1305" });
    expect(dataKey.encryptedDataKeys[0]).toMatchObject({ providerId: "raw", keyId: "edge-key" });
    const opened = await openEnvelopeDataKey(dataKey.encryptedDataKeys, [provider], { context });
    expect(opened.plaintext).toEqual(dataKey.plaintext);
  });

  it("refuses an unknown caller with 403", async () => {
    await expect(client("stranger").generateDataKey({ length: 32, context: {} })).rejects.toMatchObject({
      code: "ERR_ACCESS_DENIED",
    });
  });
});

describe("data-key handler in workerd facing hostile requests", () => {
  const post = (body: BodyInit, headers: Record<string, string> = {}) =>
    mf.dispatchFetch("http://edge.test/keys/data-keys", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-sealkit-request": "1",
        authorization: "Bearer edge-user",
        ...headers,
      },
      body: body as never,
    });

  // [what, status, code, body, extra headers]
  it.each([
    // Just over the limit: a client still writing a much larger body may see workerd reset the connection
    // instead of reading the 413, since the handler answers without reading it (1 MiB did here).
    [
      "a body over 16 KiB",
      413,
      "ERR_REQUEST_INVALID",
      JSON.stringify({ context: { pad: "x".repeat(20_000) } }),
    ],
    ["a lone surrogate in the context", 400, "ERR_REQUEST_INVALID", '{"context":{"a":"\\ud800"}}'],
    ["an unknown field", 400, "ERR_REQUEST_INVALID", '{"context":{},"admin":true}'],
    ["deeply nested JSON", 400, "ERR_REQUEST_INVALID", `{"context":${"[".repeat(5000)}${"]".repeat(5000)}}`],
    ["invalid UTF-8", 400, "ERR_REQUEST_INVALID", new Uint8Array([0x7b, 0xff, 0x7d])],
    ["no custom header (CSRF)", 403, "ERR_REQUEST_INVALID", '{"context":{}}', { "x-sealkit-request": "" }],
    ["a sandboxed page (Origin: null)", 403, "ERR_ACCESS_DENIED", '{"context":{}}', { origin: "null" }],
    ["a form content type", 415, "ERR_REQUEST_INVALID", '{"context":{}}', { "content-type": "text/plain" }],
  ] as const)(
    "answers %s with %i %s, as JSON and no-store",
    async (_name, status, code, body, headers?: Record<string, string>) => {
      const response = await post(body as BodyInit, headers ?? {});
      expect(response.status).toBe(status);
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    },
  );

  it("stops reading a streamed body (no Content-Length) at the limit", async () => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 64 * 1024) return controller.close();
        sent += 1024;
        controller.enqueue(new Uint8Array(1024).fill(0x20));
      },
    });
    const response = await mf.dispatchFetch("http://edge.test/keys/data-keys", {
      method: "POST",
      headers: { "content-type": "application/json", "x-sealkit-request": "1" },
      body: body as never,
      duplex: "half",
    } as never);
    expect(response.status).toBe(413);
  });
});

describe("remoteProvider in workerd", () => {
  let edge: Miniflare;
  const asked: string[] = [];

  beforeAll(async () => {
    const bundle = await build({
      entryPoints: [new URL("./provider-worker.ts", import.meta.url).pathname],
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      write: false,
      alias: sourcePaths,
    });
    // The data-key server: answers /api/keys, redirects /moved to it.
    const key = btoa(String.fromCharCode(...new Uint8Array(32).fill(1)));
    edge = new Miniflare({
      modules: true,
      script: bundle.outputFiles[0]!.text,
      compatibilityDate: "2025-09-01",
      outboundService: (request: Request) => {
        const { pathname } = new URL(request.url);
        asked.push(pathname);
        if (pathname.startsWith("/moved/")) {
          return new Response(null, {
            status: 307,
            headers: { location: "http://keys.test/api/keys/data-keys" },
          });
        }
        return Response.json({
          plaintext: key,
          encryptedDataKeys: [{ providerId: "raw", keyId: "central-key", ciphertext: "AAAA" }],
        });
      },
    } as never);
  }, 60_000);

  afterAll(() => edge?.dispose());

  const run = async (endpoint: string) =>
    (await (
      await edge.dispatchFetch(`http://edge.test/?endpoint=${encodeURIComponent(endpoint)}`)
    ).json()) as {
      ok: boolean;
      code?: string;
      message?: string;
      keyIds?: string[];
    };

  it('gets a data key (workerd refuses fetch\'s redirect: "error", which every call used)', async () => {
    expect(await run("http://keys.test/api/keys")).toEqual({ ok: true, keyIds: ["central-key"] });
  });

  it("refuses a redirect without following it", async () => {
    asked.length = 0;
    const result = await run("http://keys.test/moved");
    expect(result).toMatchObject({
      ok: false,
      code: "ERR_PROVIDER_UNAVAILABLE",
      message: expect.stringMatching(/redirect/),
    });
    expect(asked).toEqual(["/moved/data-keys"]);
  });
});
