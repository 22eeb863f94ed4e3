// --context and --expect-context through the built binary: what the user typed is what the envelope binds and what
// decrypt requires, whatever the key is named.

import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, run, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const raw = ["--provider", "raw", "--raw-key-file", "team.key"];

beforeAll(() => {
  writeFileSync(join(cwd, "team.key"), randomBytes(32));
  writeFileSync(join(cwd, "plain.txt"), "hello\n");
});
afterAll(() => t.cleanup());

describe("context keys named like Object.prototype's properties", () => {
  it("--context __proto__=x is bound, and --expect-context __proto__=... is required", async () => {
    await ok(
      ["encrypt", "plain.txt", ...raw, "--context", "__proto__=x", "--context", "a=b=c", "-o", "p.slkt"],
      {
        cwd,
      },
    );
    const info = JSON.parse((await ok(["inspect", "p.slkt", "--json"], { cwd })).out);
    // It was dropped: the envelope's context was {"a": "b=c"} only.
    expect(info.context).toEqual(JSON.parse('{"__proto__":"x","a":"b=c"}'));
    // It required nothing, so any envelope passed.
    const wrong = await run(["decrypt", "p.slkt", ...raw, "--expect-context", "__proto__=other"], { cwd });
    expect(wrong.code).toBe(7);
    expect(wrong.stdout.length).toBe(0);
    expect(wrong.stderr).toMatch(/ERR_CONTEXT_MISMATCH/);
    const right = await ok(["decrypt", "p.slkt", ...raw, "--expect-context", "__proto__=x"], { cwd });
    expect(right.out).toBe("hello\n");
  });
});
