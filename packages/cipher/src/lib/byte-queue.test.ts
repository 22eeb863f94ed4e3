// ByteQueue: the arrays it owns (copies of held-back bytes, merges across chunks) hold no bytes once handed out.

import { describe, expect, it } from "vitest";
import { ByteQueue } from "./byte-queue.js";

describe("ByteQueue", () => {
  it("zeroes every array it allocated once its bytes were taken; never touches the caller's chunks", () => {
    const allocated: Uint8Array[] = [];
    const queue = new ByteQueue((length) => {
      const array = new Uint8Array(length);
      allocated.push(array);
      return array;
    });
    const callers: Uint8Array[] = [];
    const taken: number[] = [];
    const take = (n: number) => queue.takeAndWipe(n, (bytes) => taken.push(...bytes));
    let next = 1;
    // Chunks of 50 taken in 64s, with own() after every push as a stream does: merges of owned and of caller bytes.
    for (let round = 0; round < 10; round++) {
      const chunk = new Uint8Array(50).map(() => (next++ % 255) + 1);
      callers.push(chunk.slice());
      queue.push(chunk);
      while (queue.length > 64) take(64);
      queue.own();
    }
    take(queue.length);
    expect(taken).toEqual(callers.flatMap((chunk) => [...chunk]));
    expect(allocated.length).toBeGreaterThan(5);
    for (const array of allocated) expect(array.every((b) => b === 0)).toBe(true);
  });

  it("clear() zeroes what it owns and leaves the caller's chunk alone", () => {
    const allocated: Uint8Array[] = [];
    const queue = new ByteQueue((length) => {
      const array = new Uint8Array(length);
      allocated.push(array);
      return array;
    });
    const chunk = new Uint8Array(10).fill(7);
    queue.push(chunk);
    queue.own();
    queue.push(chunk);
    queue.clear();
    expect(allocated).toHaveLength(1);
    expect(allocated[0]!.every((b) => b === 0)).toBe(true);
    expect(chunk.every((b) => b === 7)).toBe(true);
  });
});
