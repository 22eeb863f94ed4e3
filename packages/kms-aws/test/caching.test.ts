// core's cachingProvider around awsKmsProvider, counted on the Sealkit KMS server's own /metrics: one
// GenerateDataKey for many messages within the limits, a new one when any limit is reached, one Decrypt for many.

import { decrypt, encrypt } from "@sealkit/cipher";
import { cachingProvider, parseHeader } from "@sealkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsKmsProvider } from "../src/index.js";
import { type LocalServer, startLocalServer } from "./support.js";

const context = { tenant: "acme", purpose: "caching" };
const message = new Uint8Array(100).fill(7);

describe("cachingProvider around awsKmsProvider, counted on the server", () => {
  let server: LocalServer;
  let key: string;
  beforeAll(async () => {
    server = await startLocalServer();
    key = await server.createKey();
  }, 60_000);
  afterAll(() => server?.close());

  const kms = () => awsKmsProvider({ client: server.client(), generatorKeyId: key });

  it("10,000 small encryptions within the limits make exactly one GenerateDataKey call; decryption one Decrypt", async () => {
    const provider = cachingProvider(kms(), { maxMessages: 10_000, maxAge: 10 * 60_000 });
    const before = await server.count("GenerateDataKey");
    const sealed: Uint8Array[] = [];
    for (let i = 0; i < 10_000; i++) sealed.push(await encrypt(message, { providers: [provider], context }));
    expect(await server.count("GenerateDataKey")).toBe(before + 1);
    // Every envelope names the same encrypted data key, with its own message id.
    const first = parseHeader(sealed[0]!);
    const last = parseHeader(sealed[9_999]!);
    expect(last.encryptedDataKeys[0]!.ciphertext).toEqual(first.encryptedDataKeys[0]!.ciphertext);
    expect(last.messageId).not.toEqual(first.messageId);

    const opener = cachingProvider(kms(), { maxMessages: 10_000 });
    const decrypts = await server.count("Decrypt");
    for (const envelope of sealed) {
      const { plaintext } = await decrypt(envelope, { providers: [opener] });
      expect(plaintext.length).toBe(100);
    }
    expect(await server.count("Decrypt")).toBe(decrypts + 1);
  }, 120_000);

  it("concurrent misses for one entry make one GenerateDataKey call", async () => {
    const provider = cachingProvider(kms());
    const before = await server.count("GenerateDataKey");
    await Promise.all(Array.from({ length: 50 }, () => encrypt(message, { providers: [provider], context })));
    expect(await server.count("GenerateDataKey")).toBe(before + 1);
  });

  it("maxAge (an injected clock) forces a new data key", async () => {
    let now = 1_000_000;
    const provider = cachingProvider(kms(), { maxAge: 60_000, now: () => now });
    const before = await server.count("GenerateDataKey");
    await encrypt(message, { providers: [provider], context });
    now += 59_999;
    await encrypt(message, { providers: [provider], context });
    expect(await server.count("GenerateDataKey")).toBe(before + 1);
    now += 1;
    await encrypt(message, { providers: [provider], context });
    expect(await server.count("GenerateDataKey")).toBe(before + 2);
  });

  it("maxMessages forces a new data key", async () => {
    const provider = cachingProvider(kms(), { maxMessages: 3 });
    const before = await server.count("GenerateDataKey");
    for (let i = 0; i < 3; i++) await encrypt(message, { providers: [provider], context });
    expect(await server.count("GenerateDataKey")).toBe(before + 1);
    await encrypt(message, { providers: [provider], context });
    expect(await server.count("GenerateDataKey")).toBe(before + 2);
  });

  it("maxBytes forces a new data key; a message above it is never cached", async () => {
    const provider = cachingProvider(kms(), { maxBytes: 250 });
    const before = await server.count("GenerateDataKey");
    await encrypt(message, { providers: [provider], context });
    await encrypt(message, { providers: [provider], context });
    expect(await server.count("GenerateDataKey")).toBe(before + 1);
    await encrypt(message, { providers: [provider], context });
    expect(await server.count("GenerateDataKey")).toBe(before + 2);
    await encrypt(new Uint8Array(251), { providers: [provider], context });
    await encrypt(new Uint8Array(251), { providers: [provider], context });
    expect(await server.count("GenerateDataKey")).toBe(before + 4);
  });

  it("another encryption context gets its own data key", async () => {
    const provider = cachingProvider(kms());
    const before = await server.count("GenerateDataKey");
    await encrypt(message, { providers: [provider], context: { tenant: "a" } });
    await encrypt(message, { providers: [provider], context: { tenant: "b" } });
    await encrypt(message, { providers: [provider], context: { tenant: "a" } });
    expect(await server.count("GenerateDataKey")).toBe(before + 2);
  });
});
