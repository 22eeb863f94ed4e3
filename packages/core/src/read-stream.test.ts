import { describe, expect, it } from "vitest";
import { readAtMost } from "./read-stream.js";

/** A stream of `chunks`, recording whether it was cancelled and why. */
function streamOf(chunks: Uint8Array[], endless = false) {
  const state: { cancelled: boolean; reason: unknown; pulled: number } = {
    cancelled: false,
    reason: undefined,
    pulled: 0,
  };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks[state.pulled++];
      if (next) controller.enqueue(next);
      else if (!endless) controller.close();
    },
    cancel(reason) {
      state.cancelled = true;
      state.reason = reason;
    },
  });
  return { stream, state };
}

describe("readAtMost", () => {
  it("reads a stream up to and including the limit into one array", async () => {
    const { stream } = streamOf([Uint8Array.of(1, 2), Uint8Array.of(3), Uint8Array.of(4, 5)]);
    expect(await readAtMost(stream, 5)).toEqual(Uint8Array.of(1, 2, 3, 4, 5));
    expect(await readAtMost(streamOf([]).stream, 0)).toEqual(new Uint8Array(0));
  });

  it("cancels a stream that runs past the limit and gives undefined", async () => {
    const { stream, state } = streamOf([Uint8Array.of(1, 2), Uint8Array.of(3, 4)], true);
    expect(await readAtMost(stream, 3)).toBeUndefined();
    expect(state.cancelled).toBe(true);
    expect(state.pulled).toBe(2);
  });

  it("reads 300,000 one-byte chunks (spreading them into concatBytes threw a RangeError)", async () => {
    const chunks = Array.from({ length: 300_000 }, (_, i) => Uint8Array.of(i & 0xff));
    const bytes = await readAtMost(streamOf(chunks).stream, 300_000);
    expect(bytes?.length).toBe(300_000);
    expect(bytes?.[299_999]).toBe(299_999 & 0xff);
  });

  it("throws a failed read as it is", async () => {
    const failure = new Error("connection reset");
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(failure);
      },
    });
    await expect(readAtMost(stream, 10)).rejects.toBe(failure);
  });

  it("an abort cancels a read that would never settle, with the signal's reason", async () => {
    const { stream, state } = streamOf([Uint8Array.of(1)], true);
    const controller = new AbortController();
    const reading = readAtMost(stream, 10, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 10));
    const reason = new Error("stop");
    controller.abort(reason);
    await expect(reading).rejects.toBe(reason);
    expect(state).toMatchObject({ cancelled: true, reason });
    // Already aborted: the stream is cancelled without a read.
    const late = streamOf([Uint8Array.of(1)]);
    await expect(readAtMost(late.stream, 10, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(late.state).toMatchObject({ cancelled: true, pulled: 0 });
  });

  it("wipes the chunks once copied, or once dropped past the limit, when asked", async () => {
    const chunks = [Uint8Array.of(7, 7), Uint8Array.of(8)];
    expect(await readAtMost(streamOf(chunks).stream, 3, { wipeChunks: true })).toEqual(
      Uint8Array.of(7, 7, 8),
    );
    expect(chunks).toEqual([Uint8Array.of(0, 0), Uint8Array.of(0)]);
    const single = [Uint8Array.of(9, 9)];
    const copy = await readAtMost(streamOf(single).stream, 3, { wipeChunks: true });
    expect([copy, single[0]]).toEqual([Uint8Array.of(9, 9), Uint8Array.of(0, 0)]);
    const over = [Uint8Array.of(5, 5), Uint8Array.of(6, 6)];
    expect(await readAtMost(streamOf(over, true).stream, 3, { wipeChunks: true })).toBeUndefined();
    expect(over).toEqual([Uint8Array.of(0, 0), Uint8Array.of(0, 0)]);
  });
});
