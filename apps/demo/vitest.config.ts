import { defineConfig } from "vitest/config";

// The end-to-end test runs the built demo (dist/), as a user would: no source aliases here.
export default defineConfig({
  test: { include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000 },
});
