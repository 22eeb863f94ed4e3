// Choosing the token on SoftHSM2: labels two tokens share, blank padding, the 32-byte limit, lone surrogates, and
// RFC 7512 reserved or non-ASCII characters in the key id.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  errorOf,
  hasSoftHsm,
  rawModule,
  SKIP_MESSAGE,
  type SoftHsm,
  setupSoftHsm,
  softHsmOptions,
} from "../test/softhsm.js";
import { createAesKey } from "./key-admin.js";
import { pkcs11KeyWrapper } from "./key-wrapper.js";
import { pkcs11Provider } from "./pkcs11-provider.js";

if (!hasSoftHsm) console.warn(SKIP_MESSAGE);

const FIRST = { label: "dup", pin: "1111", soPin: "5678" };
const SECOND = { label: "dup", pin: "2222", soPin: "5678" };
const LONG = { label: "x".repeat(32), pin: "1234", soPin: "5678" };
const ODD = { label: "clé ñ;/?%", pin: "1234", soPin: "5678" };
const context = { tenant: "acme" };

/** The slot ids (as numbers) of the present tokens with the label, in slot-list order. */
function slotIds(label: string): number[] {
  const raw = rawModule();
  return raw
    .C_GetSlotList(true)
    .filter((slot) => raw.C_GetTokenInfo(slot).label.trimEnd() === label)
    .map((slot) => Number(slot.readBigUInt64LE(0)));
}

describe.skipIf(!hasSoftHsm)("choosing the token (SoftHSM2)", () => {
  let hsm: SoftHsm;
  let dupSlots: number[];

  beforeAll(async () => {
    hsm = setupSoftHsm([FIRST, SECOND, LONG, ODD]);
    dupSlots = slotIds("dup");
    // Which "dup" token comes first in the slot list depends on SoftHSM2's token folder names: find each by PIN.
    const byPin: Record<string, number> = {};
    for (const slot of dupSlots) {
      for (const pin of [FIRST.pin, SECOND.pin]) {
        const made = await createAesKey({ ...softHsmOptions(FIRST), slot, pin }, { label: "master" }).then(
          () => true,
          () => false,
        );
        if (made) byPin[pin] = slot;
      }
    }
    dupSlots = [byPin[FIRST.pin]!, byPin[SECOND.pin]!];
    await createAesKey(softHsmOptions(LONG), { label: "master" });
    await createAesKey(softHsmOptions(ODD), { label: "k;/?%é#=&" });
  });

  afterAll(() => hsm?.cleanup());

  it("refuses a token label two present tokens share, whichever PIN is given, instead of using the first one", async () => {
    expect(dupSlots).toHaveLength(2);
    for (const token of [FIRST, SECOND]) {
      const provider = pkcs11Provider({ ...softHsmOptions(token), keyLabel: "master" });
      const error = await errorOf(provider.generateDataKey({ length: 32, context }));
      expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
      expect(error.message).toMatch(/"dup" is ambiguous: 2 present tokens/);
      expect(error.message).not.toContain(token.pin);
      expect(provider.stats().open).toBe(0); // no session was opened, so no PIN was tried on the wrong token
      await provider.close();
    }
    const wrapper = pkcs11KeyWrapper({ ...softHsmOptions(FIRST), keyLabel: "master" });
    expect((await errorOf(wrapper.wrap(new Uint8Array(32), new Uint8Array()))).message).toMatch(/ambiguous/);
    await wrapper.close();
  });

  it("with slot as well, uses that slot's token, and refuses a slot whose token has another label", async () => {
    const first = pkcs11Provider({ ...softHsmOptions(FIRST), slot: dupSlots[0], keyLabel: "master" });
    const second = pkcs11Provider({ ...softHsmOptions(SECOND), slot: dupSlots[1], keyLabel: "master" });
    const a = await first.generateDataKey({ length: 32, context });
    const b = await second.generateDataKey({ length: 32, context });
    const [edkA] = a.encryptedDataKeys;
    expect(await first.decryptDataKey({ encryptedDataKey: edkA!, context })).toEqual(a.plaintext);
    const [edkB] = b.encryptedDataKeys;
    expect(await second.decryptDataKey({ encryptedDataKey: edkB!, context })).toEqual(b.plaintext);
    // One label, one key id: the key id cannot tell the two tokens apart, so the other token's key fails to open.
    expect(first.keyId).toBe(second.keyId);
    expect((await errorOf(first.decryptDataKey({ encryptedDataKey: edkB!, context }))).code).toBe(
      "ERR_INVALID_CIPHERTEXT",
    );
    await Promise.all([first.close(), second.close()]);

    const mismatch = pkcs11Provider({
      ...softHsmOptions(LONG),
      slot: dupSlots[0],
      keyLabel: "master",
    });
    const error = await errorOf(mismatch.generateDataKey({ length: 32, context }));
    expect(error.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    expect(error.message).toMatch(/not found in slot/);
    await mismatch.close();
  });

  it("takes trailing blanks of a configured token label as the padding they are (32-byte label)", async () => {
    const plain = pkcs11Provider({ ...softHsmOptions(LONG), keyLabel: "master" });
    const padded = pkcs11Provider({
      ...softHsmOptions(LONG),
      tokenLabel: `${LONG.label}  `,
      keyLabel: "master",
    });
    expect(padded.keyId).toBe(`pkcs11:token=${LONG.label};object=master`);
    expect(padded.keyId).toBe(plain.keyId);
    const key = await padded.generateDataKey({ length: 32, context });
    const [edk] = key.encryptedDataKeys;
    expect(plain.canDecrypt(edk!)).toBe(true);
    expect(await plain.decryptDataKey({ encryptedDataKey: edk!, context })).toEqual(key.plaintext);
    await Promise.all([plain.close(), padded.close()]);
  });

  it("refuses at construction a token label no token can have: over 32 bytes of UTF-8, or blank", () => {
    const options = { ...softHsmOptions(LONG), keyLabel: "master" };
    expect(() => pkcs11Provider({ ...options, tokenLabel: "x".repeat(33) })).toThrow(/at most 32 bytes/);
    expect(() => pkcs11Provider({ ...options, tokenLabel: "é".repeat(17) })).toThrow(/at most 32 bytes/);
    expect(() => pkcs11Provider({ ...options, tokenLabel: "   " })).toThrow(TypeError);
    expect(() => pkcs11Provider({ ...options, tokenLabel: "é".repeat(16) })).not.toThrow();
  });

  it("refuses labels with lone surrogates (they reach the token as U+FFFD and have no key id) before any call", async () => {
    const options = { ...softHsmOptions(LONG), keyLabel: "master" };
    expect(() => pkcs11Provider({ ...options, keyLabel: "k\uD800" })).toThrow(TypeError);
    expect(() => pkcs11Provider({ ...options, tokenLabel: "t\uDC00" })).toThrow(TypeError);
    expect(() => pkcs11KeyWrapper({ ...options, keyLabel: "\uDBFF" })).toThrow(TypeError);
    await expect(createAesKey(softHsmOptions(LONG), { label: "\uD800" })).rejects.toThrow(TypeError);
    // A well-formed pair is fine.
    expect(() => pkcs11Provider({ ...options, keyLabel: "k\uD83D\uDD11" }).keyId).not.toThrow();
  });

  it("percent-encodes reserved and non-ASCII characters in the key id, which decodes back to both labels", async () => {
    const provider = pkcs11Provider({ ...softHsmOptions(ODD), keyLabel: "k;/?%é#=&" });
    expect(provider.keyId).toBe(
      "pkcs11:token=cl%C3%A9%20%C3%B1%3B%2F%3F%25;object=k%3B%2F%3F%25%C3%A9%23%3D%26",
    );
    const [, token, object] = /^pkcs11:token=([^;]*);object=([^;]*)$/.exec(provider.keyId)!;
    expect(decodeURIComponent(token!)).toBe(ODD.label);
    expect(decodeURIComponent(object!)).toBe("k;/?%é#=&");
    const key = await provider.generateDataKey({ length: 32, context });
    const [edk] = key.encryptedDataKeys;
    expect(await provider.decryptDataKey({ encryptedDataKey: edk!, context })).toEqual(key.plaintext);
    await provider.close();
  });
});
