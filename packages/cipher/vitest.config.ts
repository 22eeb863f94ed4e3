import { sourceAliases } from "@sealkit/config/vitest";
import { defineConfig } from "vitest/config";

// Node: the shared suites and Node-only tests. Chromium and workerd have their own configs.
export default defineConfig({
  resolve: { alias: sourceAliases },
  test: { include: ["src/**/*.test.ts", "test/node/**/*.test.ts"] },
});
