// Runs every shared suite against the built package in whatever runtime executes this bundle (Deno, Bun) and
// prints the results as JSON on stdout.

import * as cipher from "@sealkit/cipher";
import { allSuites } from "../../src/test-suites/all.js";
import { runAll } from "../../src/test-suites/harness.js";

console.log(JSON.stringify(await runAll(allSuites(cipher))));
