// Deno and Bun runs of the shared suites against the built dist (run `tsup` first; npx fetches the runtimes).

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: { include: ["test/runtimes.test.ts"], testTimeout: 600_000, hookTimeout: 120_000 },
});
