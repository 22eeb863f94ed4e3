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
