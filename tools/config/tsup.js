// Shared tsup settings: ESM first, declarations, es2022, no bundled workspace deps.
/** @param {Partial<import('tsup').Options>} overrides */
export function tsupConfig(overrides = {}) {
  return {
    entry: ["src/index.ts"],
    format: ["esm"],
    dts: true,
    target: "es2022",
    sourcemap: true,
    clean: true,
    treeshake: true,
    ...overrides,
  };
}

/**
 * tsup settings for tests that bundle an entry into one self-contained ESM file for a browser, workerd or another
 * runtime: every dependency inlined, no declarations, no source maps, quiet.
 * @param {Partial<import('tsup').Options>} overrides
 */
export function testBundleConfig(overrides = {}) {
  return {
    config: false,
    format: ["esm"],
    target: "es2022",
    dts: false,
    sourcemap: false,
    silent: true,
    noExternal: [/.*/],
    ...overrides,
  };
}

/** An esbuild plugin that leaves `.wasm` imports to the runtime (workerd loads them as compiled modules). */
export const wasmExternal = {
  name: "wasm-external",
  /** @param {import('esbuild').PluginBuild} b */
  setup(b) {
    b.onResolve({ filter: /\.wasm$/ }, (args) => ({ path: args.path, external: true }));
  },
};
