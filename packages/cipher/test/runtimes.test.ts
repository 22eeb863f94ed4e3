// The shared suites in Deno and Bun (binaries from the npm registry through npx), against the built dist.
// Not part of `pnpm test` (it downloads the runtimes on first use): run `pnpm test:runtimes`.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { testBundleConfig } from "@sealkit/config/tsup";
import { build } from "tsup";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as source from "../src/index.js";
import { allSuites } from "../src/test-suites/all.js";

const root = resolve(import.meta.dirname, "..");
let dir: string;

interface CaseResult {
  suite: string;
  name: string;
  ok: boolean;
  error?: string;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sealkit-runtimes-"));
  await build(
    testBundleConfig({
      entry: { suites: join(root, "test/runtimes/run-suites.ts") },
      outDir: dir,
      platform: "neutral",
      outExtension: () => ({ js: ".mjs" }),
      esbuildOptions(options) {
        options.conditions = ["import"];
        options.mainFields = ["module", "main"];
      },
    }),
  );
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const expected = Object.values(allSuites(source)).reduce((n, cases) => n + cases.length, 0);

describe.each([
  ["Deno 2.9.6", ["-y", "deno@2.9.6", "run", "--quiet"]],
  ["Bun 1.4.5", ["-y", "bun@1.4.5"]],
])("%s", (_name, command) => {
  test("every shared case passes", () => {
    const output = execFileSync("npx", [...command, join(dir, "suites.mjs")], {
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
      timeout: 600_000,
    });
    const results = JSON.parse(output.trim().split("\n").at(-1)!) as CaseResult[];
    expect(results.length).toBe(expected);
    expect(results.filter((r) => !r.ok)).toEqual([]);
  });
});
