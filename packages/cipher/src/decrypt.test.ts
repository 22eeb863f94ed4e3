// One-shot and range decryption of a damaged AES-256-GCM envelope: frames still being opened when another failed
// must not write plaintext into the buffer after it was wiped. The content cipher is wrapped (not replaced) to see
// the buffers it writes into.

import { AUTHENTICATION_FAILED_MESSAGE, parseHeader, rawKeyProvider } from "@sealkit/core";
import { describe, expect, it, vi } from "vitest";
import { decrypt } from "./decrypt.js";
import { decryptRange } from "./decrypt-range.js";
import { encrypt } from "./encrypt.js";
import { bytesSource } from "./sources.js";
import { ciphers } from "./testing/content-cipher-spy.js";

vi.mock("./lib/content-cipher.js", async (importOriginal) =>
  (await import("./testing/content-cipher-spy.js")).spyOnContentCiphers(await importOriginal()),
);

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
  ciphers.reset();
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
    expect(ciphers.opened.size).toBeGreaterThan(0);
    for (const buffer of ciphers.opened) expect(allZero(buffer)).toBe(true);
  });

  it("decryptRange", async () => {
    const envelope = await damaged();
    await expect(
      decryptRange(bytesSource(envelope), { providers: [provider()], start: 10, end: 40 * 64 - 10 }),
    ).rejects.toThrow(AUTHENTICATION_FAILED_MESSAGE);
    await tick();
    expect(ciphers.opened.size).toBeGreaterThan(0);
    for (const buffer of ciphers.opened) expect(allZero(buffer)).toBe(true);
  });
});

describe("decrypt walks the frame structure in constant memory", () => {
  // The JS heap after a full collection (Node's v8 and vm, reached without importing node:*: the sources and their
  // tests compile against web types only).
  const nodeProcess = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const heapAfterGc = (): number => {
    const v8 = nodeProcess!.getBuiltinModule!("node:v8") as {
      setFlagsFromString(flags: string): void;
      getHeapStatistics(): { used_heap_size: number };
    };
    v8.setFlagsFromString("--expose-gc");
    const gc = (
      nodeProcess!.getBuiltinModule!("node:vm") as { runInNewContext(code: string): () => void }
    ).runInNewContext("gc");
    gc();
    gc();
    return v8.getHeapStatistics().used_heap_size;
  };

  it.runIf(typeof nodeProcess?.getBuiltinModule === "function")(
    "keeps nothing per frame while it asks for the data key (the body is not authenticated yet)",
    async () => {
      // 8 MiB in frames of 64 bytes: about 131,000 frames. The structure is checked before any key is opened, so
      // anyone can send such a body; a record per frame held there costs about 1.2 bytes of heap per envelope
      // byte, and a big enough envelope exhausts the heap (a fatal error, not an exception) before any check.
      const envelope = await encrypt(new Uint8Array(8 * 1024 * 1024), {
        providers: [provider()],
        frameSize: 64,
      });
      const inner = provider();
      let during = 0;
      const measuring = {
        ...inner,
        providerId: inner.providerId,
        async decryptDataKey(request: Parameters<typeof inner.decryptDataKey>[0]) {
          during = heapAfterGc();
          return inner.decryptDataKey(request);
        },
        canDecrypt: inner.canDecrypt,
      };
      const before = heapAfterGc();
      const { plaintext } = await decrypt(envelope, { providers: [measuring] });
      expect(plaintext.length).toBe(8 * 1024 * 1024);
      expect(during - before).toBeLessThan(2 * 1024 * 1024);
    },
  );
});

describe("decrypt when the caller changes the envelope during the provider call", () => {
  for (const suite of ["XCHACHA20_POLY1305", "AES_256_GCM"] as const) {
    it(`${suite}: a typed error, never a write out of bounds`, async () => {
      const envelope = await encrypt(new Uint8Array(1000).fill(1), {
        providers: [provider()],
        suite,
        frameSize: 64,
      });
      const headerLength = parseHeader(envelope).length;
      // Mutations of the structure: frame 3 turned into a final frame of 64 bytes (the message ends early), the
      // final frame's length grown, a regular frame's flag made unknown.
      const lastFrame = headerLength + 15 * 81;
      const mutations: ((e: Uint8Array) => void)[] = [
        (e) => {
          e[headerLength + 2 * 81] = 1;
        },
        (e) => {
          e[lastFrame + 4] = 64;
        },
        (e) => {
          e[headerLength + 81] = 7;
        },
      ];
      for (const mutate of mutations) {
        const copy = envelope.slice();
        const inner = provider();
        const meddling = {
          ...inner,
          providerId: inner.providerId,
          async decryptDataKey(request: Parameters<typeof inner.decryptDataKey>[0]) {
            mutate(copy);
            return inner.decryptDataKey(request);
          },
          canDecrypt: inner.canDecrypt,
        };
        const error = await decrypt(copy, { providers: [meddling] }).catch((e: unknown) => e);
        expect(error).toMatchObject({ name: "SealkitError" });
      }
    });
  }
});
