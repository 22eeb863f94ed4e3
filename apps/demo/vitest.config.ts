import { sourceAliases } from "@sealkit/config/vitest";
import { defineConfig } from "vitest/config";

// The tests start the BUILT demo (dist/), as `pnpm demo` runs it; the packages they call directly resolve to source.
export default defineConfig({
  resolve: { alias: sourceAliases },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
