import { sourceAliases } from "@sealkit/config/vitest";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: sourceAliases },
  // Tests run the real SDK over HTTP against the local KMS server (SQLite, fsync): generous limits on a loaded machine.
  test: { include: ["src/**/*.test.ts", "test/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 60_000 },
});
