import { sourceAliases } from "@sealkit/config/vitest";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: sourceAliases },
  // The tests run the built binary as child processes, several of which write to SQLite and fsync: give them time
  // on a loaded 2-core machine.
  test: { include: ["src/**/*.test.ts", "test/**/*.test.ts"], testTimeout: 240_000, hookTimeout: 120_000 },
});
