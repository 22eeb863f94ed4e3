// fetchSource against a real HTTP server: Range requests, sizes from Content-Range or HEAD, servers that ignore
// Range, error statuses; and decryptRange over HTTP reading only the frames it needs.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { rawKeyProvider, SealkitError } from "@sealkit/core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { decryptRange, encrypt, fetchSource } from "../../src/index.js";

const key = new Uint8Array(32).fill(9);
const providers = [rawKeyProvider({ keyId: "k", key })];
const plaintext = new Uint8Array(200_000).map((_, i) => (i * 31) & 0xff);
let envelope: Uint8Array;
let server: Server;
let base: string;
const log: { method: string; path: string; range: string | undefined }[] = [];

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://x");
  log.push({ method: req.method ?? "", path: url.pathname, range: req.headers.range });
  if (url.pathname === "/missing") {
    res.writeHead(404).end();
    return;
  }
  const body = envelope;
  const match = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
  if (req.method === "HEAD") {
    res.writeHead(200, { "Content-Length": String(body.length) }).end();
    return;
  }
  if (url.pathname === "/no-range" || !match) {
    res.writeHead(200, { "Content-Length": String(body.length) }).end(body);
    return;
  }
  const start = Number(match[1]);
  const end = Math.min(Number(match[2]), body.length - 1);
  // "/unknown-size" answers ranges but hides the total, so the size must come from a HEAD.
  const total = url.pathname === "/unknown-size" ? "*" : String(body.length);
  res
    .writeHead(206, {
      "Content-Range": `bytes ${start}-${end}/${total}`,
      "Content-Length": String(end - start + 1),
    })
    .end(body.subarray(start, end + 1));
}

beforeAll(async () => {
  envelope = await encrypt(plaintext, { providers, frameSize: 4096, suite: "AES_256_GCM" });
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

test("decryptRange over HTTP Range requests returns the slice and fetches only the frames holding it", async () => {
  log.length = 0;
  const source = await fetchSource(`${base}/object`);
  expect(source.size).toBe(envelope.length);
  const result = await decryptRange(source, { start: 100_000, end: 110_000, providers });
  expect(result.plaintext).toEqual(plaintext.subarray(100_000, 110_000));
  expect(result.plaintextLength).toBe(plaintext.length);
  // The probe (header) and one ranged GET of frames 25..27 (three frames of 4096 + 17 bytes).
  expect(log.map((l) => l.method)).toEqual(["GET", "GET"]);
  const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(log[1]!.range!)!.map(Number);
  expect(to! - from! + 1).toBe(3 * (4096 + 17));
});

test("the size comes from a HEAD when Content-Range does not give it", async () => {
  log.length = 0;
  const source = await fetchSource(`${base}/unknown-size`);
  expect(source.size).toBe(envelope.length);
  expect(log.map((l) => l.method)).toEqual(["GET", "HEAD"]);
  const result = await decryptRange(source, { start: 0, end: 10, providers });
  expect(result.plaintext).toEqual(plaintext.subarray(0, 10));
});

test("a server that ignores Range is served from the one full response", async () => {
  const source = await fetchSource(`${base}/no-range`);
  const result = await decryptRange(source, { start: 199_990, end: 200_000, providers, verifyLength: true });
  expect(result.plaintext).toEqual(plaintext.subarray(199_990));
});

test("an HTTP error is a SealkitError ERR_PROVIDER_UNAVAILABLE", async () => {
  const error = await fetchSource(`${base}/missing`).catch((e: unknown) => e);
  expect(SealkitError.isInstance(error, "ERR_PROVIDER_UNAVAILABLE")).toBe(true);
});

test("a probe length that is not a positive integer is the caller's RangeError/TypeError, before any request", async () => {
  log.length = 0;
  await expect(fetchSource(`${base}/object`, {}, 0)).rejects.toThrow(RangeError);
  await expect(fetchSource(`${base}/object`, {}, -5)).rejects.toThrow(RangeError);
  await expect(fetchSource(`${base}/object`, {}, 1.5)).rejects.toThrow(TypeError);
  expect(log).toEqual([]);
  const source = await fetchSource(`${base}/object`, {}, 1);
  expect(source.size).toBe(envelope.length);
});
