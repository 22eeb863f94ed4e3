// Test-only: wraps (does not replace) the content ciphers a test file creates, to count the live ones and see the
// buffers frames are opened into. Not exported from the package. Use it from a test file as
//
//   vi.mock("./lib/content-cipher.js", async (importOriginal) =>
//     (await import("./testing/content-cipher-spy.js")).spyOnContentCiphers(await importOriginal()),
//   );
//   import { ciphers } from "./testing/content-cipher-spy.js";
//
// (vi.mock is hoisted above the imports, so its factory reaches this module through a dynamic import; vitest gives
// both imports the same instance within one test file.)

import type * as ContentCipherModule from "../lib/content-cipher.js";

/** What the wrapped ciphers saw since the last `reset()`. */
export const ciphers = {
  /** Ciphers created. */
  created: 0,
  /** Ciphers created and not yet disposed. */
  live: 0,
  /** Every buffer a frame was opened into (or, with openDetached, opened as). */
  opened: new Set<Uint8Array>(),
  /** Every plaintext a frame was sealed from. */
  sealed: [] as Uint8Array[],
  /**
   * When set, an asynchronous (AES-GCM) open settles only once the frame is decrypted into its buffer and the promise
   * this returns for the frame's index settled: frames decrypted and verified but still in flight, on demand.
   */
  gate: undefined as ((index: number) => Promise<void>) | undefined,
  reset(): void {
    this.created = 0;
    this.live = 0;
    this.opened.clear();
    this.sealed = [];
    this.gate = undefined;
  },
};

/** The content-cipher module with createContentCipher wrapped to record into `ciphers`. */
export function spyOnContentCiphers(mod: typeof ContentCipherModule): typeof ContentCipherModule {
  return {
    ...mod,
    async createContentCipher(...args: Parameters<typeof mod.createContentCipher>) {
      const cipher = await mod.createContentCipher(...args);
      ciphers.created++;
      ciphers.live++;
      let disposed = false;
      return {
        ...cipher,
        seal(...sealArgs: Parameters<typeof cipher.seal>) {
          ciphers.sealed.push(sealArgs[2]);
          return cipher.seal(...sealArgs);
        },
        open(...openArgs: Parameters<typeof cipher.open>) {
          ciphers.opened.add(openArgs[3]);
          const pending = cipher.open(...openArgs);
          const gate = ciphers.gate;
          return pending && gate ? pending.then(() => gate(openArgs[0])) : pending;
        },
        ...(cipher.openDetached && {
          async openDetached(...openArgs: Parameters<NonNullable<typeof cipher.openDetached>>) {
            const out = await cipher.openDetached!(...openArgs);
            ciphers.opened.add(out);
            await ciphers.gate?.(openArgs[0]);
            return out;
          },
        }),
        dispose() {
          if (!disposed) ciphers.live--;
          disposed = true;
          cipher.dispose();
        },
      };
    },
  };
}
