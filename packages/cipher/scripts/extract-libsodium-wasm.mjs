// Writes libsodium's WebAssembly, which the raw libsodium module embeds as base64, to dist/libsodium.wasm, so that
// workerd can load it as a precompiled module (workerd forbids compiling WebAssembly from bytes at run time).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const glue = require.resolve("libsodium").replace(/modules\/libsodium\.js$/, "modules-esm/libsodium.mjs");
const source = readFileSync(glue, "utf8");
// The embedded module is the one base64 string that starts with the WebAssembly magic "\0asm" ("AGFzbQ").
const match = /"(AGFzbQ[A-Za-z0-9+/]+={0,2})"/.exec(source);
if (!match) throw new Error(`no embedded WebAssembly found in ${glue}`);
const wasm = Buffer.from(match[1], "base64");
if (!WebAssembly.validate(wasm)) throw new Error("the embedded libsodium WebAssembly does not validate");
const out = resolve(here, "../dist/libsodium.wasm");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, wasm);
console.log(`wrote ${out} (${wasm.length} bytes)`);
