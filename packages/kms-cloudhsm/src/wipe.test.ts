// Data keys left in Node's shared Buffer pool (SoftHSM2): pkcs11js takes Buffers, and Buffer.from() of a small
// Uint8Array copies it into an 8 KB slab that other code of the process keeps allocating from. The package wipes its
// copies; this checks that no data key (generated, given, or decrypted) is left readable in the slab afterwards.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasSoftHsm, SKIP_MESSAGE, type SoftHsm, setupSoftHsm, softHsmOptions } from "../test/softhsm.js";
import { createAesKey } from "./key-admin.js";
import { pkcs11KeyWrapper } from "./key-wrapper.js";
import { pkcs11Provider } from "./pkcs11-provider.js";

if (!hasSoftHsm) console.warn(SKIP_MESSAGE);

const TOKEN = { label: "wipe", pin: "1234", soPin: "5678" };
const context = { tenant: "acme" };

/** Whether the current Buffer pool slab holds `needle` (searched through a view: a copy would land in the slab). */
function inBufferPool(needle: Uint8Array): boolean {
  const slab = Buffer.from(Buffer.allocUnsafe(1).buffer);
  if (needle.buffer === slab.buffer) throw new Error("the needle itself lives in the pool");
  return slab.indexOf(Buffer.from(needle.buffer, needle.byteOffset, needle.byteLength)) >= 0;
}

describe.skipIf(!hasSoftHsm)("data keys in Node's Buffer pool (SoftHSM2)", () => {
  let hsm: SoftHsm;

  beforeAll(async () => {
    hsm = setupSoftHsm([TOKEN]);
    await createAesKey(softHsmOptions(TOKEN), { label: "master" });
  });

  afterAll(() => hsm?.cleanup());

  it("the check sees a copy that is not wiped", () => {
    const secret = new Uint8Array(32).fill(0x3c);
    secret[0] = 0x01;
    const copy = Buffer.from(secret); // pooled, like the package's copies
    expect(inBufferPool(secret)).toBe(true);
    copy.fill(0);
    expect(inBufferPool(secret)).toBe(false);
  });

  for (const async of [true, false]) {
    it(`leaves no data key in the pool (${async ? "thread-pool" : "synchronous"} calls)`, async () => {
      const provider = pkcs11Provider({ ...softHsmOptions(TOKEN), keyLabel: "master", async });
      const generated = await provider.generateDataKey({ length: 32, context });
      expect(inBufferPool(generated.plaintext)).toBe(false);
      const given = new Uint8Array(48).fill(0x5a);
      given[0] = 0x02;
      await provider.encryptDataKey({ plaintext: given, context });
      expect(inBufferPool(given)).toBe(false);
      const opened = await provider.decryptDataKey({
        encryptedDataKey: generated.encryptedDataKeys[0]!,
        context,
      });
      expect(inBufferPool(opened)).toBe(false);
      await provider.close();

      const wrapper = pkcs11KeyWrapper({ ...softHsmOptions(TOKEN), keyLabel: "master", async });
      const rootKey = new Uint8Array(32).fill(0x77);
      rootKey[0] = 0x03;
      const wrapped = await wrapper.wrap(rootKey, new Uint8Array([1]));
      expect(inBufferPool(rootKey)).toBe(false);
      expect(inBufferPool(await wrapper.unwrap(wrapped, new Uint8Array([1])))).toBe(false);
      await wrapper.close();
    });
  }
});
