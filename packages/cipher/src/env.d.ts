// Ambient declarations for the raw libsodium module and for .wasm imports (workerd's CompiledWasm modules).

declare module "libsodium" {
  const factory: (moduleArg?: Record<string, unknown>) => Promise<unknown>;
  export default factory;
}

declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
