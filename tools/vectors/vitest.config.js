import { sourceAliases } from "@sealkit/config/vitest";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: sourceAliases },
  test: { include: ["src/**/*.test.js"], testTimeout: 60_000 },
});
