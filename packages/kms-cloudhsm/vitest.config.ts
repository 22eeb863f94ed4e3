import { sourceAliases } from "@sealkit/config/vitest";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: sourceAliases },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // One process per test file: SoftHSM2 reads SOFTHSM2_CONF once, at C_Initialize, and a loaded PKCS#11
    // library is process-wide state, so every file's throwaway token directory needs a process of its own.
    pool: "forks",
    isolate: true,
    testTimeout: 30_000,
  },
});
