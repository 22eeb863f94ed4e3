// rewrap through the built binary: raw key -> local KMS key, local key -> another local key; the body never changes.

import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, chownSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, baseEnv, ok, run, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const raw = ["--provider", "raw", "--raw-key-file", "team.key"];
const plaintext = randomBytes(200_000);

beforeAll(async () => {
  writeFileSync(join(cwd, "team.key"), randomBytes(32));
  writeFileSync(join(cwd, "plain.bin"), plaintext);
  await ok(["keys", "create", "--alias", "alias/first"], { cwd });
  await ok(["keys", "create", "--alias", "alias/second"], { cwd });
});
afterAll(() => t.cleanup());

/** The body (everything after the header) of an envelope file, hashed. */
async function bodyHash(file: string): Promise<string> {
  const info = JSON.parse((await ok(["inspect", file, "--json"], { cwd })).out);
  return createHash("sha256")
    .update(readFileSync(join(cwd, file)).subarray(info.headerLength))
    .digest("hex");
}

describe("rewrap", () => {
  it("from a raw key to a local KMS key: the new key decrypts, the body bytes are unchanged", async () => {
    await ok(["encrypt", "plain.bin", ...raw, "--context", "team=core", "-o", "a.slkt"], { cwd });
    const before = await bodyHash("a.slkt");
    const r = await ok(
      [
        "rewrap",
        "a.slkt",
        ...raw,
        "--to-provider",
        "local",
        "--to-key",
        "alias/first",
        "--remove-key",
        "team.key",
        "--json",
      ],
      { cwd },
    );
    const [summary] = JSON.parse(r.out);
    expect(summary.added).toHaveLength(1);
    expect(summary.added[0].keyId).toMatch(/^arn:aws:kms:us-east-1:111122223333:key\//);
    expect(summary.removed).toEqual([{ providerId: "raw", keyId: "team.key" }]);
    expect(summary.headerBytesAfter).toBeGreaterThan(summary.headerBytesBefore);
    expect(await bodyHash("a.slkt")).toBe(before);
    const dec = await ok(["decrypt", "a.slkt", "--expect-context", "team=core"], { cwd });
    expect(dec.stdout.equals(plaintext)).toBe(true);
    // The raw key no longer opens it.
    expect((await run(["decrypt", "a.slkt", ...raw, "--key", "team.key"], { cwd })).code).toBe(7);
    expect(readdirSync(cwd).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("from one local key to another, several files, with a text summary", async () => {
    await ok(["encrypt", "plain.bin", "--key", "alias/first", "-o", "b.slkt"], { cwd });
    await ok(["encrypt", "--key", "alias/first", "-o", "c.slkt"], { cwd, input: "small" });
    const before = await bodyHash("b.slkt");
    const r = await ok(
      ["rewrap", "b.slkt", "c.slkt", "--to-key", "alias/second", "--remove-key", "alias/first"],
      { cwd },
    );
    expect(r.out.trim().split("\n")).toHaveLength(2);
    expect(r.out).toMatch(
      /^b\.slkt: \+arn:\S+ -arn:\S+; header \d+ -> \d+ bytes; body \d+ bytes untouched$/m,
    );
    expect(await bodyHash("b.slkt")).toBe(before);
    expect((await ok(["decrypt", "b.slkt", "--key", "alias/second"], { cwd })).stdout.equals(plaintext)).toBe(
      true,
    );
    expect((await ok(["decrypt", "c.slkt"], { cwd })).out).toBe("small");
    expect((await run(["decrypt", "b.slkt", "--key", "alias/first"], { cwd })).code).toBe(7);
    // Disabling the old key does not matter any more.
    await ok(["keys", "disable", "alias/first"], { cwd });
    await ok(["decrypt", "b.slkt"], { cwd });
  });

  it("the same run again after it stopped: rewritten files are left unchanged, never given a key twice", async () => {
    await ok(["keys", "create", "--alias", "alias/src"], { cwd });
    await ok(["keys", "create", "--alias", "alias/dst"], { cwd });
    for (const f of ["r1.slkt", "r2.slkt"])
      await ok(["encrypt", "--key", "alias/src", "-o", f], { cwd, input: f });
    const move = ["--to-key", "alias/dst", "--remove-key", "alias/src"];
    const keyIds = async (f: string) =>
      JSON.parse((await ok(["inspect", f, "--json"], { cwd })).out).encryptedDataKeys.map(
        (k: { keyId: string }) => k.keyId,
      );
    // The first run rewrote r1 and stopped (simulated: it ran on r1 alone).
    await ok(["rewrap", "r1.slkt", ...move], { cwd });
    const [dst] = await keyIds("r1.slkt");
    const r1 = readFileSync(join(cwd, "r1.slkt"));
    // The same command again over every file: r1 cannot be opened with alias/src any more and has it no more.
    const again = await ok(["rewrap", "r1.slkt", "r2.slkt", ...move, "--json"], { cwd });
    const [first, second] = JSON.parse(again.out);
    expect(first).toMatchObject({ file: "r1.slkt", unchanged: true, added: [], removed: [] });
    expect(second).toMatchObject({ file: "r2.slkt", unchanged: false });
    expect(second.added.map((k: { keyId: string }) => k.keyId)).toEqual([dst]);
    expect(readFileSync(join(cwd, "r1.slkt")).equals(r1)).toBe(true);
    expect(await keyIds("r2.slkt")).toEqual([dst]);
    // Adding a key a file has: unchanged, with a line that says so.
    const text = await ok(["rewrap", "r2.slkt", "--to-key", "alias/dst"], { cwd });
    expect(text.out).toBe(`r2.slkt: unchanged, it already has ${dst}\n`);
    expect(await keyIds("r2.slkt")).toEqual([dst]);
    // One key new, one it has: the new one is added, the one it has stays once.
    const mixed = JSON.parse(
      (await ok(["rewrap", "r2.slkt", "--to-key", "alias/src", "--to-key", "alias/dst", "--json"], { cwd }))
        .out,
    );
    expect(mixed[0].removed).toEqual([]);
    expect(mixed[0].added).toHaveLength(1);
    const ids = await keyIds("r2.slkt");
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    for (const key of ["alias/src", "alias/dst"])
      expect((await ok(["decrypt", "r2.slkt", "--key", key], { cwd })).out).toBe("r2.slkt");
  });

  it.skipIf(process.getuid?.() !== 0)(
    "as root, keeps each file's owner and mode; a directory it may not write is named by the file",
    async () => {
      await ok(["encrypt", ...raw, "-o", "owned.slkt"], { cwd, input: "app data" });
      chownSync(join(cwd, "owned.slkt"), 65534, 65534);
      chmodSync(join(cwd, "owned.slkt"), 0o640);
      await ok(["rewrap", "owned.slkt", ...raw, "--to-key", "second"], { cwd });
      const st = statSync(join(cwd, "owned.slkt"));
      expect([st.uid, st.gid, st.mode & 0o777]).toEqual([65534, 65534, 0o640]);
      // nobody may read the file but not write in its directory (the temp dir is root's, 0700).
      chmodSync(cwd, 0o755);
      chmodSync(join(cwd, "team.key"), 0o644);
      const r = spawnSync(
        process.execPath,
        [BIN, "rewrap", "owned.slkt", ...raw, "--key", "second", "--to-key", "third"],
        // HOME: cwd holds the root-only .sealkit/kms, where the config file would be looked for.
        { cwd, env: { ...baseEnv(cwd), HOME: "/nonexistent" }, encoding: "utf8", uid: 65534, gid: 65534 },
      );
      chmodSync(cwd, 0o700);
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(/^sealkit: EACCES: cannot rewrite owned\.slkt \(in its directory\): EACCES/);
      expect(r.stderr).not.toMatch(/\.tmp/);
    },
  );

  it("refuses to run without a change, and leaves a damaged file as it was", async () => {
    expect((await run(["rewrap", "b.slkt"], { cwd })).code).toBe(2);
    writeFileSync(join(cwd, "junk.slkt"), "not an envelope");
    const r = await run(["rewrap", "junk.slkt", "--to-key", "alias/second"], { cwd });
    expect(r.code).toBe(3);
    expect(readFileSync(join(cwd, "junk.slkt"), "utf8")).toBe("not an envelope");
  });
});
