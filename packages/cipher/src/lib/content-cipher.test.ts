// The content cipher used after dispose: a bug in the caller, reported as such, never as a forged frame.

import { AES_256_GCM, SealkitError, XCHACHA20_POLY1305 } from "@sealkit/core";
import { describe, expect, it } from "vitest";
import { createContentCipher } from "./content-cipher.js";

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
