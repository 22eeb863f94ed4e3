// The README's opening example runs as written (its imports bound to the packages' sources) and prints what it says.

import * as cipher from "@sealkit/cipher";
import * as core from "@sealkit/core";
import { expect, it } from "vitest";
import * as remote from "./index.js";

const modules: Record<string, unknown> = {
  "@sealkit/cipher": cipher,
  "@sealkit/core": core,
  "@sealkit/remote": remote,
};

it("README's first example: alice's envelope round-trips through the handler, another caller is refused", async () => {
  // A variable specifier keeps the compiler out of Vite's `?raw` query (this package has no Vite types).
  const path = "../README.md?raw";
  const { default: readme } = (await import(/* @vite-ignore */ path)) as { default: string };
  const code = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const body = code!.replace(
    /^import \{([^}]+)\} from "([^"]+)";$/gm,
    (_, names: string, from: string) => `const {${names}} = modules[${JSON.stringify(from)}];`,
  );
  expect(body).not.toMatch(/^import /m);
  const printed: string[] = [];
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
    ...args: string[]
  ) => (...values: unknown[]) => Promise<void>;
  await new AsyncFunction("modules", "console", body)(modules, {
    log: (x: unknown) => printed.push(String(x)),
  });
  expect(printed).toEqual([
    "hello from the page",
    "no provider could open any of the envelope's encrypted data keys (tried raw/app-key: ERR_ACCESS_DENIED)",
  ]);
});
