import { describe, expect, it } from "vitest";
import { compileGlob, compileMatcher, globMatches, matches } from "./wildcard.js";

/** Reference matcher: dynamic programming over (pattern, value), obviously correct and quadratic. */
function reference(pattern: string, value: string): boolean {
  const m = pattern.length;
  const n = value.length;
  let row = new Array<boolean>(n + 1).fill(false);
  row[0] = true;
  for (let i = 1; i <= m; i++) {
    const p = pattern[i - 1];
    const next = new Array<boolean>(n + 1).fill(false);
    next[0] = p === "*" && row[0]!;
    for (let j = 1; j <= n; j++) {
      if (p === "*") next[j] = row[j]! || next[j - 1]!;
      else next[j] = row[j - 1]! && (p === "?" || p === value[j - 1]);
    }
    row = next;
  }
  return row[n]!;
}

/** A small deterministic PRNG so the cases are the same on every run. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("wildcard globs", () => {
  it.each([
    ["kms:GenerateDataKey*", "kms:generatedatakeywithoutplaintext", false],
    ["kms:GenerateDataKey*", "kms:GenerateDataKeyWithoutPlaintext", true],
    ["*", "", true],
    ["a*", "a", true],
    ["*a", "ba", true],
    ["a*b*c", "abc", true],
    ["a*b*c", "acb", false],
    ["a?c", "abc", true],
    ["a?c", "ac", false],
    ["a**b", "ab", true],
    ["ab*ba", "aba", false],
    ["*.*", "a.b", true],
    ["a.c", "abc", false],
  ])("%s vs %s is %s", (pattern, value, expected) => {
    expect(globMatches(compileGlob(pattern), value)).toBe(expected);
    expect(reference(pattern, value)).toBe(expected);
  });

  it("agrees with a reference matcher on 20,000 random pattern/value pairs", () => {
    const rand = prng(4);
    const alphabet = "ab:";
    const pick = (chars: string, len: number) =>
      Array.from({ length: len }, () => chars[Math.floor(rand() * chars.length)]).join("");
    let matched = 0;
    for (let i = 0; i < 20000; i++) {
      const pattern = pick(`${alphabet}*?`, Math.floor(rand() * 7));
      const value = pick(alphabet, Math.floor(rand() * 9));
      const got = globMatches(compileGlob(pattern), value);
      expect(got, `${pattern} vs ${value}`).toBe(reference(pattern, value));
      if (got) matched++;
    }
    // Both outcomes are well represented, so the agreement means something.
    expect(matched).toBeGreaterThan(2000);
    expect(matched).toBeLessThan(18000);
  });

  it("takes linear time on a pattern that makes backtracking RegExps explode", () => {
    const glob = compileGlob("*a*a*a*a*a*a*b");
    const value = "a".repeat(100_000);
    const start = performance.now();
    expect(globMatches(glob, value)).toBe(false);
    expect(performance.now() - start).toBeLessThan(250);
  });

  it("a matcher combines exact strings, globs and a lone star", () => {
    const m = compileMatcher(["kms:Decrypt", "kms:GenerateDataKey*"], true);
    expect(matches(m, "kms:decrypt")).toBe(true);
    expect(matches(m, "kms:generatedatakeypair")).toBe(true);
    expect(matches(m, "kms:encrypt")).toBe(false);
    expect(matches(compileMatcher(["*"]), "anything")).toBe(true);
  });
});
