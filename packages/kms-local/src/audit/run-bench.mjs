// Runs the audit micro-benchmark: `node src/audit/run-bench.mjs [events=100000] [loops=64]` from packages/kms-local.

import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const packageRoot = resolve(here, "../..");
const repoRoot = resolve(packageRoot, "../..");
const esbuild = createRequire(createRequire(join(repoRoot, "package.json")).resolve("tsup"))("esbuild");
const outDir = join(packageRoot, "node_modules", ".cache", "sealkit-audit");
mkdirSync(outDir, { recursive: true });
const outfile = join(outDir, "bench.mjs");
esbuild.buildSync({
  entryPoints: [join(here, "bench.ts")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["better-sqlite3"],
  alias: { "@sealkit/core": join(repoRoot, "packages/core/src/index.ts") },
  logLevel: "warning",
});
const result = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(result.status ?? 1);
