// A worker that mounts the data-key handler, as an edge deployment would; run in workerd by worker.test.ts.

import { rawKeyProvider } from "@sealkit/core";
import { createDataKeyHandler } from "../src/index.js";

interface Env {
  readonly WRAPPING_KEY_HEX: string;
}

let handler: ((request: Request) => Promise<Response>) | undefined;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    // workerd forbids random numbers and crypto in global scope: build the handler on first use.
    handler ??= createDataKeyHandler({
      provider: rawKeyProvider({
        keyId: "edge-key",
        key: Uint8Array.from(env.WRAPPING_KEY_HEX.match(/../g)!.map((h) => Number.parseInt(h, 16))),
      }),
      basePath: "/keys",
      authorize: (req) =>
        req.headers.get("authorization") === "Bearer edge-user" ? { principal: "edge-user" } : null,
    });
    return handler(request);
  },
};
