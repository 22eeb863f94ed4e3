import { describe, expect, it } from "vitest";
import { createRateLimiter } from "./rate-limiter.js";

describe("createRateLimiter", () => {
  it("gives each principal a burst, then refills at perSecond", () => {
    let now = 0;
    const take = createRateLimiter({ perSecond: 2, burst: 2 }, () => now);
    expect([take("a"), take("a"), take("a")]).toEqual([0, 0, 1]);
    expect(take("b")).toBe(0);
    now += 500;
    expect([take("a"), take("a")]).toEqual([0, 1]);
  });

  it("forgets the least recently seen principal beyond maxPrincipals", () => {
    const take = createRateLimiter({ perSecond: 1, burst: 1, maxPrincipals: 2 }, () => 0);
    expect([take("a"), take("b"), take("a")]).toEqual([0, 0, 1]);
    take("c"); // forgets b, not a (a was seen after b)
    expect(take("a")).toBe(1);
    expect(take("b")).toBe(0);
  });

  it.each([
    ["NaN (an unset environment variable through Number), which turned the bound off", Number.NaN],
    ["0", 0],
    ["a fraction", 1.5],
  ])("refuses maxPrincipals %s", (_name, maxPrincipals) => {
    expect(() => createRateLimiter({ perSecond: 1, burst: 1, maxPrincipals })).toThrow(/maxPrincipals/);
  });

  it.each([
    ["perSecond 0", { perSecond: 0, burst: 1 }],
    ["perSecond NaN", { perSecond: Number.NaN, burst: 1 }],
    ["burst 0", { perSecond: 1, burst: 0 }],
  ])("refuses %s", (_name, limit) => {
    expect(() => createRateLimiter(limit)).toThrow(RangeError);
  });
});
