// Tests of the built dist (run `tsup` first): the shared suites inside workerd through Miniflare, and the
// README's example in Node.

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/workerd.test.ts", "test/readme.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
