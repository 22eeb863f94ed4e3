// The workerd (Cloudflare Workers) entry point: the same API as index.ts. The build swaps in the loader that
// instantiates libsodium from dist/libsodium.wasm, imported as a compiled WebAssembly.Module.

export * from "./index.js";
