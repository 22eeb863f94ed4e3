// Test and benchmark support: bundles an audit entry point into one .mjs that plain `node` can run in a child process.

import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const packageRoot = resolve(here, "../..");
const repoRoot = resolve(packageRoot, "../..");

interface EsbuildLike {
  buildSync(options: Record<string, unknown>): unknown;
}

/**
 * Bundles `entry` (a path relative to src/audit) to an ESM file under this package's node_modules/.cache
 * (so that better-sqlite3, left external, resolves), with `@sealkit/*` pointing at the workspace sources.
 * esbuild is the one tsup already installs.
 *
 * @throws Error when esbuild cannot be found or the bundle fails.
 */
export function bundleForNode(entry: string): string {
  const requireFromTsup = createRequire(createRequire(join(repoRoot, "package.json")).resolve("tsup"));
  const esbuild = requireFromTsup("esbuild") as EsbuildLike;
  const outDir = join(packageRoot, "node_modules", ".cache", "sealkit-audit");
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, `${entry.replace(/\.[^.]+$/, "")}-${process.pid}.mjs`);
  esbuild.buildSync({
    entryPoints: [join(here, entry)],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["better-sqlite3"],
    alias: { "@sealkit/core": join(repoRoot, "packages/core/src/index.ts") },
    logLevel: "silent",
  });
  return outfile;
}
