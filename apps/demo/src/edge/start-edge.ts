// Starts the edge worker in workerd through Miniflare, on a local port, with the built worker bundle.

import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import type { Env } from "./worker.js";

const here = dirname(fileURLToPath(import.meta.url));

/** Runs dist/edge/worker.js (built by build.mjs with its .wasm modules beside it). */
export async function startEdge(env: Env, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const dir = join(here, "edge");
  const wasm = (await readdir(dir)).filter((f) => f.endsWith(".wasm"));
  const mf = new Miniflare({
    modules: [
      { type: "ESModule", path: join(dir, "worker.js") },
      ...wasm.map((f) => ({ type: "CompiledWasm" as const, path: join(dir, f) })),
    ],
    modulesRoot: dir,
    compatibilityDate: "2025-09-01",
    compatibilityFlags: ["nodejs_compat"],
    bindings: { ...env },
    host: "127.0.0.1",
    port,
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { url, close: () => mf.dispose() };
}
