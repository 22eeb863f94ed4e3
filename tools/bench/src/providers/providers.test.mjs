// Tests of the key-provider benchmark: its call counting, its table, and one short run through every real provider
// (so that `pnpm bench:providers` is known to work from a clean clone).

import { describe, expect, it } from "vitest";
import { markdownTable } from "../cipher/report.mjs";
import { countCalls, providersMarkdown, runProvidersBench } from "./providers.mjs";

describe("countCalls", () => {
  it("counts each call that reaches the provider and passes it through unchanged", async () => {
    const seen = [];
    const inner = {
      providerId: "p",
      canDecrypt: (edk) => edk.keyId === "k",
      generateDataKey: async (r) => {
        seen.push(["generate", r]);
        return "dk";
      },
      encryptDataKey: async (r) => {
        seen.push(["encrypt", r]);
        return ["edk"];
      },
      decryptDataKey: async (r) => {
        seen.push(["decrypt", r]);
        return "pt";
      },
    };
    const { provider, calls } = countCalls(inner);
    expect(provider.providerId).toBe("p");
    expect(provider.canDecrypt({ keyId: "k" })).toBe(true);
    expect(provider.canDecrypt({ keyId: "x" })).toBe(false);
    expect(await provider.generateDataKey({ length: 32 })).toBe("dk");
    expect(await provider.generateDataKey({ length: 16 })).toBe("dk");
    expect(await provider.encryptDataKey({ plaintext: 1 })).toEqual(["edk"]);
    expect(await provider.decryptDataKey({ encryptedDataKey: 2 })).toBe("pt");
    expect(calls).toEqual({ generateDataKey: 2, encryptDataKey: 1, decryptDataKey: 1 });
    expect(seen.map(([op]) => op)).toEqual(["generate", "generate", "encrypt", "decrypt"]);
  });
});

describe("providersMarkdown", () => {
  it("gives each rate as a ratio to the raw provider's, with milliseconds per message and calls", () => {
    const row = (id, cached, enc, dec, calls) => ({ id, name: id, cached, enc, dec, calls });
    const text = providersMarkdown(
      {
        rows: [
          row("raw", false, 2000, 4000, { enc: 1, dec: 1 }),
          row("kms", false, 100, 50, { enc: 1, dec: 1 }),
          row("kms", true, 1000, 2000, { enc: 0.125, dec: 0 }),
        ],
      },
      { markdownTable },
    );
    const lines = text.split("\n");
    expect(lines).toHaveLength(5);
    expect(lines[2]).toMatch(
      /^\| raw +\| 2,000 +\| 4,000 +\| 0\.500 +\| 0\.250 +\| 1\.00x +\| 1\.00x +\| 1 \/ 1 +\|$/,
    );
    expect(lines[3]).toMatch(
      /^\| kms +\| 100 +\| 50 +\| 10\.00 +\| 20\.00 +\| 0\.050x +\| 0\.013x +\| 1 \/ 1 +\|$/,
    );
    expect(lines[4]).toMatch(
      /^\| kms \+ cachingProvider +\| 1,000 +\| 2,000 +\| 1\.00 +\| 0\.500 +\| 0\.50x +\| 0\.50x +\| 0\.125 \/ 0 +\|$/,
    );
  });
});

describe("runProvidersBench", () => {
  it("round-trips messages through every provider, and the cache keeps every call away from the provider", async () => {
    const result = await runProvidersBench({ count: 4, rounds: 1 });
    // In CI every real part is installed and built: nothing may be skipped there.
    if (process.env.CI) expect(result.skipped).toEqual([]);
    const measured = new Set(result.rows.map((r) => r.id));
    expect(measured.has("raw") && measured.has("local")).toBe(true);
    expect(result.rows.length).toBe(2 * measured.size);
    for (const row of result.rows) {
      expect(row.enc).toBeGreaterThan(0);
      expect(row.dec).toBeGreaterThan(0);
      // Uncached: one data key generated per envelope, one unwrapped per decryption. Cached (after the warm-up):
      // none at all.
      expect(row.calls).toEqual(row.cached ? { enc: 0, dec: 0 } : { enc: 1, dec: 1 });
    }
  }, 180_000);
});
