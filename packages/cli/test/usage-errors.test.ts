// Usage errors as a new user meets them: what commander prints for a mistyped command line, and what it must not.

import { describe, expect, it } from "vitest";
import { run } from "./helpers.js";

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
