// Encrypted data keys are not authenticated: anyone holding an envelope can add one. decrypt without --key takes its
// key names from the envelope; a name the provider refuses must be skipped, not turned into a usage error.

import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type EncryptedDataKey, parseHeader, replaceEncryptedDataKeys } from "@sealkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, run, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const raw = ["--provider", "raw", "--raw-key-file", "team.key"];

beforeAll(() => {
  writeFileSync(join(cwd, "team.key"), randomBytes(32));
});
afterAll(() => t.cleanup());

/** Replaces an envelope file's encrypted data keys with `change(its keys)`. */
function rewriteKeys(file: string, change: (keys: readonly EncryptedDataKey[]) => EncryptedDataKey[]): void {
  const bytes = new Uint8Array(readFileSync(join(cwd, file)));
  const header = parseHeader(bytes);
  const replaced = replaceEncryptedDataKeys(header, change(header.encryptedDataKeys));
  const out = new Uint8Array(replaced.length + bytes.length - header.length);
  out.set(replaced);
  out.set(bytes.subarray(header.length), replaced.length);
  writeFileSync(join(cwd, file), out);
}

describe("decrypt --provider raw without --key", () => {
  it("skips a raw key name the raw provider refuses (over 1,024 bytes) and opens with the envelope's own", async () => {
    await ok(["encrypt", ...raw, "-o", "r.slkt"], { cwd, input: "opened" });
    const long = { providerId: "raw", keyId: "k".repeat(1025), ciphertext: new Uint8Array(60).fill(2) };
    rewriteKeys("r.slkt", (keys) => [long, ...keys]);
    const r = await run(["decrypt", "r.slkt", ...raw], { cwd });
    // It was exit 2: RangeError "keyId" expected 1 to 1024 bytes, a usage error.
    expect(r.stderr).toBe("");
    expect(r.out).toBe("opened");
    expect(r.code).toBe(0);
  });

  it("with only names it cannot use: exit 7, no key it can open", async () => {
    await ok(["encrypt", ...raw, "-o", "only.slkt"], { cwd, input: "x" });
    rewriteKeys("only.slkt", () => [
      { providerId: "raw", keyId: "z".repeat(2000), ciphertext: new Uint8Array(60) },
    ]);
    const r = await run(["decrypt", "only.slkt", ...raw], { cwd });
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(
      /^sealkit: ERR_NO_DECRYPTABLE_KEY: the envelope names no key the raw provider can open/,
    );
    // --key is configuration: a bad one is still a usage error.
    expect((await run(["decrypt", "only.slkt", ...raw, "--key", "z".repeat(2000)], { cwd })).code).toBe(2);
  });
});
