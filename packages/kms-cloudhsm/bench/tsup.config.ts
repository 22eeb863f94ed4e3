// Bundles the benchmark (with @sealkit/core from source) into node_modules/.bench so plain Node runs it.
import { defineConfig } from "tsup";

export default defineConfig({
  entry: { "hsm-bench": "bench/hsm-bench.ts" },
  outDir: "node_modules/.bench",
  format: ["esm"],
  target: "es2022",
  platform: "node",
  dts: false,
  clean: true,
  noExternal: [/^@sealkit\//],
  external: ["pkcs11js"],
});
