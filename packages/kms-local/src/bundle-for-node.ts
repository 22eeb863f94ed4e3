// Test and benchmark support: bundles an entry point of this package into one .mjs that plain `node` runs in a
// child process (crash tests, durability tests, the server bin), from the sources under test, not a stale dist/.

import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repoRoot = resolve(packageRoot, "../..");

interface EsbuildLike {
  buildSync(options: Record<string, unknown>): unknown;
}

/**
 * Bundles `entry` (a path relative to this package) to an ESM file under this package's node_modules/.cache, so
 * that the native addons left external (better-sqlite3, hash-wasm) resolve, with `@sealkit/core` and
 * `@sealkit/cipher` pointing at the workspace sources. esbuild is the one tsup already installs.
 * With `requireShim`, a `require` is defined for bundled CommonJS that needs one (the server's dependencies).
 *
 * @throws Error when esbuild cannot be found or the bundle fails.
 */
export function bundleForNode(entry: string, options: { requireShim?: boolean } = {}): string {
  const requireFromTsup = createRequire(createRequire(join(repoRoot, "package.json")).resolve("tsup"));
  const esbuild = requireFromTsup("esbuild") as EsbuildLike;
  const outDir = join(packageRoot, "node_modules", ".cache", "sealkit-kms-local");
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, `${basename(entry).replace(/\.[^.]+$/, "")}-${process.pid}.mjs`);
  esbuild.buildSync({
    entryPoints: [join(packageRoot, entry)],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["better-sqlite3", "hash-wasm"],
    alias: {
      "@sealkit/core": join(repoRoot, "packages/core/src/index.ts"),
      "@sealkit/cipher": join(repoRoot, "packages/cipher/src/index.ts"),
    },
    ...(options.requireShim
      ? {
          banner: {
            js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
          },
        }
      : {}),
    logLevel: "silent",
  });
  return outfile;
}
