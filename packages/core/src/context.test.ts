// Encryption contexts given as something other than a plain object: Object.entries sees none of a Map's entries, so
// a Map was encoded as the empty context (nothing bound) and, as the expected context, required nothing.

import { describe, expect, it } from "vitest";
import { contextContains, encodeContext } from "./context.js";

const tenant = new Map([["tenant", "acme"]]);

describe("contexts are plain objects", () => {
  it("encodeContext refuses a Map, an array, a Date and a boxed string; plain objects of any prototype pass", () => {
    for (const value of [tenant, [["tenant", "acme"]], new Date(0), new String("tenant")]) {
      expect(() => encodeContext(value as never)).toThrow(TypeError);
    }
    expect(() => encodeContext(tenant as never)).toThrow(
      '"context" expected a plain object of string pairs, got Map',
    );
    const nullProto = Object.assign(Object.create(null), { tenant: "acme" });
    expect(encodeContext(nullProto)).toEqual(encodeContext({ tenant: "acme" }));
  });

  it("contextContains refuses a Map on either side instead of answering true for any context", () => {
    expect(() => contextContains({ tenant: "globex" }, tenant as never)).toThrow(
      '"expected context" expected a plain object of string pairs, got Map',
    );
    expect(() => contextContains(tenant as never, {})).toThrow(TypeError);
    expect(contextContains({ tenant: "acme", extra: "x" }, { tenant: "acme" })).toBe(true);
    expect(contextContains({ tenant: "globex" }, { tenant: "acme" })).toBe(false);
  });
});
