// The shared suites in headless Chromium (Debian's /usr/bin/chromium; no browser download happens here).

import { chromiumLaunchOptions } from "@sealkit/config/chromium";
import { sourceAliases } from "@sealkit/config/vitest";
import { playwright } from "@vitest/browser-playwright";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: sourceAliases },
  test: {
    include: ["src/test-suites/run.test.ts"],
    testTimeout: 120_000,
    browser: {
      enabled: true,
      headless: true,
      provider: playwright({
        launchOptions: { ...chromiumLaunchOptions, args: [...chromiumLaunchOptions.args] },
      }),
      instances: [{ browser: "chromium" }],
    },
  },
});
