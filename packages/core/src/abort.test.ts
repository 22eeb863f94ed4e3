import { describe, expect, it } from "vitest";
import { untilAborted } from "./abort.js";

describe("untilAborted", () => {
  it("settles as the promise does when nothing aborts", async () => {
    const controller = new AbortController();
    await expect(untilAborted(Promise.resolve(7), controller.signal)).resolves.toBe(7);
    const error = new Error("failed");
    await expect(untilAborted(Promise.reject(error), controller.signal)).rejects.toBe(error);
    await expect(untilAborted(Promise.resolve(8), undefined)).resolves.toBe(8);
  });

  it("rejects with the reason when the signal aborts first, or was aborted before", async () => {
    const reason = new Error("gone");
    const controller = new AbortController();
    const waiting = untilAborted(new Promise(() => {}), controller.signal);
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(untilAborted(Promise.resolve(1), AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it("removes its listener once the promise settles", async () => {
    const controller = new AbortController();
    let listeners = 0;
    const add = controller.signal.addEventListener.bind(controller.signal);
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.addEventListener = (...args: Parameters<typeof add>) => {
      listeners++;
      add(...args);
    };
    controller.signal.removeEventListener = (...args: Parameters<typeof remove>) => {
      listeners--;
      remove(...args);
    };
    await untilAborted(Promise.resolve(1), controller.signal);
    await untilAborted(Promise.reject(new Error("x")), controller.signal).catch(() => {});
    expect(listeners).toBe(0);
  });
});
