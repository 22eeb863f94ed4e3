// Tests of the benchmark's own arithmetic: medians, the pattern source, read analysis, targets, BENCHMARKS.md edits.

import { describe, expect, it } from "vitest";
import { replaceSection } from "./benchmarks-md.mjs";
import { PatternSource } from "./data.mjs";
import { median } from "./measure.mjs";
import { analyseReads } from "./range.mjs";
import { evaluateTargets } from "./report.mjs";

describe("median", () => {
  it("takes the middle value, or the mean of the two middle ones", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe("PatternSource", () => {
  it("gives the same bytes for a range however it is cut", () => {
    const p = new PatternSource(3);
    const whole = p.slice(p.period - 100, p.period + 100);
    const left = p.slice(p.period - 100, p.period);
    const right = p.slice(p.period, p.period + 100);
    expect([...whole]).toEqual([...left, ...right]);
    expect(p.slice(5, 37)).toEqual(p.slice(p.period + 5, p.period + 37));
  });
});

describe("analyseReads", () => {
  const frameSize = 1000;
  const regular = frameSize + 17;
  const headerLength = 200;
  const frameAt = (f) => headerLength + (f - 1) * regular;

  it("accepts reads of the header and exactly the frames holding the range", () => {
    // Range [2500, 4500) lies in frames 3, 4 and 5.
    const reads = [
      [0, headerLength],
      [frameAt(3), 3 * regular],
    ];
    const r = analyseReads(reads, { headerLength, frameSize, start: 2500, end: 4500 });
    expect(r.neededFrames).toBe(3);
    expect(r.framesReadInFull).toBe(3);
    expect(r.extraBytes).toBe(0);
    expect(r.onlyNeededFrames).toBe(true);
  });

  it("flags a frame read whole outside the range", () => {
    const reads = [
      [0, headerLength],
      [frameAt(2), 4 * regular],
    ];
    const r = analyseReads(reads, { headerLength, frameSize, start: 2500, end: 4500 });
    expect(r.framesReadOutsideRange).toEqual([2]);
    expect(r.extraBytes).toBe(regular);
    expect(r.onlyNeededFrames).toBe(false);
  });

  it("counts overlapping reads once and tolerates a header probe shorter than a frame", () => {
    const reads = [
      [0, 512],
      [0, headerLength],
      [frameAt(3), regular],
    ];
    const r = analyseReads(reads, { headerLength, frameSize, start: 2000, end: 3000 });
    expect(r.bytesRead).toBe(512 + regular);
    expect(r.framesTouchedInPart).toEqual([1]);
    expect(r.onlyNeededFrames).toBe(true);
  });
});

describe("evaluateTargets", () => {
  const result = (id, op, mbps) => ({ workload: "bulk", id, op, mbps, name: id });
  it("compares ratios against their minimum and skips absent baselines", () => {
    const results = [result("sealkit-xchacha", "encrypt", 90), result("libsodium", "encrypt", 100)];
    const targets = evaluateTargets(results, [
      ["sealkit-xchacha", "libsodium", 1.0, ["bulk"]],
      ["sealkit-xchacha", "aws-sdk", 3.0, ["bulk"]],
    ]);
    expect(targets).toHaveLength(1);
    expect(targets[0].ratio).toBeCloseTo(0.9);
    expect(targets[0].met).toBe(false);
  });
});

describe("replaceSection", () => {
  it("replaces only its own section and keeps the others byte for byte", () => {
    const md =
      "# B\n\nintro\n\n## KMS server\n\nkms table\n\n## Cipher\n\nold\n\n### sub\n\nx\n\n## HSM\n\nhsm\n";
    expect(replaceSection(md, "## Cipher", "new")).toBe(
      "# B\n\nintro\n\n## KMS server\n\nkms table\n\n## Cipher\n\nnew\n\n## HSM\n\nhsm\n",
    );
  });

  it("appends the section when it is missing", () => {
    expect(replaceSection("# B\n\nintro\n", "## Cipher", "new")).toBe("# B\n\nintro\n\n## Cipher\n\nnew\n");
  });
});
