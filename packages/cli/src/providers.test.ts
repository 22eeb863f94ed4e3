// Session.releasingAfterDataKey: the wrapped providers behave as the providers, private fields included.

import { rawKeyProvider } from "@sealkit/core";
import { describe, expect, it } from "vitest";
import { Session } from "./providers.js";

class PrivateFieldsProvider {
  readonly providerId = "test";
  readonly #inner = rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(7) });
  get keyCount() {
    return this.#inner ? 1 : 0;
  }
  generateDataKey(request: Parameters<typeof this.inner.generateDataKey>[0]) {
    return this.#inner.generateDataKey(request);
  }
  encryptDataKey(request: Parameters<typeof this.inner.encryptDataKey>[0]) {
    return this.#inner.encryptDataKey(request);
  }
  decryptDataKey(request: Parameters<typeof this.inner.decryptDataKey>[0]) {
    return this.#inner.decryptDataKey(request);
  }
  canDecrypt(edk: Parameters<typeof this.inner.canDecrypt>[0]) {
    return this.#inner.canDecrypt(edk);
  }
  private get inner() {
    return this.#inner;
  }
}

describe("releasingAfterDataKey", () => {
  it("keeps every method and getter of a provider with private fields working", async () => {
    const session = new Session();
    const [wrapped] = session.releasingAfterDataKey([new PrivateFieldsProvider()]);
    const key = await wrapped!.generateDataKey({ context: {}, length: 32 });
    expect(wrapped!.canDecrypt(key.encryptedDataKeys[0]!)).toBe(true);
    expect((wrapped as unknown as PrivateFieldsProvider).keyCount).toBe(1);
    const [edk] = await wrapped!.encryptDataKey({ plaintext: key.plaintext, context: {} });
    const opened = await wrapped!.decryptDataKey({ encryptedDataKey: edk!, context: {} });
    expect(opened).toEqual(key.plaintext);
    await session.close();
  });
});
