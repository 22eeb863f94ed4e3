// -o over an existing file: replaced only on success, keeping the file's permissions (a new file is 0600).

import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const raw = ["--provider", "raw", "--raw-key-file", "team.key"];
const mode = (name: string) => statSync(join(cwd, name)).mode & 0o777;

beforeAll(() => {
  writeFileSync(join(cwd, "team.key"), randomBytes(32));
});
afterAll(() => t.cleanup());

describe("-o over an existing file", () => {
  it("decrypt and encrypt keep the replaced file's mode; a new file is 0600", async () => {
    await ok(["encrypt", ...raw, "-o", "config.slkt"], { cwd, input: "db_password=hunter2\n" });
    expect(mode("config.slkt")).toBe(0o600);
    // A config file a service reads through its group.
    writeFileSync(join(cwd, "config.env"), "old\n");
    chmodSync(join(cwd, "config.env"), 0o640);
    await ok(["decrypt", "config.slkt", ...raw, "-o", "config.env"], { cwd });
    expect(readFileSync(join(cwd, "config.env"), "utf8")).toBe("db_password=hunter2\n");
    expect(mode("config.env")).toBe(0o640);
    // An envelope published read-only for everyone stays so when it is encrypted again.
    chmodSync(join(cwd, "config.slkt"), 0o444);
    await ok(["encrypt", ...raw, "-o", "config.slkt"], { cwd, input: "v2" });
    expect(mode("config.slkt")).toBe(0o444);
    expect((await ok(["decrypt", "config.slkt", ...raw], { cwd })).out).toBe("v2");
  });
});
