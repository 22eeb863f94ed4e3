// The page side of browser.test.ts: runs in Chromium, bundled with esbuild. It exposes one function per step so
// the test can drive it and read the results.

import { decrypt, encrypt } from "@sealkit/cipher";
import { SealkitError } from "@sealkit/core";
import { remoteProvider } from "../src/index.js";

// The server in this test wraps with a raw key; against a KMS-backed server the default "aws-kms" applies.
const keys = remoteProvider({ endpoint: "/api/keys", providerId: "raw" });

declare global {
  interface Window {
    sealkitTest: {
      login(name: string): Promise<void>;
      encryptBlob(size: number, seed: number): Promise<{ envelopeBytes: number; sha256: string }>;
      decryptStored(): Promise<
        { plaintextBytes: number; sha256: string } | { error: string; message: string }
      >;
      tryGenerate(
        endpoint: string,
        options: { timeoutMs?: number; abortAfterMs?: number },
      ): Promise<{ ok: true } | { error: string; message: string; ms: number }>;
    };
  }
}

/** A deterministic Blob of `size` bytes, so the server side can recompute and search for it. */
function makeBlob(size: number, seed: number): Blob {
  const bytes = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return new Blob([bytes]);
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

window.sealkitTest = {
  async tryGenerate(endpoint, { timeoutMs, abortAfterMs }) {
    const started = performance.now();
    const controller = new AbortController();
    if (abortAfterMs !== undefined) {
      setTimeout(() => controller.abort(new DOMException("user left", "AbortError")), abortAfterMs);
    }
    const provider = remoteProvider({ endpoint, providerId: "raw", ...(timeoutMs ? { timeoutMs } : {}) });
    try {
      await provider.generateDataKey({ length: 32, context: { tenant: "acme" }, signal: controller.signal });
      return { ok: true };
    } catch (error) {
      // A SealkitError's string code, else the name (a DOMException's numeric code is legacy).
      const e = error as { code?: unknown; name: string; message: string };
      const code = typeof e.code === "string" ? e.code : e.name;
      return { error: code, message: e.message, ms: performance.now() - started };
    }
  },
  async login(name) {
    const response = await fetch(`/login?user=${name}`, { method: "POST" });
    if (!response.ok) throw new Error(`login failed: ${response.status}`);
  },
  async encryptBlob(size, seed) {
    const blob = makeBlob(size, seed);
    const plaintext = new Uint8Array(await blob.arrayBuffer());
    const envelope = await encrypt(plaintext, {
      providers: [keys],
      context: { tenant: "acme", file: "blob.bin" },
    });
    const upload = await fetch("/store", { method: "PUT", body: envelope as Uint8Array<ArrayBuffer> });
    if (!upload.ok) throw new Error(`upload failed: ${upload.status}`);
    return { envelopeBytes: envelope.length, sha256: await sha256(plaintext) };
  },
  async decryptStored() {
    const envelope = new Uint8Array(await (await fetch("/store")).arrayBuffer());
    try {
      const { plaintext } = await decrypt(envelope, { providers: [keys], expectContext: { tenant: "acme" } });
      return { plaintextBytes: plaintext.length, sha256: await sha256(plaintext) };
    } catch (error) {
      if (!SealkitError.isInstance(error)) throw error;
      const cause = (error.cause as AggregateError | undefined)?.errors?.[0] as Error | undefined;
      return { error: error.code, message: cause?.message ?? error.message };
    }
  },
};
