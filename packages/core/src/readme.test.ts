// The README's example runs as written (its import of @sealkit/core bound to this package's sources).

import { expect, it } from "vitest";
import readme from "../README.md?raw";
import * as core from "./index.js";

it("README example runs and prints what it promises", async () => {
  const code = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const body = code!.replace(/import\s*\{([\s\S]*?)\}\s*from\s*"@sealkit\/core";/, "const {$1} = core;");
  expect(body).not.toContain("import ");
  const lines: string[] = [];
  const log = (...args: unknown[]) =>
    lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
    ...args: string[]
  ) => (...values: unknown[]) => Promise<void>;
  await new AsyncFunction("core", "console", body)(core, { log });
  expect(lines).toEqual([
    JSON.stringify(["raw/alice: 60 bytes", "raw/bob: 60 bytes"]),
    "bob opened the key wrapped for bob",
    "no provider could open any of the envelope's encrypted data keys (tried raw/bob: ERR_INVALID_CIPHERTEXT)",
    "reused: true",
  ]);
});
