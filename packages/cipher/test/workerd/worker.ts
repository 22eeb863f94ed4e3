// A test worker: runs every shared suite against the built package, imported by name so that the `workerd`
// export condition picks dist/workerd.js, and answers with the results as JSON.

import * as cipher from "@sealkit/cipher";
import { allSuites } from "../../src/test-suites/all.js";
import { runAll } from "../../src/test-suites/harness.js";

export default {
  async fetch(request: Request): Promise<Response> {
    const only = new URL(request.url).searchParams.get("suite");
    const suites = allSuites(cipher);
    const selected = only ? { [only]: suites[only] ?? [] } : suites;
    return Response.json(await runAll(selected));
  },
};
