// Streams fed Node Buffers, as Node pipelines write them: Buffer.prototype.slice returns a view, not a copy, so a
// stream that copied the bytes it keeps with .slice() kept views of the writer's buffer instead.

import { rawKeyProvider, type SuiteName } from "@sealkit/core";
import { describe, expect, it } from "vitest";
import { decrypt, decryptStream, encrypt, encryptStream } from "../../src/index.js";

const SUITES: SuiteName[] = ["XCHACHA20_POLY1305", "AES_256_GCM"];
const providers = [rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(4) })];

function pattern(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 13 + (i >> 7)) & 0xff;
  return out;
}

/** Writes `input` through `stream` in chunks copied one after another into the same Buffer, reading all output. */
async function throughOneBuffer(
  stream: TransformStream<Uint8Array, Uint8Array>,
  input: Uint8Array,
  chunk: number,
): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  const reader = stream.readable.getReader();
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parts.push(value);
    }
  })();
  reading.catch(() => {});
  const writer = stream.writable.getWriter();
  const buffer = Buffer.alloc(chunk);
  for (let at = 0; at < input.length; at += chunk) {
    const n = Math.min(chunk, input.length - at);
    buffer.set(input.subarray(at, at + n));
    await writer.write(buffer.subarray(0, n));
  }
  await writer.close();
  await reading;
  return Buffer.concat(parts);
}

describe("streams written with one reused Node Buffer", () => {
  for (const suite of SUITES) {
    it(`${suite}: encryptStream encrypts the bytes that were written, not what the Buffer holds later`, async () => {
      const plaintext = pattern(5_000);
      const envelope = await throughOneBuffer(
        encryptStream({ providers, suite, frameSize: 64 }),
        plaintext,
        100,
      );
      const opened = await decrypt(new Uint8Array(envelope), { providers });
      expect(Buffer.from(opened.plaintext).equals(Buffer.from(plaintext))).toBe(true);
    });

    it(`${suite}: decryptStream opens a valid envelope whose chunks share one Buffer`, async () => {
      const plaintext = pattern(5_000);
      const envelope = await encrypt(plaintext, { providers, suite, frameSize: 64 });
      let messageId = "";
      let header: { messageId: Uint8Array } | undefined;
      const stream = decryptStream({
        providers,
        onHeader: (h) => {
          header = h;
          messageId = Buffer.from(h.messageId).toString("hex");
        },
      });
      // Chunks of 1,000 bytes: the header lies inside the first one, and 64-byte frames straddle chunks.
      const out = await throughOneBuffer(stream, envelope, 1000);
      expect(out.equals(Buffer.from(plaintext))).toBe(true);
      // The header handed to onHeader is the stream's own copy: the writer reusing its Buffer does not change it.
      expect(Buffer.from(header!.messageId).toString("hex")).toBe(messageId);
    });

    it(`${suite}: a stream aborted with bytes held back never writes into the writer's Buffer`, async () => {
      const envelope = await encrypt(pattern(500), { providers, suite, frameSize: 64 });
      for (const [stream, bytes] of [
        [encryptStream({ providers, suite, frameSize: 64 }), pattern(10)],
        [decryptStream({ providers }), envelope.subarray(0, 10)],
      ] as const) {
        const reader = stream.readable.getReader();
        const reading = (async () => {
          while (!(await reader.read()).done);
        })();
        reading.catch(() => {});
        const writer = stream.writable.getWriter();
        const buffer = Buffer.from(bytes);
        await writer.write(buffer);
        await writer.abort(new Error("stop"));
        // The stream wipes the copies it made of held-back bytes; the writer's own memory is the writer's.
        expect([...buffer]).toEqual([...bytes]);
      }
    });
  }
});
