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

  it("holds one array per 4 KiB, not one per write, when written a byte at a time (and gives every byte back)", () => {
    const queue = new ByteQueue();
    const frame = 65_536;
    const taken: number[] = [];
    let most = 0;
    for (let i = 0; i < 3 * frame + 5; i++) {
      queue.push(new Uint8Array([i & 0xff]));
      // As encryptStream does: strictly more than a frame buffered, take a frame.
      while (queue.length > frame) queue.takeAndWipe(frame, (bytes) => taken.push(...bytes));
      queue.own();
      most = Math.max(most, queue.chunkCount);
    }
    expect(most).toBeLessThanOrEqual(frame / 4096 + 2);
    queue.takeAndWipe(queue.length, (bytes) => taken.push(...bytes));
    expect(taken).toHaveLength(3 * frame + 5);
    expect(taken.every((b, i) => b === (i & 0xff))).toBe(true);
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
