// An envelope from someone else may carry control characters in its context and key ids: text output shows them
// escaped, never sends them to the terminal; JSON keeps the exact strings.

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, baseEnv, ok, run, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const raw = ["--provider", "raw", "--raw-key-file", "team.key"];
// ESC sequences that retitle the terminal and erase the line, a CR that writes over what came before, BEL, and a
// right-to-left override that reverses how the rest of the line reads.
const keyName = "evil\u001b[2K\rtrusted-key";
const note = "\u001b]0;pwned\u0007hi\u202eyek";
// Any control character but the line ends, or the override.
const raw8 = /(?!\n)\p{Cc}|\u202e/u;

beforeAll(async () => {
  writeFileSync(join(cwd, "team.key"), randomBytes(32));
  await ok(["encrypt", ...raw, "--key", keyName, "--context", `note=${note}`, "-o", "e.slkt"], {
    cwd,
    input: "x",
  });
});
afterAll(() => t.cleanup());

describe("control characters from an envelope's header", () => {
  it("inspect escapes them in text and keeps them exact in JSON", async () => {
    const text = await ok(["inspect", "e.slkt"], { cwd });
    expect(text.out).not.toMatch(raw8);
    expect(text.out).toContain("note=\\x1b]0;pwned\\x07hi\\u202eyek");
    expect(text.out).toContain("evil\\x1b[2K\\rtrusted-key");
    const info = JSON.parse((await ok(["inspect", "e.slkt", "--json"], { cwd })).out);
    expect(info.context).toEqual({ note });
    expect(info.encryptedDataKeys[0].keyId).toBe(keyName);
  });

  it("error messages and the rewrap summary escape them too", async () => {
    const failed = await run(["decrypt", "e.slkt", "--provider", "aws"], { cwd });
    expect(failed.code).toBe(7);
    expect(failed.stderr).not.toMatch(raw8);
    expect(failed.stderr).toContain("raw:evil\\x1b[2K\\rtrusted-key");
    const r = await ok(
      ["rewrap", "e.slkt", ...raw, "--key", keyName, "--to-key", "team", "--remove-key", keyName],
      {
        cwd,
      },
    );
    expect(r.out).not.toMatch(raw8);
    expect(r.out).toMatch(/^e\.slkt: \+team -evil\\x1b\[2K\\rtrusted-key; header/);
  });
});

describe("inspect and rewrap of something that is not a file", () => {
  it("a FIFO (process substitution) is a usage error, not a 'truncated' envelope to restore", () => {
    const r = spawnSync("bash", ["-c", `'${process.execPath}' '${BIN}' inspect <(cat e.slkt)`], {
      cwd,
      env: baseEnv(cwd),
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is not a regular file: inspect and rewrap read envelope files/);
    expect(r.stderr).not.toMatch(/truncated|restore/);
  });
});
