import type { Options } from "tsup";
export function tsupConfig(overrides?: Partial<Options>): Options;
