// Key material left in the WebAssembly heap that every call shares: after one-shot, streaming and range work in
// both suites (successes, a failed frame and a cancelled stream), neither the data key, nor the HKDF PRK, nor the
// content key is anywhere in the heap, and the heap does not grow from call to call.

import { concatBytes, deriveMessageKeys, parseHeader, rawKeyProvider, type SuiteName } from "@sealkit/core";
import { describe, expect, it } from "vitest";
import { decrypt } from "./decrypt.js";
import { decryptRange } from "./decrypt-range.js";
import { decryptStream } from "./decrypt-stream.js";
import { encrypt } from "./encrypt.js";
import { encryptStream } from "./encrypt-stream.js";
import { getSodium } from "./lib/sodium.js";
import { bytesSource } from "./sources.js";

const SUITES: SuiteName[] = ["XCHACHA20_POLY1305", "AES_256_GCM"];
const provider = rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(2) });
const providers = [provider];

function occurrences(heap: Uint8Array, needle: Uint8Array): number {
  let n = 0;
  for (let i = heap.indexOf(needle[0]!); i !== -1; i = heap.indexOf(needle[0]!, i + 1)) {
    let j = 1;
    while (j < needle.length && heap[i + j] === needle[j]) j++;
    if (j === needle.length) n++;
  }
  return n;
}

async function through(
  stream: TransformStream<Uint8Array, Uint8Array>,
  input: Uint8Array,
): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  writer.write(input).catch(() => {});
  writer.close().catch(() => {});
  const parts: Uint8Array[] = [];
  const reader = stream.readable.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return concatBytes(...parts);
      parts.push(value);
    }
  } catch {
    return concatBytes(...parts);
  }
}

/** The secrets of one envelope: its data key (opened through the provider), the PRK and the content key. */
async function secretsOf(envelope: Uint8Array): Promise<Uint8Array[]> {
  const header = parseHeader(envelope);
  const dataKey = await provider.decryptDataKey({
    encryptedDataKey: header.encryptedDataKeys[0]!,
    context: header.context,
  });
  const hmac = await crypto.subtle.importKey(
    "raw",
    header.messageId as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const prk = new Uint8Array(await crypto.subtle.sign("HMAC", hmac, dataKey as BufferSource));
  const { contentKey } = await deriveMessageKeys(dataKey, header.messageId, header.suite);
  return [dataKey, prk, contentKey];
}

describe("no key material stays in the WebAssembly heap", () => {
  for (const suite of SUITES) {
    it(`${suite}: after every API, a failed frame and a cancelled stream`, async () => {
      const plaintext = new Uint8Array(5000).fill(0x41);
      const envelopes = [
        await encrypt(plaintext, { providers, suite, frameSize: 64 }),
        await through(encryptStream({ providers, suite, frameSize: 64 }), plaintext),
      ];
      for (const envelope of envelopes) {
        expect((await decrypt(envelope, { providers })).plaintext).toEqual(plaintext);
        expect(await through(decryptStream({ providers }), envelope)).toEqual(plaintext);
        await decryptRange(bytesSource(envelope), { providers, start: 100, end: 4000 });
        const damaged = envelope.slice();
        damaged[damaged.length - 1]! ^= 1;
        await expect(decrypt(damaged, { providers })).rejects.toThrow();
        await through(decryptStream({ providers }), damaged);
        const cancelled = decryptStream({ providers });
        cancelled.writable
          .getWriter()
          .write(envelope.subarray(0, 3000))
          .catch(() => {});
        const reader = cancelled.readable.getReader();
        await reader.read();
        await reader.cancel();
      }
      const heap = (await getSodium()).heap();
      const secrets = (await Promise.all(envelopes.map(secretsOf))).flat();
      expect(secrets).toHaveLength(6);
      for (const secret of secrets) expect(occurrences(heap, secret)).toBe(0);
    });

    it(`${suite}: the heap does not grow over 200 messages`, async () => {
      const before = (await getSodium()).heap().length;
      for (let i = 0; i < 200; i++) {
        const envelope = await encrypt(new Uint8Array(3000), { providers, suite, frameSize: 1024 });
        await decrypt(envelope, { providers });
      }
      expect((await getSodium()).heap().length).toBe(before);
    });
  }
});
