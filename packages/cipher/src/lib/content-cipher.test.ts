// The content cipher: used after dispose (a bug in the caller, reported as such, never as a forged frame), and the
// frame indexes it seals and opens, up to the format's last.

import { AES_256_GCM, MAX_FRAME_INDEX, SealkitError, XCHACHA20_POLY1305 } from "@sealkit/core";
import { describe, expect, it } from "vitest";
import { createContentCipher } from "./content-cipher.js";
import { frameWireLength } from "./frame-reader.js";

describe("a disposed content cipher", () => {
  for (const suite of [XCHACHA20_POLY1305, AES_256_GCM]) {
    it(`${suite.name}: refuses to open a frame with its own error, not ERR_AUTHENTICATION_FAILED`, async () => {
      const cipher = await createContentCipher(suite, new Uint8Array(32).fill(3));
      const sealed = new Uint8Array(16 + 10);
      const pending = cipher.seal(1, true, new Uint8Array(10).fill(1), sealed, 0);
      await pending;
      cipher.dispose();
      const error = await (async () => {
        try {
          await (cipher.openDetached?.(1, true, sealed) ??
            cipher.open(1, true, sealed, new Uint8Array(10), 0));
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(Error);
      expect(SealkitError.isInstance(error)).toBe(false);
      expect((error as Error).message).toMatch(/after dispose/);
    });
  }
});

describe("frame indexes up to the last one the format allows (2^32 - 1)", () => {
  for (const suite of [XCHACHA20_POLY1305, AES_256_GCM]) {
    it(`${suite.name}: each index has its own nonce, the last one included, and a frame opens only at its index`, async () => {
      const cipher = await createContentCipher(suite, new Uint8Array(32).fill(9));
      const indexes = [1, 2, 255, 256, 65_536, 0xfffffffe, MAX_FRAME_INDEX];
      const sealed = new Map<number, Uint8Array>();
      for (const index of indexes) {
        const out = new Uint8Array(4 + 16);
        await cipher.seal(index, index === MAX_FRAME_INDEX, new Uint8Array([1, 2, 3, 4]), out, 0);
        sealed.set(index, out);
      }
      // Same key, same plaintext: any two indexes sharing a nonce would give the same ciphertext.
      expect(new Set([...sealed.values()].map((bytes) => bytes.join())).size).toBe(indexes.length);
      for (const index of indexes) {
        const out = new Uint8Array(4);
        await cipher.open(index, index === MAX_FRAME_INDEX, sealed.get(index)!, out, 0);
        expect([...out]).toEqual([1, 2, 3, 4]);
        for (const other of [0, ...indexes.filter((i) => i !== index)]) {
          const refused = (async () =>
            cipher.open(other, index === MAX_FRAME_INDEX, sealed.get(index)!, new Uint8Array(4), 0))();
          await expect(refused).rejects.toMatchObject({ code: "ERR_AUTHENTICATION_FAILED" });
        }
      }
      cipher.dispose();
    });
  }

  it("a frame after index 2^32 - 1 is ERR_LIMIT_EXCEEDED, before its bytes are looked at", () => {
    expect(frameWireLength(new Uint8Array([0]), 64, MAX_FRAME_INDEX)).toBe(64 + 17);
    expect(() => frameWireLength(new Uint8Array([0]), 64, MAX_FRAME_INDEX + 1)).toThrow(
      expect.objectContaining({ code: "ERR_LIMIT_EXCEEDED" }),
    );
  });
});
