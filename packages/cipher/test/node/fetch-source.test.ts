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
let longer: Uint8Array;
let server: Server;
let base: string;
const log: { method: string; path: string; range: string | undefined }[] = [];

/** Bytes a streamed answer wrote before its connection closed, per path, and whether it closed. */
const streamed = new Map<string, { sent: number; closed: boolean }>();

/** Writes `total` bytes of zeros in 64 KiB chunks as the client reads them, stopping when the connection closes. */
function stream(path: string, res: ServerResponse, total: number): void {
  const state = { sent: 0, closed: false };
  streamed.set(path, state);
  const chunk = new Uint8Array(64 * 1024);
  res.on("close", () => {
    state.closed = true;
  });
  const pump = () => {
    while (!state.closed && state.sent < total) {
      const n = Math.min(chunk.length, total - state.sent);
      state.sent += n;
      if (!res.write(chunk.subarray(0, n))) {
        res.once("drain", pump);
        return;
      }
    }
    if (!state.closed) res.end();
  };
  pump();
}

/** Requests seen per path, for servers that change their answer after the first. */
const seen = new Map<string, number>();

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://x");
  const path = url.pathname;
  log.push({ method: req.method ?? "", path, range: req.headers.range });
  const count = (seen.get(path) ?? 0) + 1;
  seen.set(path, count);
  if (path === "/missing") {
    res.writeHead(404).end();
    return;
  }
  const big = 64 * 1024 * 1024;
  if (path === "/no-range-big") {
    // Ignores Range and announces the whole 64 MiB object.
    res.writeHead(200, { "Content-Length": String(big) });
    stream(path, res, big);
    return;
  }
  if (path === "/no-range-chunked") {
    // Ignores Range and sends 64 MiB without saying how much.
    res.writeHead(200);
    stream(path, res, big);
    return;
  }
  if (path === "/reset" || (path === "/reset-later" && count > 1)) {
    // Promises the asked range, sends part of it and drops the connection.
    res.writeHead(206, { "Content-Range": `bytes 0-4095/${envelope.length}`, "Content-Length": "4096" });
    res.write(envelope.subarray(0, 100), () => res.destroy());
    return;
  }
  if (path === "/slow") {
    // Headers, then nothing.
    res.writeHead(206, { "Content-Range": `bytes 0-4095/${envelope.length}`, "Content-Length": "4096" });
    res.flushHeaders();
    return;
  }
  if (path === "/probe-416") {
    res.writeHead(416, { "Content-Range": "bytes */5000" }).end();
    return;
  }
  // "/replaced" is replaced by a longer object after the first request; "/shrunk" by a shorter one (416 then).
  let body = envelope;
  if (path === "/replaced" && count > 1) body = longer;
  if (path === "/shrunk" && count > 1) body = envelope.subarray(0, 4096);
  const match = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
  const etag = path === "/new-etag" && count > 1 ? '"v2"' : '"v1"';
  if (req.method === "HEAD") {
    res.writeHead(200, { "Content-Length": String(body.length), ETag: etag }).end();
    return;
  }
  if (path === "/no-range" || !match) {
    res.writeHead(200, { "Content-Length": String(body.length), ETag: etag }).end(body);
    return;
  }
  const start = Number(match[1]);
  if (start >= body.length) {
    res.writeHead(416, { "Content-Range": `bytes */${body.length}` }).end();
    return;
  }
  const end = Math.min(Number(match[2]), body.length - 1);
  if (path === "/too-long" && count > 1) {
    // Names the range asked for, then sends 64 MiB (chunked, so nothing on the wire says otherwise).
    res.writeHead(206, { "Content-Range": `bytes ${start}-${end}/${body.length}` });
    stream(path, res, big);
    return;
  }
  // "/shifted" answers every range after the first one byte late.
  const shift = path === "/shifted" && count > 1 ? 1 : 0;
  // "/unknown-size" answers ranges but hides the total, so the size must come from a HEAD.
  const total = path === "/unknown-size" ? "*" : String(body.length);
  res
    .writeHead(206, {
      "Content-Range": `bytes ${start + shift}-${end}/${total}`,
      "Content-Length": String(end - start + 1 - shift),
      ETag: etag,
    })
    .end(body.subarray(start + shift, end + 1));
}

beforeAll(async () => {
  envelope = await encrypt(plaintext, { providers, frameSize: 4096, suite: "AES_256_GCM" });
  longer = await encrypt(new Uint8Array(300_000), { providers, frameSize: 4096, suite: "AES_256_GCM" });
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
  const far = await decryptRange(source, { start: 150_000, end: 150_010, providers });
  expect(far.plaintext).toEqual(plaintext.subarray(150_000, 150_010));
});

test("a server that ignores Range is served from the one full response when maxWholeObjectBytes allows", async () => {
  const source = await fetchSource(`${base}/no-range`, {}, { maxWholeObjectBytes: 1 << 20 });
  const result = await decryptRange(source, { start: 199_990, end: 200_000, providers, verifyLength: true });
  expect(result.plaintext).toEqual(plaintext.subarray(199_990));
  // By default only an object no longer than the probe is accepted whole.
  const refused = await fetchSource(`${base}/no-range`).catch((e: unknown) => e);
  expect(refused).toMatchObject({ code: "ERR_LIMIT_EXCEEDED" });
  expect(await fetchSource(`${base}/no-range`, {}, { probeLength: 1 << 20 })).toMatchObject({
    size: envelope.length,
  });
});

/** Waits until the streamed answer on `path` saw its connection close, and returns the bytes it wrote. */
async function sentBeforeClose(path: string): Promise<number> {
  for (let i = 0; i < 200 && !streamed.get(path)?.closed; i++) await new Promise((r) => setTimeout(r, 10));
  expect(streamed.get(path)?.closed).toBe(true);
  return streamed.get(path)!.sent;
}

test("a whole 64 MiB object sent for a Range request is refused without downloading it", async () => {
  // Content-Length says it: refused before the body is read.
  const error = await fetchSource(`${base}/no-range-big`).catch((e: unknown) => e);
  expect(error).toMatchObject({ code: "ERR_LIMIT_EXCEEDED" });
  expect(await sentBeforeClose("/no-range-big")).toBeLessThan(16 * 1024 * 1024);
  // Nothing says it: reading stops at the limit.
  const chunked = await fetchSource(`${base}/no-range-chunked`, {}, { maxWholeObjectBytes: 1 << 20 }).catch(
    (e: unknown) => e,
  );
  expect(chunked).toMatchObject({ code: "ERR_LIMIT_EXCEEDED" });
  expect(await sentBeforeClose("/no-range-chunked")).toBeLessThan(16 * 1024 * 1024);
});

test("a ranged answer longer than asked is cancelled, not buffered", async () => {
  seen.clear();
  const source = await fetchSource(`${base}/too-long`);
  const error = await source.read(100_000, 100).catch((e: unknown) => e);
  expect(error).toMatchObject({ code: "ERR_PROVIDER_UNAVAILABLE" });
  expect(await sentBeforeClose("/too-long")).toBeLessThan(16 * 1024 * 1024);
});

test("a 206 naming another range than asked is the server's error", async () => {
  seen.clear();
  const source = await fetchSource(`${base}/shifted`);
  const error = await decryptRange(source, { start: 100_000, end: 100_010, providers }).catch(
    (e: unknown) => e,
  );
  expect(error).toMatchObject({ code: "ERR_PROVIDER_UNAVAILABLE" });
  expect((error as Error).message).toMatch(/answered bytes \d+-\d+ to a request for bytes \d+-\d+/);
});

test("an object replaced between requests (another size, another ETag, or shorter: 416) is never mixed in", async () => {
  for (const path of ["/replaced", "/new-etag", "/shrunk"]) {
    seen.clear();
    const source = await fetchSource(`${base}${path}`);
    expect(source.size).toBe(envelope.length);
    const error = await decryptRange(source, { start: 100_000, end: 100_010, providers }).catch(
      (e: unknown) => e,
    );
    expect(error, path).toMatchObject({ code: "ERR_ENVELOPE_MALFORMED" });
    expect((error as Error).message, path).toMatch(/the envelope changed while it was being decrypted/);
  }
});

test("a 416 to the first bytes of an object that is not empty is the server's error", async () => {
  const error = await fetchSource(`${base}/probe-416`).catch((e: unknown) => e);
  expect(error).toMatchObject({ code: "ERR_PROVIDER_UNAVAILABLE" });
});

test("errors do not show the URL's query (it may be a signature)", async () => {
  const error = await fetchSource(`${base}/missing?X-Amz-Signature=secret123`).catch((e: unknown) => e);
  expect(error).toMatchObject({ code: "ERR_PROVIDER_UNAVAILABLE" });
  expect((error as Error).message).not.toContain("secret123");
  expect((error as Error).message).toContain("/missing");
});

test("a read outside the object is the caller's RangeError, before any request", async () => {
  const source = await fetchSource(`${base}/object`);
  log.length = 0;
  await expect(source.read(envelope.length - 10, 11)).rejects.toThrow(RangeError);
  await expect(source.read(-1, 1)).rejects.toThrow(RangeError);
  expect(log).toEqual([]);
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

test("a network failure is ERR_PROVIDER_UNAVAILABLE with the cause; the caller's abort stays an abort", async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const refused = await fetchSource(`http://127.0.0.1:${port}/object?token=secret`).catch((e: unknown) => e);
  expect(refused).toMatchObject({ code: "ERR_PROVIDER_UNAVAILABLE" });
  expect((refused as Error).cause).toBeDefined();
  expect((refused as Error).message).not.toContain("secret");
  // The connection drops inside the probe's body, or inside a later read's.
  expect(await fetchSource(`${base}/reset`).catch((e: unknown) => e)).toMatchObject({
    code: "ERR_PROVIDER_UNAVAILABLE",
  });
  seen.clear();
  const source = await fetchSource(`${base}/reset-later`);
  expect(await source.read(100_000, 100).catch((e: unknown) => e)).toMatchObject({
    code: "ERR_PROVIDER_UNAVAILABLE",
  });
  // A server that stalls is the caller's to time out, with a signal: the abort is not dressed as a SealkitError.
  const aborted = await fetchSource(`${base}/slow`, { signal: AbortSignal.timeout(200) }).catch(
    (e: unknown) => e,
  );
  expect(SealkitError.isInstance(aborted)).toBe(false);
  expect((aborted as Error).name).toBe("TimeoutError");
});
