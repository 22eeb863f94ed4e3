// Slow and malformed clients, each answered with a clear error while a well-behaved client keeps being served.

import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StartedKmsServer, startKmsServer } from "../../src/server/start.js";
import { ALICE, call, type RawRequest, send, signRequest } from "../../src/server/test-support.js";
import { sleep } from "./support.js";

const MAX_CONNECTIONS = 16;

describe("slow and malformed clients", { timeout: 60_000 }, () => {
  let dir: string;
  let started: StartedKmsServer;
  let url: string;
  let port: number;
  let keyId: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-rel-hostile-"));
    started = await startKmsServer({
      dataDir: join(dir, "data"),
      credentials: [ALICE],
      port: 0,
      limits: { headersTimeoutMs: 1000, requestTimeoutMs: 1000, maxConnections: MAX_CONNECTIONS },
    });
    url = started.url;
    port = Number(new URL(url).port);
    keyId = ((await call(url, "CreateKey", {})).json().KeyMetadata as { KeyId: string }).KeyId;
  });
  afterAll(async () => {
    await started.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Runs `attack` while a good client sends signed Encrypt requests on its own keep-alive connection every 25 ms;
   * every one of them must succeed, and at least one must have been served while the attack was going on.
   */
  async function withGoodClient<T>(attack: () => Promise<T>): Promise<T> {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const u = new URL(url);
    const good = await signRequest(url, "Encrypt", JSON.stringify({ KeyId: keyId, Plaintext: "aGVsbG8=" }));
    const once = (req: RawRequest) =>
      new Promise<number>((resolve, reject) => {
        const r = request(
          { host: u.hostname, port: Number(u.port), method: "POST", path: "/", headers: req.headers, agent },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        r.on("error", reject);
        r.end(req.body);
      });
    expect(await once(good)).toBe(200); // the connection is open before the attack starts
    let stop = false;
    const statuses: number[] = [];
    const loop = (async () => {
      while (!stop) {
        statuses.push(await once(good).catch(() => -1));
        await sleep(25);
      }
    })();
    try {
      const result = await attack();
      return result;
    } finally {
      stop = true;
      await loop;
      agent.destroy();
      expect(statuses.length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
    }
  }

  /** Writes `parts` to a raw socket (a number is a pause in ms) and resolves with everything read until close. */
  function raw(parts: readonly (string | number)[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let data = "";
      socket.on("data", (d) => (data += d));
      socket.on("close", () => resolve(data));
      socket.on("error", (e) => (data ? resolve(data) : reject(e)));
      socket.once("connect", async () => {
        for (const part of parts) {
          if (socket.destroyed) return;
          if (typeof part === "number") await sleep(part);
          else socket.write(part);
        }
      });
    });
  }

  function errorOf(text: string): { status: number; type: string } {
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    return { status, type: JSON.parse(body).__type };
  }

  it("a body that never finishes: 408 RequestTimeoutException", async () => {
    const text = await withGoodClient(() =>
      raw([
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nX-Amz-Target: TrentService.Encrypt\r\n\r\n{",
      ]),
    );
    expect(errorOf(text)).toEqual({ status: 408, type: "RequestTimeoutException" });
  });

  it("headers sent one byte every 100 ms: 408 RequestTimeoutException", async () => {
    const head = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: TrentService.Encrypt\r\n";
    const parts: (string | number)[] = [];
    for (const c of head) parts.push(c, 100);
    const text = await withGoodClient(() => raw(parts));
    expect(errorOf(text)).toEqual({ status: 408, type: "RequestTimeoutException" });
  });

  it("broken JSON, invalid base64, wrong types: 400 SerializationException; unknown fields are ignored, as AWS does", async () => {
    await withGoodClient(async () => {
      const broken = await send(url, await signRequest(url, "Encrypt", '{"KeyId": "x", "Plaintext": '));
      expect([broken.status, broken.json().__type]).toEqual([400, "SerializationException"]);
      const base64 = await call(url, "Encrypt", { KeyId: keyId, Plaintext: "not base64!!" });
      expect([base64.status, base64.json().__type]).toEqual([400, "SerializationException"]);
      const blob = await call(url, "Decrypt", { CiphertextBlob: "%%%%" });
      expect([blob.status, blob.json().__type]).toEqual([400, "SerializationException"]);
      for (const body of [
        { KeyId: 42, Plaintext: "aGVsbG8=" },
        { KeyId: keyId, Plaintext: ["aGVsbG8="] },
        { KeyId: keyId, Plaintext: "aGVsbG8=", EncryptionContext: "a=b" },
        { KeyId: keyId, Plaintext: "aGVsbG8=", EncryptionContext: { a: 1 } },
        { KeyId: keyId, Plaintext: "aGVsbG8=", GrantTokens: "t" },
      ]) {
        const res = await call(url, "Encrypt", body);
        expect([res.status, res.json().__type], JSON.stringify(body)).toEqual([
          400,
          "SerializationException",
        ]);
      }
      for (const body of ["[]", "null", "42", '"s"']) {
        const res = await send(url, await signRequest(url, "Encrypt", body));
        expect([res.status, res.json().__type], body).toEqual([400, "SerializationException"]);
      }
      const unknown = await call(url, "Encrypt", {
        KeyId: keyId,
        Plaintext: "aGVsbG8=",
        Surprise: { a: [1] },
      });
      expect(unknown.status).toBe(200);
      expect(unknown.json().Surprise).toBeUndefined();
    });
  });

  it("an unknown X-Amz-Target: 400 UnsupportedOperationException", async () => {
    await withGoodClient(async () => {
      for (const target of ["DeleteEverything", "encrypt", "../Encrypt", ""]) {
        const res = await call(url, target, {});
        expect([res.status, res.json().__type], target).toEqual([400, "UnsupportedOperationException"]);
      }
      const req = await signRequest(url, "Encrypt", "{}");
      const res = await send(url, { ...req, headers: { ...req.headers, "x-amz-target": "Other.Encrypt" } });
      expect(res.status).toBe(400); // the target is signed: changing it breaks the signature first
    });
  });

  it("a 100 MB body: 413 before it is read, without the server buffering it", async () => {
    const before = process.memoryUsage().rss;
    let sent = 0;
    const declared = await withGoodClient(
      () =>
        new Promise<string>((resolve, reject) => {
          const socket: Socket = connect(port, "127.0.0.1");
          let data = "";
          const chunk = Buffer.alloc(1 << 20, 0x61);
          socket.on("data", (d) => (data += d));
          socket.on("close", () => resolve(data));
          socket.on("error", () => resolve(data));
          socket.once("connect", async () => {
            socket.write(
              `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${100 * 2 ** 20}\r\nX-Amz-Target: TrentService.Encrypt\r\n\r\n`,
            );
            for (let i = 0; i < 100 && !socket.destroyed && data === ""; i++) {
              sent += chunk.length;
              if (!socket.write(chunk)) await new Promise((r) => socket.once("drain", r).once("close", r));
            }
          });
          setTimeout(() => reject(new Error("no answer to a 100 MB body in 20 s")), 20_000).unref();
        }),
    );
    expect(errorOf(declared)).toEqual({ status: 413, type: "RequestEntityTooLargeException" });
    // Without a Content-Length (chunked): refused once 1 MiB has arrived.
    let chunkedSent = 0;
    const chunked = await withGoodClient(
      () =>
        new Promise<string>((resolve) => {
          const socket = connect(port, "127.0.0.1");
          let data = "";
          const chunk = Buffer.alloc(1 << 20, 0x61);
          const frame = Buffer.concat([
            Buffer.from(`${chunk.length.toString(16)}\r\n`),
            chunk,
            Buffer.from("\r\n"),
          ]);
          socket.on("data", (d) => (data += d));
          socket.on("close", () => resolve(data));
          socket.on("error", () => resolve(data));
          socket.once("connect", async () => {
            socket.write(
              "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Amz-Target: TrentService.Encrypt\r\n\r\n",
            );
            for (let i = 0; i < 100 && !socket.destroyed && data === ""; i++) {
              chunkedSent += chunk.length;
              if (!socket.write(frame)) await new Promise((r) => socket.once("drain", r).once("close", r));
            }
          });
        }),
    );
    expect(errorOf(chunked)).toEqual({ status: 413, type: "RequestEntityTooLargeException" });
    const growth = process.memoryUsage().rss - before;
    console.log(
      `[reliability] 100 MB bodies: declared: refused after the client wrote ${(sent / 2 ** 20).toFixed(0)} MiB; ` +
        `chunked: after ${(chunkedSent / 2 ** 20).toFixed(0)} MiB; RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(sent).toBeLessThan(100 * 2 ** 20);
    expect(chunkedSent).toBeLessThan(100 * 2 ** 20);
    // The whole body in memory would be 100 MiB (twice with Buffer.concat).
    expect(growth).toBeLessThan(48 * 2 ** 20);
  });

  /** Opens `count` connections, each sending `first` (nothing when empty); resolves with the sockets and their answers. */
  async function flood(count: number, first: string) {
    const sockets: Socket[] = [];
    const answers: string[] = [];
    for (let i = 0; i < count; i++) {
      const s = connect(port, "127.0.0.1");
      let data = "";
      s.on("data", (d) => (data += d));
      s.on("close", () => answers.push(data));
      s.on("error", () => {});
      sockets.push(s);
      await new Promise((r) => s.once("connect", r));
      if (first) {
        s.write(first);
        // Until the server has read it, the connection is idle, and the next one would take its place.
        await sleep(10);
      }
    }
    await sleep(300);
    return { sockets, answers };
  }

  async function onlyTheGoodClient(): Promise<number> {
    // Earlier tests' connections may still be closing: wait for the good client's to be the only one.
    for (let i = 0; i < 40 && started.server.metrics.openConnections > 1; i++) await sleep(50);
    return started.server.metrics.openConnections;
  }

  it(`connections over the limit of ${MAX_CONNECTIONS}, each holding its place with a head that never ends: 503 ServiceUnavailableException`, async () => {
    let openBefore = 0;
    const rejectedBefore = started.server.metrics.rejectedConnections;
    const { sockets, answers } = await withGoodClient(async () => {
      openBefore = await onlyTheGoodClient();
      return flood(MAX_CONNECTIONS + 8, "POST / HTTP/1.1\r\nHost: x\r\n");
    });
    // The good client holds one connection (idle between its requests, but a client's: never reclaimed for a
    // newcomer): MAX_CONNECTIONS - 1 more fit, the rest are refused.
    expect(openBefore).toBe(1);
    expect(started.server.metrics.rejectedConnections - rejectedBefore).toBe(8 + openBefore);
    // Each refused client is told why (unless the head it sent made the closing socket reset first).
    const told = answers.filter((a) => a !== "");
    expect(told.length).toBeGreaterThan(0);
    for (const a of told) expect(errorOf(a).type).toBe("ServiceUnavailableException");
    for (const s of sockets) s.destroy();
    await sleep(100);
    expect((await call(url, "GenerateRandom", { NumberOfBytes: 4 })).status).toBe(200);
  });

  it(`silent connections over the limit of ${MAX_CONNECTIONS} cannot lock clients out: each new one takes an idle one's place`, async () => {
    const reclaimedBefore = started.server.metrics.reclaimedConnections;
    const rejectedBefore = started.server.metrics.rejectedConnections;
    const { sockets, answers } = await withGoodClient(async () => {
      await onlyTheGoodClient();
      return flood(MAX_CONNECTIONS + 8, "");
    });
    // MAX_CONNECTIONS - 1 fit beside the good client; each of the 9 more closed a silent one.
    expect(started.server.metrics.reclaimedConnections - reclaimedBefore).toBe(9);
    expect(started.server.metrics.rejectedConnections - rejectedBefore).toBe(0);
    expect(answers.filter((a) => a !== "")).toEqual([]);
    expect(sockets.filter((s) => s.destroyed || s.readableEnded).length).toBeGreaterThanOrEqual(9);
    // A new client is served while the silent ones still hold every other place.
    expect((await call(url, "GenerateRandom", { NumberOfBytes: 4 })).status).toBe(200);
    for (const s of sockets) s.destroy();
  });
});
