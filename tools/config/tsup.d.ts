import type { Options } from "tsup";
export function tsupConfig(overrides?: Partial<Options>): Options;
export function testBundleConfig(overrides?: Partial<Options>): Options;
export const wasmExternal: NonNullable<Options["esbuildPlugins"]>[number];
