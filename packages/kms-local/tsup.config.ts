import { tsupConfig } from "@sealkit/config/tsup";
import { defineConfig } from "tsup";

export default defineConfig(tsupConfig({ entry: ["src/index.ts", "src/bin.ts"] }));
