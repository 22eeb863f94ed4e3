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
