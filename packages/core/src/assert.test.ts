// abytes at every package's boundary: shared memory (which Web Crypto refuses, and another thread may change) and
// detached buffers (which read as zero bytes) are TypeErrors, not inputs.

import { describe, expect, it } from "vitest";
import { abytes } from "./assert.js";
import { rawKeyProvider } from "./raw-provider.js";

describe("abytes", () => {
  it("refuses a view of a SharedArrayBuffer, with how to fix it", () => {
    const shared = new Uint8Array(new SharedArrayBuffer(32));
    expect(() => abytes(shared, "key")).toThrow(
      '"key" expected a Uint8Array over an ArrayBuffer, got one over a SharedArrayBuffer (copy it first)',
    );
    // Where core takes bytes: a raw key in shared memory is refused when the provider is made.
    expect(() => rawKeyProvider({ keyId: "k", key: shared })).toThrow(TypeError);
    expect(abytes(new Uint8Array(shared), "key")).toHaveLength(32);
  });

  it("refuses a view of a detached buffer, which would read as empty input", () => {
    const bytes = new Uint8Array(16);
    structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
    expect(bytes.byteLength).toBe(0);
    expect(() => abytes(bytes, "plaintext")).toThrow('"plaintext" is a view of a detached ArrayBuffer');
    // An empty view of a live buffer is still fine.
    expect(abytes(new Uint8Array(0), "plaintext")).toHaveLength(0);
    expect(abytes(new Uint8Array(8).subarray(8), "plaintext")).toHaveLength(0);
  });
});
