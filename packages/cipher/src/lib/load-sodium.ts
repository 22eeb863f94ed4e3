// Default libsodium loader (Node, browsers, Deno, Bun): the module compiles its embedded WebAssembly itself.

import libsodium from "libsodium";

/** Instantiates the raw libsodium module with Emscripten module options. */
export function loadSodiumModule(moduleArg: Record<string, unknown>): Promise<unknown> {
  return libsodium(moduleArg);
}
