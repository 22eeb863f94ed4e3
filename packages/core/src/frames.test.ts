import { describe, expect, it } from "vitest";
import { toHex } from "./bytes.js";
import { SealkitError } from "./errors.js";
import { bodyLayout, encryptedBodyLength, frameAad, frameNonce } from "./frames.js";
import { AES_256_GCM, XCHACHA20_POLY1305 } from "./suites.js";

describe("frame nonces and aad", () => {
  it("puts the index big-endian in the last eight bytes", () => {
    expect(toHex(frameNonce(AES_256_GCM, 0))).toBe("00".repeat(12));
    expect(toHex(frameNonce(AES_256_GCM, 1))).toBe("00".repeat(11) + "01");
    expect(toHex(frameNonce(XCHACHA20_POLY1305, 0x01020304))).toBe("00".repeat(20) + "01020304");
    expect(toHex(frameNonce(AES_256_GCM, 0xffffffff))).toBe("00".repeat(8) + "ffffffff");
  });
  it("uses the flag as aad", () => {
    expect([...frameAad(false)]).toEqual([0]);
    expect([...frameAad(true)]).toEqual([1]);
  });
});

describe("bodyLayout", () => {
  const frameSize = 64;
  for (const length of [0, 1, 63, 64, 65, 128, 129, 1000]) {
    it(`inverts encryptedBodyLength for ${length} plaintext bytes`, () => {
      const layout = bodyLayout(encryptedBodyLength(length, frameSize), frameSize);
      expect(layout.plaintextLength).toBe(length);
      expect(layout.frameCount).toBe(length === 0 ? 1 : Math.ceil(length / frameSize));
    });
  }

  it("says ERR_TRUNCATED for a body shorter than a final frame", () => {
    for (const n of [0, 20]) {
      expect(() => bodyLayout(n, frameSize)).toThrow(expect.objectContaining({ code: "ERR_TRUNCATED" }));
    }
  });

  it("says ERR_ENVELOPE_MALFORMED for lengths no layout gives", () => {
    // One regular frame (81) + an empty final frame (21) is not allowed: L = 0 only when the message is empty.
    const e = (() => {
      try {
        bodyLayout(81 + 21, frameSize);
      } catch (error) {
        return error;
      }
    })();
    expect(SealkitError.isInstance(e, "ERR_ENVELOPE_MALFORMED")).toBe(true);
    // A final frame longer than the frame size (and shorter than a regular frame plus a final one).
    expect(() => bodyLayout(21 + 65 + 5, frameSize)).toThrow(
      expect.objectContaining({ code: "ERR_ENVELOPE_MALFORMED" }),
    );
  });

  it("says ERR_LIMIT_EXCEEDED past 2^32 - 1 frames", () => {
    const tooLong = 2 ** 32 * (64 + 17) + 21 + 1;
    expect(() => bodyLayout(tooLong, 64)).toThrow(expect.objectContaining({ code: "ERR_LIMIT_EXCEEDED" }));
  });
});
