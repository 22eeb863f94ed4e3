// The README's opening example runs as written (with `pnpm sealkit` as the built binary, in a temp dir).

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { BIN, baseEnv, CLI_DIR, tempDir } from "./helpers.js";

const t = tempDir();
afterAll(() => t.cleanup());

it("the README's first example encrypts, inspects and decrypts", () => {
  const readme = readFileSync(join(CLI_DIR, "README.md"), "utf8");
  const block = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
  const script = block
    .split("\n")
    .filter((line) => !line.startsWith("pnpm build"))
    .map((line) => line.replace(/^pnpm sealkit /, `'${process.execPath}' '${BIN}' `))
    .join("\n");
  // stdin "ignore": with a socketpair on stdin (libuv's default pipe), Debian's bash thinks rshd started it and
  // sources /etc/bash.bashrc, which fails under -u.
  const r = spawnSync("bash", ["-euo", "pipefail", "-c", script], {
    stdio: ["ignore", "pipe", "pipe"],
    cwd: t.dir,
    env: baseEnv(t.dir),
    encoding: "utf8",
  });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/suite:\s+xchacha20-poly1305/);
  expect(r.stdout).toMatch(/context:\s+purpose=backup/);
  expect(readFileSync(join(t.dir, "notes.out.txt"), "utf8")).toBe("hello\n");
});
