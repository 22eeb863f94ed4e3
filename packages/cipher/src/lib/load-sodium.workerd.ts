// workerd libsodium loader: workerd forbids compiling WebAssembly from bytes at run time, so the .wasm ships
// as a separate file that workerd (or wrangler) compiles at deploy time and hands us as a WebAssembly.Module.
// The build (tsup.config.ts) swaps this file in for load-sodium.ts in dist/workerd.js.

import libsodium from "libsodium";
import libsodiumWasm from "./libsodium.wasm";

/** Instantiates the raw libsodium module from the precompiled module, through Emscripten's instantiateWasm hook. */
export function loadSodiumModule(moduleArg: Record<string, unknown>): Promise<unknown> {
  // Emscripten never rejects when the hook fails, so a failed instantiation rejects through this wrapper.
  return new Promise((resolve, reject) => {
    libsodium({
      ...moduleArg,
      instantiateWasm(
        imports: WebAssembly.Imports,
        done: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
      ) {
        WebAssembly.instantiate(libsodiumWasm, imports).then(
          (instance) => done(instance, libsodiumWasm),
          reject,
        );
        return {};
      },
    }).then(resolve, reject);
  });
}
