// -o over an existing file: replaced only on success, keeping the file's permissions (a new file is 0600).

import { randomBytes } from "node:crypto";
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
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

  it("a file name near the filesystem's 255-byte limit can be written and rewrapped", async () => {
    const long = `${"é".repeat(100)}${"a".repeat(45)}.slkt`; // 250 bytes
    await ok(["encrypt", ...raw, "-o", long], { cwd, input: "long name" });
    await ok(["decrypt", long, ...raw, "-o", `${long.slice(0, -5)}.txt`], { cwd });
    expect(readFileSync(join(cwd, `${long.slice(0, -5)}.txt`), "utf8")).toBe("long name");
    await ok(["rewrap", long, ...raw, "--to-key", "second-name"], { cwd });
    expect((await ok(["decrypt", long, ...raw, "--key", "second-name"], { cwd })).out).toBe("long name");
    expect(readdirSync(cwd).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});
