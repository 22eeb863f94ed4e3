// Runs the shared suites under vitest: in Node (vitest.config.ts) and in Chromium (vitest.browser.config.ts).

import { describe, test } from "vitest";
import * as cipher from "../index.js";
import { allSuites } from "./all.js";

for (const [suite, cases] of Object.entries(allSuites(cipher))) {
  describe(suite, () => {
    for (const c of cases) test(c.name, () => c.run(), 120_000);
  });
}
