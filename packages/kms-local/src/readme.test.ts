// The README's opening example runs as written.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it, vi } from "vitest";

// Real SQLite, fsyncs and Argon2 on a shared 2-core machine: generous timeouts.
vi.setConfig({ testTimeout: 60_000 });

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

it("runs the README example", async () => {
  const readme = readFileSync(join(packageRoot, "README.md"), "utf8");
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const dir = join(packageRoot, "node_modules", ".cache", "sealkit-kms-local");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `readme-example-${process.pid}.ts`);
  writeFileSync(file, code!);
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  try {
    await import(file);
    expect(log.mock.calls.map((c) => String(c[0]))).toEqual(["card 4111", "a large document", "true"]);
  } finally {
    log.mockRestore();
    rmSync(file, { force: true });
  }
});
