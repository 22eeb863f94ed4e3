// Usage errors as a new user meets them: what commander prints for a mistyped command line, and what it must not.

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, baseEnv, run, tempDir } from "./helpers.js";

describe("an unknown --option=value", () => {
  it("is named without its value, which may be a secret; a PIN option says where the PIN goes", async () => {
    const pin = await run(["encrypt", "--pkcs11-pin=SuperSecret1", "x"]);
    expect(pin.code).toBe(2);
    expect(pin.stderr).not.toMatch(/SuperSecret1/);
    expect(pin.stderr).toMatch(/unknown option '--pkcs11-pin=\.\.\.'/);
    expect(pin.stderr).toMatch(/SEALKIT_PKCS11_PIN/);
    const key = await run(["decrypt", `--raw-key=${"ab".repeat(32)}`]);
    expect(key.code).toBe(2);
    expect(key.stderr).not.toMatch(/abab/);
    expect(key.stderr).toMatch(/unknown option '--raw-key=\.\.\.'/);
    // An unknown option without a value is named as it was.
    expect((await run(["keys", "list", "--bogus"])).stderr).toMatch(/unknown option '--bogus'/);
  });
});

describe("decrypt --context", () => {
  it("points at --expect-context, which is how decrypt requires context pairs", async () => {
    for (const args of [
      ["decrypt", "--context", "a=b", "x"],
      ["decrypt", "--context=a=b", "x"],
    ]) {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/only encrypt takes --context: .* --expect-context k=v/);
    }
    expect((await run(["decrypt", "--contextual", "x"])).stderr).not.toMatch(/expect-context/);
  });
});

describe("a file the user may not read", () => {
  it("is exit 4 (access denied) with the system code, as documented", () => {
    const t = tempDir();
    try {
      writeFileSync(join(t.dir, "secret.txt"), "x");
      chmodSync(join(t.dir, "secret.txt"), 0o000);
      writeFileSync(join(t.dir, "team.key"), randomBytes(32));
      chmodSync(join(t.dir, "team.key"), 0o644);
      chmodSync(t.dir, 0o755);
      // As root every file is readable: run as nobody then.
      const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
      const r = spawnSync(
        process.execPath,
        [BIN, "encrypt", "secret.txt", "--provider", "raw", "--raw-key-file", "team.key"],
        { cwd: t.dir, env: baseEnv(t.dir), encoding: "utf8", ...asNobody },
      );
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(/^sealkit: EACCES: permission denied, open 'secret\.txt'/);
      expect(r.stdout).toBe("");
    } finally {
      t.cleanup();
    }
  });
});
