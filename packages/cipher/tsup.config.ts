// Two builds: dist/index.js for Node and browsers (libsodium compiles its embedded WebAssembly), and
// dist/workerd.js, the same code with the workerd loader swapped in (libsodium.wasm imported as a module).

import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tsupConfig } from "@sealkit/config/tsup";
import type { Plugin } from "esbuild";
import { defineConfig } from "tsup";

const dist = fileURLToPath(new URL("./dist", import.meta.url));
rmSync(dist, { recursive: true, force: true });

const workerdLoader: Plugin = {
  name: "sealkit-workerd-loader",
  setup(build) {
    build.onResolve({ filter: /\/load-sodium\.js$/ }, () => ({
      path: fileURLToPath(new URL("./src/lib/load-sodium.workerd.ts", import.meta.url)),
    }));
    build.onResolve({ filter: /\.wasm$/ }, (args) => ({ path: args.path, external: true }));
  },
};

export default defineConfig([
  tsupConfig({ clean: false }),
  tsupConfig({
    entry: { workerd: "src/workerd.ts" },
    clean: false,
    dts: false,
    esbuildPlugins: [workerdLoader],
    onSuccess: async () => {
      execFileSync(
        process.execPath,
        [fileURLToPath(new URL("./scripts/extract-libsodium-wasm.mjs", import.meta.url))],
        {
          stdio: "inherit",
        },
      );
    },
  }),
]);
