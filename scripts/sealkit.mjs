#!/usr/bin/env node
// `pnpm sealkit <args>`: the built CLI (packages/cli/dist/bin.js). On a fresh clone, where nothing is built yet, it
// builds the CLI and the packages it imports first (once; `pnpm build` rebuilds after source changes).

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = new URL("../packages/cli/dist/bin.js", import.meta.url);

if (!existsSync(bin)) {
  process.stderr.write("sealkit: the CLI is not built yet: building it and what it imports (once) ...\n");
  const turbo = join(root, "node_modules", ".bin", "turbo");
  const built = spawnSync(turbo, ["run", "build", "--filter=@sealkit/cli...", "--output-logs=errors-only"], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (built.status !== 0) {
    process.stderr.write(
      "sealkit: the build failed (see above); `pnpm build` from the repo root shows it whole\n",
    );
    process.exit(built.status ?? 1);
  }
}

// The CLI reads process.argv.slice(2), the same here as for dist/bin.js.
await import(bin.href);
