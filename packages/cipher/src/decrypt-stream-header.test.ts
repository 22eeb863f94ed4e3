// decryptStream reading a long header in small chunks: how often it parses what it has so far. (A header of many
// encrypted data keys, allowed by a raised maxEncryptedDataKeys, was parsed again at every field: 20 s for 2,000 keys
// written a byte at a time, 4 minutes for 8,000.)

import type * as core from "@sealkit/core";
import { type EncryptedDataKey, encodeHeader, parseHeader, rawKeyProvider } from "@sealkit/core";
import { describe, expect, it, vi } from "vitest";
import { decryptStream } from "./decrypt-stream.js";
import { encrypt } from "./encrypt.js";

const parses = { count: 0 };
vi.mock("@sealkit/core", async (importOriginal) => {
  const original = await importOriginal<typeof core>();
  return {
    ...original,
    tryParseHeader(...args: Parameters<typeof original.tryParseHeader>) {
      parses.count++;
      return original.tryParseHeader(...args);
    },
  };
});

const providers = [rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(3) })];

/** `envelope` with `extra` encrypted data keys no provider opens after its own (the list is outside the header tag). */
function withExtraKeys(envelope: Uint8Array, extra: number): Uint8Array {
  const header = parseHeader(envelope);
  const contextLength = new DataView(envelope.buffer, envelope.byteOffset).getUint16(43);
  const keys: EncryptedDataKey[] = [
    header.encryptedDataKeys[0]!,
    ...Array.from({ length: extra }, () => ({
      providerId: "x",
      keyId: "y",
      ciphertext: new Uint8Array([1]),
    })),
  ];
  const longer = encodeHeader(
    envelope.subarray(0, 45 + contextLength),
    header.commitment,
    header.headerTag,
    keys,
  );
  const out = new Uint8Array(longer.length + envelope.length - header.length);
  out.set(longer);
  out.set(envelope.subarray(header.length), longer.length);
  return out;
}

describe("decryptStream and a long header in small chunks", () => {
  for (const [chunk, keys] of [
    [1, 2000],
    [64, 8000],
  ] as const) {
    it(`parses ${keys} encrypted data keys in ${chunk}-byte chunks a logarithmic number of times`, async () => {
      const plaintext = new Uint8Array(300).fill(9);
      const envelope = withExtraKeys(await encrypt(plaintext, { providers, frameSize: 64 }), keys);
      const headerLength = parseHeader(envelope, { maxEncryptedDataKeys: 65_535 }).length;
      parses.count = 0;
      let seen = 0;
      const stream = decryptStream({
        providers,
        maxEncryptedDataKeys: 65_535,
        onHeader: (header) => {
          seen = header.encryptedDataKeys.length;
        },
      });
      const writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      const parts: number[] = [];
      const reading = (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          parts.push(...value);
        }
      })();
      for (let at = 0; at < envelope.length; at += chunk)
        await writer.write(envelope.subarray(at, at + chunk));
      await writer.close();
      await reading;
      expect(parts).toEqual([...plaintext]);
      expect(seen).toBe(keys + 1);
      // Each parse of an incomplete header waits for at least twice the bytes: about log2(header length) parses.
      expect(parses.count).toBeLessThanOrEqual(Math.ceil(Math.log2(headerLength)) + 4);
    }, 30_000);
  }

  it("a header cut where the next parse would have been still gets its code at the end of the input", async () => {
    const envelope = await encrypt(new Uint8Array(10), { providers });
    const headerLength = parseHeader(envelope).length;
    for (const cut of [3, 50, headerLength - 1]) {
      const stream = decryptStream({ providers });
      const writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      const reading = reader.read();
      for (let at = 0; at < cut; at++) writer.write(envelope.subarray(at, at + 1)).catch(() => {});
      writer.close().catch(() => {});
      await expect(reading).rejects.toMatchObject({ code: "ERR_TRUNCATED" });
    }
    // A whole envelope shorter than twice its header, in 1-byte chunks: decrypted at the end of the input.
    const stream = decryptStream({ providers });
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    for (let at = 0; at < envelope.length; at++) writer.write(envelope.subarray(at, at + 1)).catch(() => {});
    writer.close().catch(() => {});
    const { value } = await reader.read();
    expect(value).toEqual(new Uint8Array(10));
    expect((await reader.read()).done).toBe(true);
  });
});
