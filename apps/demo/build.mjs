// Builds the demo: the Node server (dist/main.js), the page (dist/public) and the edge worker (dist/edge), each
// with esbuild against the built workspace packages.
import { cp, mkdir, rm } from "node:fs/promises";
import { build } from "esbuild";

await rm("dist", { recursive: true, force: true });
await mkdir("dist/public", { recursive: true });

await Promise.all([
  build({
    entryPoints: ["src/main.ts", "src/start-demo.ts"],
    outdir: "dist",
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    sourcemap: true,
    logLevel: "warning",
  }),
  build({
    entryPoints: ["src/page/app.ts"],
    outfile: "dist/public/app.js",
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: true,
    logLevel: "warning",
  }),
  build({
    entryPoints: ["src/edge/worker.ts"],
    outdir: "dist/edge",
    bundle: true,
    platform: "browser",
    conditions: ["workerd", "worker", "browser"],
    format: "esm",
    target: "es2022",
    // libsodium's .wasm ships as its own module: workerd compiles it at deploy time, never from bytes at run time.
    loader: { ".wasm": "copy" },
    assetNames: "[name]",
    logLevel: "warning",
  }),
  cp("src/page/index.html", "dist/public/index.html"),
  cp("src/page/styles.css", "dist/public/styles.css"),
]);
