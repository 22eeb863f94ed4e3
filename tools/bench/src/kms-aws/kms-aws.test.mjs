// Tests of the kms-aws benchmark's report: ratios against the AWS SDK's default row and the KMS call counts.

import { describe, expect, it } from "vitest";
import { markdownTable } from "../cipher/report.mjs";
import { kmsAwsMarkdown } from "./kms-aws.mjs";

describe("kmsAwsMarkdown", () => {
  it("gives each stack's encryption rate as a ratio to the SDK default and lists the KMS calls", () => {
    const row = (id, enc, calls) => ({
      id,
      name: id,
      enc: { messages: 10, perSecond: enc, calls },
      dec: { messages: 10, perSecond: enc / 2, calls: {} },
    });
    const text = kmsAwsMarkdown(
      { rows: [row("sealkit-cached", 2000, {}), row("esdk", 40, { GenerateDataKey: 10 })] },
      { markdownTable },
    );
    const lines = text.split("\n");
    expect(lines[2]).toMatch(
      /\| sealkit-cached +\| 2,000 +\| 1,000 +\| 50\.0x +\| 10: none +\| 10: none +\|/,
    );
    expect(lines[3]).toMatch(/\| esdk +\| 40 +\| 20 +\| 1\.0x +\| 10: GenerateDataKey 10 +\|/);
  });
});
