// The server's HTTP/1.1 layer over raw sockets: pipelining, framing errors, limits, chunked bodies, 100-continue,
// timeouts, resets and graceful close, against a real local KMS.

import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { headerBlockValid, headerLinesError } from "./http1.js";
import { createKmsServer, type KmsServer, type KmsServerOptions } from "./server.js";
import { openTestKms, type TestKms } from "./test-kms.js";
import { ALICE, signRequest } from "./test-support.js";

const UUID = /x-amzn-RequestId: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\r\n/;

async function start(kms: TestKms, options: Partial<KmsServerOptions> = {}): Promise<KmsServer> {
  const server = createKmsServer({ kms: kms.kms, credentials: [ALICE], region: "us-east-1", ...options });
  await server.listen(0, "127.0.0.1");
  return server;
}

function portOf(server: KmsServer): number {
  return Number(new URL(server.url).port);
}

/** A raw connection that collects everything the server sends. */
class Raw {
  readonly socket: Socket;
  data = "";
  closed = false;
  error: Error | undefined;
  readonly #closedPromise: Promise<void>;

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.setEncoding("latin1");
    this.socket.on("data", (d: string) => {
      this.data += d;
    });
    this.socket.on("error", (e) => {
      this.error = e;
    });
    this.#closedPromise = new Promise((resolve) =>
      this.socket.on("close", () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  connected(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.socket.connecting) resolve();
      else this.socket.once("connect", () => resolve());
    });
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Resolves once the server closed the connection (or after `ms`, with closed still false). */
  async closedWithin(ms: number): Promise<boolean> {
    await Promise.race([this.#closedPromise, new Promise((r) => setTimeout(r, ms))]);
    return this.closed;
  }

  /** Waits until `count` complete responses have arrived, and returns them. */
  async responses(count: number, timeoutMs = 5000): Promise<Response1[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = parseResponses(this.data);
      if (parsed.length >= count) return parsed;
      if (Date.now() > deadline || (this.closed && parsed.length < count)) {
        throw new Error(`expected ${count} responses, got ${parsed.length}: ${JSON.stringify(this.data)}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

interface Response1 {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

function parseResponses(text: string): Response1[] {
  const out: Response1[] = [];
  let pos = 0;
  for (;;) {
    const end = text.indexOf("\r\n\r\n", pos);
    if (end < 0) return out;
    const head = text.slice(pos, end);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
    if (status === 100) {
      out.push({ status, head, body: "" });
      pos = end + 4;
      continue;
    }
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
    if (text.length < end + 4 + length) return out;
    out.push({ status, head, body: text.slice(end + 4, end + 4 + length) });
    pos = end + 4 + length;
  }
}

/** A signed request as raw HTTP/1.1 text (Content-Length framing unless `chunks` is given). */
async function rawSigned(
  url: string,
  target: string,
  body: string,
  extraHeaders: readonly string[] = [],
): Promise<{ head: string; body: string }> {
  const req = await signRequest(url, target, body);
  let head = "POST / HTTP/1.1\r\n";
  for (const [k, v] of Object.entries(req.headers)) head += `${k}: ${v}\r\n`;
  for (const h of extraHeaders) head += `${h}\r\n`;
  return { head, body };
}

describe("header block check", () => {
  it("the single-pass check accepts exactly the blocks whose every line is a token, a colon and a field value", () => {
    const chars = [
      "a",
      "Z",
      "0",
      "-",
      ":",
      " ",
      "\t",
      "\r",
      "\n",
      "\r\n",
      "(",
      "@",
      "\x00",
      "\x7f",
      "\x80",
      "\xff",
      "\u0100",
    ];
    const block = fc.array(fc.constantFrom(...chars), { maxLength: 24 }).map((parts) => parts.join(""));
    const lines = fc
      .array(fc.tuple(fc.constantFrom("X-A", "host", "B(", ""), block), { maxLength: 4 })
      .map((ls) => ls.map(([n, v]) => `${n}:${v}`).join("\r\n"));
    fc.assert(
      fc.property(fc.oneof(block, lines), (b) => {
        expect(headerBlockValid(b), JSON.stringify(b)).toBe(headerLinesError(b) === undefined);
      }),
      { numRuns: 5000 },
    );
    expect(headerBlockValid("Host: x\r\nX-A:\tb c\x80")).toBe(true);
    expect(headerBlockValid("Host: x\r\n b")).toBe(false);
    expect(headerLinesError("Host: x\r\n b")).toBe("obsolete line folding is not accepted");
  });
});

describe("HTTP/1.1 layer", { timeout: 30_000 }, () => {
  let dir: string;
  let kms: TestKms;
  let server: KmsServer;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-http1-"));
    kms = await openTestKms(join(dir, "main"), { slowMs: 150 });
    server = await start(kms, { limits: { maxBodyBytes: 4096, maxHeaderBytes: 4096 } });
    port = portOf(server);
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers pipelined requests in request order, even when the first is the slow one", async () => {
    const slow = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
    const raw = new Raw(port);
    await raw.connected();
    raw.write(
      `${slow.head}Content-Length: ${slow.body.length}\r\n\r\n${slow.body}` +
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" +
        "DELETE /nothing HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    const [first, second, third] = await raw.responses(3);
    expect(first?.status).toBe(200);
    expect(Buffer.from(JSON.parse(first?.body ?? "").Plaintext, "base64")).toHaveLength(8);
    expect(second?.status).toBe(200);
    expect(JSON.parse(second?.body ?? "").status).toBe("ok");
    expect(third?.status).toBe(405);
    // Keep-alive: the connection stays open after all three.
    expect(raw.closed).toBe(false);
    for (const r of [first, second, third]) {
      expect(r?.head).toMatch(UUID);
      expect(r?.head).toMatch(/\r\nDate: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT/);
      expect(r?.head).not.toMatch(/Connection: close/i);
    }
    raw.destroy();
  });

  it("parses requests that arrive in pieces of any size, pipelined ones included", async () => {
    const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":12}');
    const text = Buffer.from(
      `${req.head}Content-Length: ${req.body.length}\r\n\r\n${req.body}GET /health HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    for (const sizes of [[1], [3, 1, 7], [64, 2]]) {
      const raw = new Raw(port);
      await raw.connected();
      for (let at = 0, i = 0; at < text.length; i++) {
        const size = sizes[i % sizes.length] as number;
        raw.socket.write(text.subarray(at, at + size));
        at += size;
        if (i % 16 === 0) await new Promise((r) => setImmediate(r));
      }
      const [first, second] = await raw.responses(2);
      expect(first?.status, `pieces of ${sizes}`).toBe(200);
      expect(Buffer.from(JSON.parse(first?.body ?? "").Plaintext, "base64")).toHaveLength(12);
      expect(second?.status).toBe(200);
      raw.destroy();
    }
  });

  it("refuses a declared body over the limit with 413 and no 100 Continue, audits it and closes", async () => {
    const req = await rawSigned(server.url, "GenerateRandom", "{}", ["Expect: 100-continue"]);
    const raw = new Raw(port);
    raw.write(`${req.head}Content-Length: 5000\r\n\r\n`);
    const [res] = await raw.responses(1);
    expect(res?.status).toBe(413);
    expect(raw.data).not.toMatch(/100 Continue/);
    expect(JSON.parse(res?.body ?? "").__type).toBe("RequestEntityTooLargeException");
    expect(res?.head).toMatch(/Connection: close/);
    expect(await raw.closedWithin(2000)).toBe(true);
    const id = /x-amzn-RequestId: (\S+)/.exec(res?.head ?? "")?.[1];
    const [event] = kms.auditLog.query().filter((e) => e.requestID === id);
    expect(event?.errorCode).toBe("RequestEntityTooLargeException");
  });

  it("sends 100 Continue for an acceptable Expect: 100-continue, then answers the body", async () => {
    const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":4}', [
      "Expect: 100-continue",
    ]);
    const raw = new Raw(port);
    raw.write(`${req.head}Content-Length: ${req.body.length}\r\n\r\n`);
    const [cont] = await raw.responses(1);
    expect(cont?.status).toBe(100);
    raw.write(req.body);
    const [, res] = await raw.responses(2);
    expect(res?.status).toBe(200);
    raw.destroy();
  });

  it("refuses an Expect other than 100-continue with 417", async () => {
    const raw = new Raw(port);
    raw.write("POST / HTTP/1.1\r\nHost: x\r\nExpect: something\r\nContent-Length: 2\r\n\r\n{}");
    const [res] = await raw.responses(1);
    expect(res?.status).toBe(417);
    expect(await raw.closedWithin(2000)).toBe(true);
  });

  it("decodes a chunked body (the signature covers the decoded bytes) and refuses one over the limit with 413", async () => {
    const body = '{"NumberOfBytes":16}';
    const req = await rawSigned(server.url, "GenerateRandom", body);
    const raw = new Raw(port);
    const chunks = [body.slice(0, 5), body.slice(5, 12), body.slice(12)];
    raw.write(
      `${req.head}Transfer-Encoding: chunked\r\n\r\n${chunks.map((c) => `${c.length.toString(16)};ext=1\r\n${c}\r\n`).join("")}0\r\nX-Trailer: t\r\n\r\n`,
    );
    const [res] = await raw.responses(1);
    expect(res?.status).toBe(200);
    expect(Buffer.from(JSON.parse(res?.body ?? "").Plaintext, "base64")).toHaveLength(16);
    raw.destroy();

    const big = new Raw(port);
    big.write(`${req.head}Transfer-Encoding: chunked\r\n\r\n800\r\n${"a".repeat(2048)}\r\n`);
    big.write(`1000\r\n${"a".repeat(100)}`);
    const [refused] = await big.responses(1);
    expect(refused?.status).toBe(413);
    expect(JSON.parse(refused?.body ?? "").__type).toBe("RequestEntityTooLargeException");
    expect(await big.closedWithin(2000)).toBe(true);
  });

  const malformed: [string, string][] = [
    [
      "Content-Length with Transfer-Encoding",
      "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ["two Content-Length headers", "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"],
    ["a non-numeric Content-Length", "Content-Length: 2a\r\n\r\n{}"],
    ["a negative Content-Length", "Content-Length: -1\r\n\r\n"],
    ["a Transfer-Encoding other than chunked", "Transfer-Encoding: gzip\r\n\r\n"],
    ["obs-fold", "X-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n"],
    ["a bare LF", "X-A: a\nX-B: b\r\nContent-Length: 0\r\n\r\n"],
    ["a bare CR in a value", "X-A: a\rb\r\nContent-Length: 0\r\n\r\n"],
    ["an invalid header name", "X(A): a\r\nContent-Length: 0\r\n\r\n"],
    ["a header line without a colon", "NoColon\r\nContent-Length: 0\r\n\r\n"],
    ["an invalid chunk size", "Transfer-Encoding: chunked\r\n\r\nzz\r\n"],
  ];
  for (const [what, rest] of malformed) {
    it(`answers ${what} with 400 and closes the connection`, async () => {
      const raw = new Raw(port);
      raw.write(`POST / HTTP/1.1\r\nHost: x\r\n${rest}`);
      const [res] = await raw.responses(1);
      expect(res?.status).toBe(400);
      expect(JSON.parse(res?.body ?? "").__type).toBe("SerializationException");
      expect(res?.head).toMatch(UUID);
      expect(res?.head).toMatch(/Connection: close/);
      expect(await raw.closedWithin(2000)).toBe(true);
    });
  }

  it("answers a malformed request line, an absolute-form target, a missing Host and HTTP/2.0 with 400", async () => {
    for (const head of [
      "POST\r\n\r\n",
      "POST http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
      "POST / HTTP/2.0\r\nHost: x\r\n\r\n",
      "P@ST / HTTP/1.1\r\nHost: x\r\n\r\n",
    ]) {
      const raw = new Raw(port);
      raw.write(head);
      const [res] = await raw.responses(1);
      expect(res?.status, head).toBe(400);
      expect(await raw.closedWithin(2000)).toBe(true);
    }
  });

  it("answers headers over maxHeaderBytes with 431, whether they end or not", async () => {
    for (const tail of ["\r\n\r\n", ""]) {
      const raw = new Raw(port);
      raw.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(5000)}${tail}`);
      const [res] = await raw.responses(1);
      expect(res?.status).toBe(431);
      expect(JSON.parse(res?.body ?? "").__type).toBe("RequestHeaderFieldsTooLargeException");
      expect(await raw.closedWithin(2000)).toBe(true);
    }
    // Just under the limit is served.
    const ok = new Raw(port);
    ok.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(3900)}\r\n\r\n`);
    expect((await ok.responses(1))[0]?.status).toBe(200);
    ok.destroy();
  });

  it("honours Connection: close and answers HTTP/1.0 once, closing after the response", async () => {
    const raw = new Raw(port);
    raw.write(
      "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    const [res] = await raw.responses(1);
    expect(res?.status).toBe(200);
    expect(res?.head).toMatch(/Connection: close/);
    expect(await raw.closedWithin(2000)).toBe(true);
    // The request pipelined after "Connection: close" is not answered.
    expect(parseResponses(raw.data)).toHaveLength(1);
    const old = new Raw(port);
    old.write("GET /health HTTP/1.0\r\n\r\n");
    expect((await old.responses(1))[0]?.status).toBe(200);
    expect(await old.closedWithin(2000)).toBe(true);
  });

  it("answers a request whose client half-closes right after sending it, then closes", async () => {
    const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
    const raw = new Raw(port);
    await raw.connected();
    raw.socket.end(`${req.head}Content-Length: ${req.body.length}\r\n\r\n${req.body}`);
    const [res] = await raw.responses(1);
    expect(res?.status).toBe(200);
    expect(res?.head).toMatch(/Connection: close/);
    expect(await raw.closedWithin(2000)).toBe(true);
  });

  it("trims blanks around header values (SP, HTAB, NBSP) as SigV4's canonical form does", async () => {
    const req = await signRequest(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
    let head = "POST / HTTP/1.1\r\n";
    for (const [k, v] of Object.entries(req.headers)) head += `${k}:\t \u00a0${v} \t\r\n`;
    const raw = new Raw(port);
    raw.write(Buffer.from(`${head}Content-Length: ${req.body.length}\r\n\r\n${req.body}`, "latin1"));
    const [res] = await raw.responses(1);
    expect(res?.status, res?.body).toBe(200);
    raw.destroy();
  });

  it("answers HEAD without a body", async () => {
    const raw = new Raw(port);
    raw.write("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((r) => setTimeout(r, 300));
    const text = raw.data;
    const first = text.slice(0, text.indexOf("\r\n\r\n"));
    expect(first).toMatch(/^HTTP\/1\.1 405/);
    expect(first).toMatch(/Content-Length: [1-9]/);
    // The next response starts right after the head.
    expect(text.slice(first.length + 4)).toMatch(/^HTTP\/1\.1 200/);
    raw.destroy();
  });

  it("survives a client resetting the connection mid-body, and no request stays in flight", async () => {
    const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
    for (let i = 0; i < 5; i++) {
      const raw = new Raw(port);
      await raw.connected();
      raw.write(`${req.head}Content-Length: 100\r\n\r\n{"Numb`);
      await new Promise((r) => setTimeout(r, 30));
      raw.socket.resetAndDestroy();
    }
    // A reset while the request is with the local KMS (slow GenerateRandom): its answer goes nowhere, harmlessly.
    const busy = new Raw(port);
    busy.write(`${req.head}Content-Length: ${req.body.length}\r\n\r\n${req.body}`);
    await new Promise((r) => setTimeout(r, 50));
    busy.socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 300));
    expect(server.metrics.inFlight).toBe(0);
    const after = new Raw(port);
    after.write(`${req.head}Content-Length: ${req.body.length}\r\n\r\n${req.body}`);
    expect((await after.responses(1))[0]?.status).toBe(200);
    after.destroy();
  });
});

describe("HTTP/1.1 layer: timeouts, connection limit, graceful close", { timeout: 30_000 }, () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-http1-life-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("closes a connection that sends nothing after keepAliveTimeoutMs, and keeps one that is in use", async () => {
    const kms = await openTestKms(join(dir, "idle"));
    const server = await start(kms, { limits: { keepAliveTimeoutMs: 300 } });
    try {
      const silent = new Raw(portOf(server));
      const busy = new Raw(portOf(server));
      await silent.connected();
      const t0 = Date.now();
      // The busy one sends a request every 100 ms: each resets its idle timer.
      for (let i = 0; i < 6; i++) {
        busy.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await silent.closedWithin(2000)).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(silent.data).toBe("");
      expect(busy.closed).toBe(false);
      expect(await busy.responses(6)).toHaveLength(6);
      busy.destroy();
    } finally {
      await server.close();
    }
  });

  it("refuses connections over maxConnections with 503, and accepts again once one closes", async () => {
    const kms = await openTestKms(join(dir, "conn"));
    const server = await start(kms, { limits: { maxConnections: 2 } });
    try {
      const port = portOf(server);
      const a = new Raw(port);
      const b = new Raw(port);
      await Promise.all([a.connected(), b.connected()]);
      await new Promise((r) => setTimeout(r, 50));
      const c = new Raw(port);
      const [refused] = await c.responses(1);
      expect(refused?.status).toBe(503);
      expect(JSON.parse(refused?.body ?? "").__type).toBe("ServiceUnavailableException");
      expect(await c.closedWithin(2000)).toBe(true);
      expect(server.metrics.rejectedConnections).toBe(1);
      a.destroy();
      await new Promise((r) => setTimeout(r, 100));
      expect(server.metrics.openConnections).toBe(1);
      const d = new Raw(port);
      d.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      expect((await d.responses(1))[0]?.status).toBe(200);
      b.destroy();
      d.destroy();
    } finally {
      await server.close();
    }
  });

  it("graceful close: answers the request in flight with Connection: close, closes idle connections at once", async () => {
    const kms = await openTestKms(join(dir, "graceful"), { slowMs: 400 });
    const server = await start(kms);
    const port = portOf(server);
    const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
    const idle = new Raw(port);
    idle.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    await idle.responses(1);
    const inFlight = new Raw(port);
    inFlight.write(`${req.head}Content-Length: ${req.body.length}\r\n\r\n${req.body}`);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.metrics.inFlight).toBe(1);
    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    // The idle keep-alive connection goes right away; close() waits for the request in flight.
    expect(await idle.closedWithin(200)).toBe(true);
    expect(closed).toBe(false);
    const [res] = await inFlight.responses(1);
    expect(res?.status).toBe(200);
    expect(res?.head).toMatch(/Connection: close/);
    await closing;
    expect(kms.closed()).toBe(true);
    expect(await inFlight.closedWithin(2000)).toBe(true);
    // No new connections.
    const late = new Raw(port);
    await late.closedWithin(1000);
    expect(late.error).toBeDefined();
  });
});
