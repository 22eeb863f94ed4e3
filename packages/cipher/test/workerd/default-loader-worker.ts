// A control worker: imports the default build (dist/index.js), whose libsodium compiles WebAssembly from bytes,
// to show that workerd refuses it and that the `workerd` export condition is what makes the package work there.

import { xchacha20poly1305 } from "../../dist/index.js";

export default {
  async fetch(): Promise<Response> {
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve("timeout"), 5000));
    const attempt = xchacha20poly1305.encrypt(new Uint8Array(32), new Uint8Array(24), new Uint8Array(1)).then(
      () => "ok",
      (error: unknown) => `error: ${String(error)}`,
    );
    return new Response(await Promise.race([attempt, timeout]));
  },
};
