import { readFileSync } from "node:fs";
import { tsupConfig } from "@sealkit/config/tsup";
import { defineConfig } from "tsup";

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")) as {
  version: string;
};

export default defineConfig(
  tsupConfig({ entry: ["src/index.ts", "src/bin.ts"], define: { SEALKIT_VERSION: JSON.stringify(version) } }),
);
