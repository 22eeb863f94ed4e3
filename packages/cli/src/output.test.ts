import { afterEach, describe, expect, it, vi } from "vitest";
import { printJson, safeJson } from "./output.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("printJson", () => {
  it("writes DEL, C1 and bidi controls as \\u escapes: the same JSON, nothing a terminal acts on", () => {
    // U+009B is CSI: "\u009b2J" clears some terminals as ESC [ 2 J does; U+202E reverses the text after it.
    const value = {
      principal: "arn:aws:iam::111122223333:user/\u009b2J\u202eevil",
      context: { k: "a\u007fb\u0085" },
    };
    let written = "";
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      written += String(chunk);
      return true;
    });
    printJson(value);
    expect(written).not.toMatch(/[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(written).toContain("user/\\u009b2J\\u202eevil");
    expect(written).toContain('"a\\u007fb\\u0085"');
    expect(JSON.parse(written)).toEqual(value);
  });

  it("leaves other text as JSON.stringify writes it", () => {
    const json = JSON.stringify({ a: "é ñ 日本 \u00a0 \u2028", b: "\u001b[31m" });
    expect(safeJson(json)).toBe(json);
  });
});
