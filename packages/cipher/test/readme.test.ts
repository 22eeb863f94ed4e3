// The README's opening example runs as written against the built package (run `pnpm build` first).

import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { expect, test } from "vitest";

const root = resolve(import.meta.dirname, "..");

test("README: the first example runs as written and prints the decrypted text", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(example).toBeDefined();
  // Inside the package, so that "@sealkit/cipher" resolves to this package's dist as it would for a user.
  const file = join(root, "test", `.readme-example-${process.pid}.mjs`);
  writeFileSync(file, example!);
  try {
    const output = execFileSync(process.execPath, [file], { encoding: "utf8", cwd: root });
    expect(output).toContain("hello, sealkit XCHACHA20_POLY1305 { tenant: 'acme' }");
  } finally {
    rmSync(file, { force: true });
  }
});
