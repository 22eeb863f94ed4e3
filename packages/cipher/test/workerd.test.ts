// Runs the shared suites inside workerd (through Miniflare) against the built dist/workerd.js: bundles the test
// worker with the package resolved through its `workerd` export condition, ships libsodium.wasm beside it as a
// CompiledWasm module, and asserts every case passed.

import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { testBundleConfig, wasmExternal } from "@sealkit/config/tsup";
import { Miniflare } from "miniflare";
import { build } from "tsup";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as source from "../src/index.js";
import { allSuites } from "../src/test-suites/all.js";

const root = resolve(import.meta.dirname, "..");
const dist = join(root, "dist");
let dir: string;
let mf: Miniflare;
let control: Miniflare;

interface CaseResult {
  suite: string;
  name: string;
  ok: boolean;
  error?: string;
}

/** Bundles a test worker with the package resolved through its `workerd` export condition. */
async function bundle(name: string, entry: string): Promise<void> {
  await build(
    testBundleConfig({
      entry: { [name]: join(root, entry) },
      outDir: dir,
      platform: "neutral",
      esbuildPlugins: [wasmExternal],
      esbuildOptions(options) {
        options.conditions = ["workerd", "worker", "import"];
        options.mainFields = ["module", "main"];
      },
    }),
  );
}

beforeAll(async () => {
  if (!existsSync(join(dist, "workerd.js")) || !existsSync(join(dist, "libsodium.wasm"))) {
    throw new Error("dist/ is missing: run `pnpm build` (tsup) before the workerd tests");
  }
  dir = mkdtempSync(join(tmpdir(), "sealkit-workerd-"));
  await bundle("worker", "test/workerd/worker.ts");
  await bundle("control", "test/workerd/default-loader-worker.ts");
  // The bundle keeps `import "./libsodium.wasm"` from dist/workerd.js: put the file beside it.
  copyFileSync(join(dist, "libsodium.wasm"), join(dir, "libsodium.wasm"));
  mf = new Miniflare({
    modules: true,
    scriptPath: join(dir, "worker.js"),
    modulesRoot: dir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-07-01",
  });
  control = new Miniflare({
    modules: true,
    scriptPath: join(dir, "control.js"),
    modulesRoot: dir,
    compatibilityDate: "2026-07-01",
  });
}, 120_000);

afterAll(async () => {
  await mf?.dispose();
  await control?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("workerd", () => {
  test("control: the default build cannot load libsodium in workerd (code generation from bytes is refused)", async () => {
    const text = await (await control.dispatchFetch("http://localhost/")).text();
    expect(text).toMatch(/^(error: .*(disallowed|Aborted)|timeout)/s);
  });

  // Every shared suite, by name: a list written out here missed the suites added after it.
  for (const suite of Object.keys(allSuites(source))) {
    test(`${suite}: every case passes in workerd`, async () => {
      const response = await mf.dispatchFetch(`http://localhost/?suite=${suite}`);
      expect(response.status).toBe(200);
      const results = (await response.json()) as CaseResult[];
      expect(results.length).toBe(allSuites(source)[suite]!.length);
      expect(results.filter((r) => !r.ok)).toEqual([]);
    }, 300_000);
  }
});
