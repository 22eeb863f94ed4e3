// Shared vitest settings: workspace packages resolve to their TypeScript sources in tests,
// so a package's tests never run against a stale build of another one.
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const packages = ["core", "cipher", "kms-local", "kms-aws", "kms-cloudhsm", "remote", "cli"];

/** Aliases `@sealkit/<name>` to `packages/<name>/src/index.ts`. */
export const sourceAliases = packages
  .filter((name) => existsSync(resolve(root, "packages", name, "src/index.ts")))
  .map((name) => ({
    find: new RegExp(`^@sealkit/${name}$`),
    replacement: resolve(root, "packages", name, "src/index.ts"),
  }));

export const repoRoot = root;

/** The same mapping as a plain object, for bundlers such as esbuild (`alias: sourcePaths`). */
export const sourcePaths = Object.fromEntries(
  packages
    .filter((name) => existsSync(resolve(root, "packages", name, "src/index.ts")))
    .map((name) => [`@sealkit/${name}`, resolve(root, "packages", name, "src/index.ts")]),
);
