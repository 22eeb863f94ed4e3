import { describe, expect, it } from "vitest";
import { randomBytesFast, randomFill } from "./random.js";

describe("randomFill", () => {
  it("never hands out the same bytes twice, across block refills", () => {
    const seen = new Set<string>();
    // 2,000 × 16 bytes spans several 4 KiB blocks.
    for (let i = 0; i < 2000; i++) {
      const hex = Buffer.from(randomBytesFast(16)).toString("hex");
      expect(seen.has(hex)).toBe(false);
      seen.add(hex);
    }
  });

  it("fills exactly the range asked for, pooled or not", () => {
    for (const length of [1, 12, 32, 256, 257, 5000]) {
      const target = new Uint8Array(length + 8);
      randomFill(target, 4, length);
      expect([...target.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
      expect([...target.subarray(4 + length)]).toEqual([0, 0, 0, 0]);
      // All zero would be a 2^-8 chance per byte; at least 1 byte of the range is random and non-zero.
      expect(target.subarray(4, 4 + length).some((b) => b !== 0)).toBe(true);
    }
  });

  it("looks uniform: byte frequencies of 256 KiB within 20% of the mean", () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 8192; i++) for (const b of randomBytesFast(32)) counts[b]!++;
    const mean = (8192 * 32) / 256;
    for (const c of counts) expect(Math.abs(c - mean) / mean).toBeLessThan(0.2);
  });

  it("refuses a range outside the target", () => {
    expect(() => randomFill(new Uint8Array(4), 2, 3)).toThrow(RangeError);
    expect(() => randomFill(new Uint8Array(4), -1, 1)).toThrow(RangeError);
  });
});
