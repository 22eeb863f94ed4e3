// awsKmsProvider inside workerd (through Miniflare): the worker in test/workerd/worker.ts is bundled with the
// browser/worker builds of the AWS SDK (fetch handler) and @sealkit/cipher's `workerd` build (libsodium.wasm as a
// CompiledWasm module), then encrypts and decrypts through the local KMS server over HTTP. Needs the cipher's
// dist/ (run `pnpm --filter @sealkit/cipher build` first).

import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { decrypt } from "@sealkit/cipher";
import { testBundleConfig, wasmExternal } from "@sealkit/config/tsup";
import { sourcePaths } from "@sealkit/config/vitest";
import { Miniflare } from "miniflare";
import { build } from "tsup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsKmsProvider } from "../src/index.js";
import { ALICE, type LocalServer, REGION, readmeExample, startLocalServer } from "./support.js";

const root = resolve(import.meta.dirname, "..");
const cipherDist = resolve(root, "../cipher/dist");
let dir: string;
let server: LocalServer;
let mf: Miniflare;
let readmeWorker: Miniflare;
let key: string;

beforeAll(async () => {
  if (!existsSync(join(cipherDist, "workerd.js")) || !existsSync(join(cipherDist, "libsodium.wasm"))) {
    throw new Error("packages/cipher/dist is missing: run `pnpm --filter @sealkit/cipher build` first");
  }
  dir = mkdtempSync(join(tmpdir(), "sealkit-kms-aws-workerd-"));
  // The README's Worker example, as written, next to the test worker (so that its relative imports do not matter).
  const readmeEntry = join(root, "test/workerd", `readme-worker-${process.pid}.ts`);
  writeFileSync(readmeEntry, readmeExample(1));
  try {
    await build(
      testBundleConfig({
        entry: { worker: join(root, "test/workerd/worker.ts"), readme: readmeEntry },
        outDir: dir,
        platform: "browser",
        splitting: false,
        esbuildPlugins: [wasmExternal],
        esbuildOptions(options) {
          // platform "browser" applies the SDK's browser field (runtimeConfig.browser: the fetch handler, no node:http).
          // @sealkit/core from source (one copy for cipher's build and ours); cipher through its `workerd` condition.
          options.alias = {
            "@sealkit/core": sourcePaths["@sealkit/core"]!,
            "@sealkit/kms-aws": join(root, "src/index.ts"),
          };
          options.conditions = ["workerd", "worker", "browser", "import"];
          options.mainFields = ["browser", "module", "main"];
        },
      }),
    );
  } finally {
    rmSync(readmeEntry, { force: true });
  }
  copyFileSync(join(cipherDist, "libsodium.wasm"), join(dir, "libsodium.wasm"));
  server = await startLocalServer();
  key = await server.createKey();
  mf = new Miniflare({
    modules: true,
    scriptPath: join(dir, "worker.js"),
    modulesRoot: dir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-07-01",
    bindings: {
      KMS_URL: server.url,
      KEY_ARN: key,
      ACCESS_KEY_ID: ALICE.accessKeyId,
      SECRET_ACCESS_KEY: ALICE.secretAccessKey,
    },
  });
  readmeWorker = new Miniflare({
    modules: true,
    scriptPath: join(dir, "readme.js"),
    modulesRoot: dir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-07-01",
    bindings: {
      KMS_KEY_ARN: key,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: ALICE.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ALICE.secretAccessKey,
      KMS_ENDPOINT: server.url,
    },
  });
}, 180_000);

afterAll(async () => {
  await mf?.dispose();
  await readmeWorker?.dispose();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("awsKmsProvider in workerd", () => {
  it("encrypts and decrypts through the local KMS server, one GenerateDataKey and one Decrypt for five messages", async () => {
    const generated = await server.count("GenerateDataKey");
    const decrypted = await server.count("Decrypt");
    const response = await mf.dispatchFetch("http://localhost/?text=sealed%20at%20the%20edge");
    const result = (await response.json()) as Record<string, unknown>;
    expect(result.error).toBeUndefined();
    expect(response.status).toBe(200);
    expect(result.texts).toEqual(Array(5).fill("sealed at the edge"));
    expect(result.keyIds).toEqual([key]);
    expect(result.refused).toBe("ERR_NO_DECRYPTABLE_KEY");
    expect(result.hasProcess).toBe(false);
    expect(await server.count("GenerateDataKey")).toBe(generated + 1);
    expect(await server.count("Decrypt")).toBe(decrypted + 1);
  }, 120_000);

  it("runs the README's Worker example: request bodies sealed with one GenerateDataKey, opened in Node", async () => {
    const generated = await server.count("GenerateDataKey");
    const opener = awsKmsProvider({ client: server.client(), generatorKeyId: key });
    for (const text of ["first body", "second body", "third body"]) {
      const response = await readmeWorker.dispatchFetch("http://localhost/invoices/7", {
        method: "POST",
        body: text,
      });
      expect(response.status).toBe(200);
      const sealed = new Uint8Array(await response.arrayBuffer());
      const opened = await decrypt(sealed, { providers: [opener], expectContext: { path: "/invoices/7" } });
      expect(new TextDecoder().decode(opened.plaintext)).toBe(text);
    }
    expect(await server.count("GenerateDataKey")).toBe(generated + 1);
  }, 120_000);
});
