// One-shot and range decryption of a damaged AES-256-GCM envelope: frames still being opened when another failed
// must not write plaintext into the buffer after it was wiped. The content cipher is wrapped (not replaced) to see
// the buffers it writes into.

import { AUTHENTICATION_FAILED_MESSAGE, parseHeader, rawKeyProvider } from "@sealkit/core";
import { describe, expect, it, vi } from "vitest";
import { decrypt } from "./decrypt.js";
import { decryptRange } from "./decrypt-range.js";
import { encrypt } from "./encrypt.js";
import { bytesSource } from "./sources.js";

const written = vi.hoisted(() => ({ buffers: new Set<Uint8Array>() }));
vi.mock("./lib/content-cipher.js", async (importOriginal) => {
  const mod = await importOriginal<typeof import("./lib/content-cipher.js")>();
  return {
    ...mod,
    async createContentCipher(...args: Parameters<typeof mod.createContentCipher>) {
      const cipher = await mod.createContentCipher(...args);
      return {
        ...cipher,
        open(...openArgs: Parameters<typeof cipher.open>) {
          written.buffers.add(openArgs[3]);
          return cipher.open(...openArgs);
        },
      };
    },
  };
});

const provider = () => rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(8) });
const tick = () => new Promise((resolve) => setTimeout(resolve, 50));

/** 40 frames of 64 bytes of 0x5a, under AES-256-GCM, with the tag of frame 2 flipped. */
async function damaged(): Promise<Uint8Array> {
  const envelope = await encrypt(new Uint8Array(40 * 64).fill(0x5a), {
    providers: [provider()],
    suite: "AES_256_GCM",
    frameSize: 64,
  });
  const headerLength = parseHeader(envelope).length;
  envelope[headerLength + 2 * 81 - 1]! ^= 1;
  written.buffers.clear();
  return envelope;
}

const allZero = (bytes: Uint8Array) => bytes.every((b) => b === 0);

describe("a frame that fails leaves no plaintext behind (AES-256-GCM, frames in flight)", () => {
  it("decrypt", async () => {
    const envelope = await damaged();
    await expect(decrypt(envelope, { providers: [provider()] })).rejects.toThrow(
      AUTHENTICATION_FAILED_MESSAGE,
    );
    await tick();
    expect(written.buffers.size).toBeGreaterThan(0);
    for (const buffer of written.buffers) expect(allZero(buffer)).toBe(true);
  });

  it("decryptRange", async () => {
    const envelope = await damaged();
    await expect(
      decryptRange(bytesSource(envelope), { providers: [provider()], start: 10, end: 40 * 64 - 10 }),
    ).rejects.toThrow(AUTHENTICATION_FAILED_MESSAGE);
    await tick();
    expect(written.buffers.size).toBeGreaterThan(0);
    for (const buffer of written.buffers) expect(allZero(buffer)).toBe(true);
  });
});
