// The shared suites inside workerd, through Miniflare, against the built dist (run `tsup` first).

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: { include: ["test/workerd.test.ts"], testTimeout: 300_000, hookTimeout: 120_000 },
});
