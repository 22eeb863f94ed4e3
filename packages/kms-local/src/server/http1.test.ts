// The server's HTTP/1.1 layer over raw sockets: pipelining, framing errors, limits, chunked bodies, 100-continue,
// timeouts, resets and graceful close, against a real local KMS.

import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Http1Server, headerBlockValid, headerLinesError } from "./http1.js";
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

/**
 * The server's open-connection count once it has dropped to 0, or after `ms`: the server sees a socket close a few
 * milliseconds after the client does, so a count read at once can still include it.
 */
async function openConnectionsAfter(
  server: { metrics: { openConnections: number } },
  ms = 2000,
): Promise<number> {
  const deadline = Date.now() + ms;
  while (server.metrics.openConnections > 0 && Date.now() < deadline) await sleep(10);
  return server.metrics.openConnections;
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
    ["a space before the colon", "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"],
    ["a tab before the colon", "Content-Length\t: 0\r\n\r\n"],
    ["a NUL in a value", "X-A: a\x00b\r\nContent-Length: 0\r\n\r\n"],
    ["a comma-listed Transfer-Encoding", "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"],
    [
      "two Transfer-Encoding headers",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ["an empty header name", ": x\r\nContent-Length: 0\r\n\r\n"],
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

  it("answers a malformed request line, a target of another form, a missing Host and a bad version with 400", async () => {
    for (const head of [
      "POST\r\n\r\n",
      "POST ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST http://user@x/ HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST http:/x/ HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST http://x/ HTTP/1.1\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
      "POST / HTTP/1.1x\r\nHost: x\r\n\r\n",
      "POST / http/1.1\r\nHost: x\r\n\r\n",
      "P@ST / HTTP/1.1\r\nHost: x\r\n\r\n",
    ]) {
      const raw = new Raw(port);
      raw.write(head);
      const [res] = await raw.responses(1);
      expect(res?.status, head).toBe(400);
      expect(await raw.closedWithin(2000)).toBe(true);
    }
  });

  it("accepts an absolute-form target (RFC 9112 §3.2.2): its path is the target and its authority the Host SigV4 checks", async () => {
    const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
    const host = new URL(server.url).host;
    const withHost = (head: string, to: string) => head.replace(/\r\nhost: [^\r]*/i, `\r\nhost: ${to}`);
    const cases = [
      // The signed Host is the target's authority: verified, whatever the Host header says.
      {
        head: withHost(req.head, "elsewhere.example").replace("POST / ", `POST http://${host}/ `),
        status: 200,
      },
      { head: req.head.replace("POST / ", `POST HTTP://${host} `), status: 200 },
      // Another authority than the one signed: the signature does not verify.
      { head: req.head.replace("POST / ", "POST http://elsewhere.example/ "), status: 400 },
    ];
    for (const { head, status } of cases) {
      const raw = new Raw(port);
      raw.write(`${head}Content-Length: ${req.body.length}\r\n\r\n${req.body}`);
      const [res] = await raw.responses(1);
      expect(res?.status, head.split("\r\n")[0]).toBe(status);
      if (status === 200)
        expect(Buffer.from(JSON.parse(res?.body ?? "").Plaintext, "base64")).toHaveLength(8);
      raw.destroy();
    }
    const health = new Raw(port);
    health.write("GET http://x/health HTTP/1.1\r\nHost: x\r\n\r\n");
    expect((await health.responses(1))[0]?.status).toBe(200);
    health.destroy();
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

  it("answers HEAD /health and HEAD /metrics as GET, head only, and keeps the connection in step", async () => {
    const raw = new Raw(port);
    raw.write(
      "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    await new Promise((r) => setTimeout(r, 300));
    const heads = raw.data.split("\r\n\r\n");
    expect(heads[0]).toMatch(
      /^HTTP\/1\.1 200 OK\r\nContent-Type: application\/json\r\nContent-Length: [1-9]/,
    );
    expect(heads[1]).toMatch(
      /^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain; version=0\.0\.4\r\nContent-Length: [1-9]/,
    );
    // The GET's answer starts right after the second head: no body was sent for either HEAD.
    expect(heads[2]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(JSON.parse(heads[3] ?? "").status).toBe("ok");
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

  const chunkedRefusals: [string, string, number][] = [
    ["a chunk size past any number", "ffffffffffffffffffff\r\n", 413],
    ["a chunk size with 0x", "0x10\r\n", 400],
    ["a chunk size with a leading space", " 5\r\n", 400],
    ["a negative chunk size", "-5\r\n", 400],
    ["chunk data not followed by CRLF", "5\r\nabcdeXX", 400],
    ["a line that is no trailer after the last chunk", "0\r\ngarbage\r\n\r\n", 400],
    ["a control character in a trailer", "0\r\nX-T: a\x00b\r\n\r\n", 400],
    [
      "chunk extensions past maxHeaderBytes in all",
      `${`1;e=${"e".repeat(1000)}\r\na\r\n`.repeat(5)}0\r\n\r\n`,
      400,
    ],
    ["trailers past maxHeaderBytes", `0\r\nX-T: ${"t".repeat(5000)}\r\n\r\n`, 431],
    ["one-byte chunks past maxBodyBytes", "1\r\na\r\n".repeat(4097), 413],
  ];
  for (const [what, body, status] of chunkedRefusals) {
    it(`answers a chunked body with ${what} with ${status} and closes`, async () => {
      const raw = new Raw(port);
      raw.write(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
      const [res] = await raw.responses(1);
      expect(res?.status, res?.body).toBe(status);
      expect(res?.head).toMatch(/Connection: close/);
      expect(await raw.closedWithin(2000)).toBe(true);
    });
  }

  // A chunk-size line or a framing header that a proxy could read differently (request smuggling): each was accepted
  // (String#trimEnd and the NBSP-tolerant value trim took the padding away) and is now a 400 that closes.
  const ambiguousFraming: [string, string, string][] = [
    [
      "a chunk size followed by a space only",
      "Transfer-Encoding: chunked\r\n\r\n5 \r\nabcde\r\n0\r\n\r\n",
      "chunk size",
    ],
    [
      "an empty chunk extension",
      "Transfer-Encoding: chunked\r\n\r\n5;\r\nabcde\r\n0\r\n\r\n",
      "chunk extension",
    ],
    [
      "a chunk extension without a name",
      "Transfer-Encoding: chunked\r\n\r\n5;=y\r\nabcde\r\n0\r\n\r\n",
      "chunk extension",
    ],
    [
      "an unterminated quoted chunk extension",
      'Transfer-Encoding: chunked\r\n\r\n5;x="a\r\nabcde\r\n0\r\n\r\n',
      "chunk extension",
    ],
    [
      "a chunk extension value with a comma",
      "Transfer-Encoding: chunked\r\n\r\n5;x=a,b\r\nabcde\r\n0\r\n\r\n",
      "chunk extension",
    ],
    [
      "a trailing semicolon",
      "Transfer-Encoding: chunked\r\n\r\n5;x=y;\r\nabcde\r\n0\r\n\r\n",
      "chunk extension",
    ],
    [
      "a chunk size ended by a bare LF",
      "Transfer-Encoding: chunked\r\n\r\n5\n\r\nabcde\r\n0\r\n\r\n",
      "chunk size",
    ],
    [
      "a chunk size followed by a bare CR",
      "Transfer-Encoding: chunked\r\n\r\n5\r\r\nabcde\r\n0\r\n\r\n",
      "chunk size",
    ],
    [
      "a chunk size followed by VT",
      "Transfer-Encoding: chunked\r\n\r\n5\x0b\r\nabcde\r\n0\r\n\r\n",
      "chunk size",
    ],
    [
      "a chunk size followed by NBSP",
      "Transfer-Encoding: chunked\r\n\r\n5\xa0;x\r\nabcde\r\n0\r\n\r\n",
      "chunk size",
    ],
    [
      "Transfer-Encoding: chunked followed by NBSP",
      "Transfer-Encoding: chunked\xa0\r\n\r\n0\r\n\r\n",
      "Transfer-Encoding",
    ],
    [
      "Transfer-Encoding: NBSP then chunked",
      "Transfer-Encoding:\xa0chunked\r\n\r\n0\r\n\r\n",
      "Transfer-Encoding",
    ],
    ["Content-Length: NBSP then digits", "Content-Length: \xa05\r\n\r\nabcde", "Content-Length"],
    ["Content-Length: digits then NBSP", "Content-Length: 5\xa0 \r\n\r\nabcde", "Content-Length"],
  ];
  for (const [what, rest, named] of ambiguousFraming) {
    it(`answers ${what} with 400 and closes`, async () => {
      const raw = new Raw(port);
      raw.write(Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\n${rest}`, "latin1"));
      const [res] = await raw.responses(1);
      expect(res?.status, res?.body).toBe(400);
      expect(JSON.parse(res?.body ?? "").message).toContain(named);
      expect(res?.head).toMatch(/Connection: close/);
      expect(await raw.closedWithin(2000)).toBe(true);
    });
  }

  it("accepts chunk extensions in RFC 9112's grammar: BWS, tokens, quoted strings with escapes", async () => {
    const body = '{"NumberOfBytes":8}';
    const req = await rawSigned(server.url, "GenerateRandom", body);
    const raw = new Raw(port);
    raw.write(
      `${req.head}Transfer-Encoding: chunked\r\n\r\n5 \t;a=b\r\n${body.slice(0, 5)}\r\n${(body.length - 5).toString(16)};x\t= "q \\" ;y";z\r\n${body.slice(5)}\r\n0 ;last\r\n\r\n`,
    );
    const [res] = await raw.responses(1);
    expect(res?.status, res?.body).toBe(200);
    raw.destroy();
  });

  it("answers 413 to a client that half-closes right after sending an oversized request", async () => {
    const raw = new Raw(port);
    await raw.connected();
    raw.socket.end(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n${"a".repeat(5000)}`);
    expect(await raw.closedWithin(3000)).toBe(true);
    const [res] = parseResponses(raw.data);
    expect(res?.status).toBe(413);
    expect(JSON.parse(res?.body ?? "").__type).toBe("RequestEntityTooLargeException");
    expect(res?.head).toMatch(UUID);
  });

  it("decodes one-byte chunks, zero-padded sizes and extensions, then answers the request pipelined after the last chunk", async () => {
    const body = '{"NumberOfBytes":24}';
    const req = await rawSigned(server.url, "GenerateRandom", body);
    const chunks = [...body]
      .map((c, i) => `${i % 2 ? "0000000000000000001" : "1"} ;a=b ;c\r\n${c}\r\n`)
      .join("");
    const raw = new Raw(port);
    raw.write(
      `${req.head}Transfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    const [res, health] = await raw.responses(2);
    expect(res?.status, res?.body).toBe(200);
    expect(Buffer.from(JSON.parse(res?.body ?? "").Plaintext, "base64")).toHaveLength(24);
    expect(health?.status).toBe(200);
    expect(raw.closed).toBe(false);
    raw.destroy();
  });

  const contentLengths: [string, number][] = [
    ["+20", 400],
    ["20, 20", 400],
    ["20,20", 400],
    ["0x14", 400],
    ["2 0", 400],
    ["2e1", 400],
    ["", 400],
    ["-0", 400],
    ["99999999999999999999999999", 413],
    ["9007199254740993", 413],
    [" 20 ", 200],
    ["\t20", 200],
    ["000000000000000000000000020", 200],
  ];
  for (const [value, status] of contentLengths) {
    it(`answers Content-Length ${JSON.stringify(value)} with ${status}`, async () => {
      const body = '{"NumberOfBytes":2}\n';
      const req = await rawSigned(server.url, "GenerateRandom", body);
      const raw = new Raw(port);
      raw.write(`${req.head}Content-Length:${value}\r\n\r\n${body}`);
      const [res] = await raw.responses(1);
      expect(res?.status, res?.body).toBe(status);
      if (status === 200) {
        expect(Buffer.from(JSON.parse(res?.body ?? "").Plaintext, "base64")).toHaveLength(2);
        raw.destroy();
      } else {
        expect(res?.head).toMatch(/Connection: close/);
        expect(await raw.closedWithin(2000)).toBe(true);
      }
    });
  }

  const requestLines: [string, string, number, boolean][] = [
    ["a lower-case method", "post / HTTP/1.1\r\nHost: x\r\n\r\n", 405, false],
    ["PUT", "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, false],
    ["OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400, true],
    ["non-ASCII bytes in the target", "GET /h\xe9alth HTTP/1.1\r\nHost: x\r\n\r\n", 400, true],
    ["a NUL in the target", "GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400, true],
    ["non-ASCII bytes in the method", "G\xc9T /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, true],
    ["a target past maxHeaderBytes", `GET /${"a".repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, true],
    ["HTTP/2.0", "GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505, true],
    ["HTTP/3.1", "GET /health HTTP/3.1\r\nHost: x\r\n\r\n", 505, true],
    ["HTTP/1.2 (read as 1.1)", "GET /health HTTP/1.2\r\nHost: x\r\n\r\n", 200, false],
    ["an empty line before the request line", "\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n", 200, false],
    ["two Host headers", "GET /health HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, true],
    [
      "Transfer-Encoding in HTTP/1.0",
      "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      400,
      true,
    ],
  ];
  for (const [what, text, status, closes] of requestLines) {
    it(`answers ${what} with ${status}${closes ? " and closes" : ", keeping the connection"}`, async () => {
      const raw = new Raw(port);
      raw.write(Buffer.from(text, "latin1"));
      const [res] = await raw.responses(1);
      expect(res?.status, res?.body).toBe(status);
      expect(JSON.parse(res?.body ?? "")).toBeTypeOf("object");
      if (closes) {
        expect(res?.head).toMatch(/Connection: close/);
        expect(await raw.closedWithin(2000)).toBe(true);
      } else {
        // Still open and serving.
        raw.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        expect((await raw.responses(2))[1]?.status).toBe(200);
        raw.destroy();
      }
    });
  }

  it("ignores an empty line before a request line even when its CR and LF arrive in separate reads", async () => {
    // RFC 9112 §2.2: some clients send CRLF after a POST body. A lone CR at the end of a read began a request head,
    // and the LF that followed made that head's request line empty: 400, and the keep-alive connection closed,
    // depending only on where the client's bytes were split.
    const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":4}');
    const raw = new Raw(port);
    await raw.connected();
    // Each piece is sent once the answers before it are in, so that the server has parsed up to the lone CR.
    raw.write(`${req.head}Content-Length: ${req.body.length}\r\n\r\n${req.body}\r`);
    await raw.responses(1);
    raw.write("\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n\r");
    await raw.responses(2);
    await sleep(50);
    raw.write("\n");
    await sleep(50);
    raw.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    const answers = await raw.responses(3);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(raw.closed).toBe(false);
    // A CR followed by anything but LF is still a malformed request line.
    raw.write("\r");
    await sleep(50);
    raw.write("XGET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    expect((await raw.responses(4))[3]?.status).toBe(400);
    expect(await raw.closedWithin(2000)).toBe(true);
    // A client that half-closes after a lone CR is closed at once, not held until its idle timeout.
    const last = new Raw(port);
    await last.connected();
    last.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n\r");
    await last.responses(1);
    last.socket.end();
    expect(await last.closedWithin(1000)).toBe(true);
  });

  it("keeps an HTTP/1.0 connection that asks for keep-alive (and says so), closes one that does not", async () => {
    const raw = new Raw(port);
    raw.write(
      "GET /health HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    const [first, second] = await raw.responses(2);
    for (const r of [first, second]) {
      expect(r?.status).toBe(200);
      expect(r?.head).toMatch(/\r\nConnection: keep-alive$/);
    }
    expect(await raw.closedWithin(200)).toBe(false);
    raw.write("GET /health HTTP/1.0\r\n\r\n");
    const [, , third] = await raw.responses(3);
    expect(third?.head).toMatch(/\r\nConnection: close$/);
    expect(await raw.closedWithin(2000)).toBe(true);
  });

  it("a client that half-closes after pipelining gets every complete request answered, then the connection closes", async () => {
    const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
    const raw = new Raw(port);
    await raw.connected();
    // The slow one first: the client's FIN arrives while it is with the local KMS.
    raw.socket.end(
      `${req.head}Content-Length: ${req.body.length}\r\n\r\n${req.body}` +
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" +
        "DELETE / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    const responses = await raw.responses(3);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 405]);
    expect(responses[2]?.head).toMatch(/Connection: close/);
    expect(await raw.closedWithin(2000)).toBe(true);

    // An answer given at once, then a request cut short by the FIN: the answer still goes out.
    const cut = new Raw(port);
    await cut.connected();
    cut.socket.end("GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHo");
    expect((await cut.responses(1))[0]?.status).toBe(200);
    expect(await cut.closedWithin(2000)).toBe(true);
    expect(parseResponses(cut.data)).toHaveLength(1);
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

  it("closes a connection that never sends a request at headersTimeoutMs, not keepAliveTimeoutMs", async () => {
    const kms = await openTestKms(join(dir, "first"));
    const server = await start(kms, { limits: { headersTimeoutMs: 300, keepAliveTimeoutMs: 10_000 } });
    try {
      const silent = new Raw(portOf(server));
      const used = new Raw(portOf(server));
      await Promise.all([silent.connected(), used.connected()]);
      const t0 = Date.now();
      used.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      await used.responses(1);
      expect(await silent.closedWithin(3000)).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(silent.data).toBe("");
      // A connection that was used is idle under keepAliveTimeoutMs (10 s).
      await sleep(600);
      expect(used.closed).toBe(false);
      used.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      expect((await used.responses(2))[1]?.status).toBe(200);
      used.destroy();
    } finally {
      await server.close();
    }
  });

  it("at maxConnections, a new connection takes the place of one that never sent anything; 503 when every place is a client's", async () => {
    const kms = await openTestKms(join(dir, "conn"));
    const server = await start(kms, { limits: { maxConnections: 2 } });
    try {
      const port = portOf(server);
      // a: a client's connection, idle after its request; b: connected, silent.
      const a = new Raw(port);
      a.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      await a.responses(1);
      const b = new Raw(port);
      await b.connected();
      await new Promise((r) => setTimeout(r, 50));
      const c = new Raw(port);
      c.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      expect((await c.responses(1))[0]?.status).toBe(200);
      expect(await b.closedWithin(2000)).toBe(true);
      expect(server.metrics.reclaimedConnections).toBe(1);
      expect(server.metrics.openConnections).toBe(2);
      // a and c are idle, but each served a request: kept, and the next client gets 503.
      const d = new Raw(port);
      const [refused] = await d.responses(1);
      expect(refused?.status).toBe(503);
      expect(JSON.parse(refused?.body ?? "").__type).toBe("ServiceUnavailableException");
      expect(await d.closedWithin(2000)).toBe(true);
      expect(server.metrics.rejectedConnections).toBe(1);
      expect(server.metrics.reclaimedConnections).toBe(1);
      a.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      expect((await a.responses(2))[1]?.status).toBe(200);
      // A connection that closes frees its place at once.
      a.destroy();
      await new Promise((r) => setTimeout(r, 100));
      expect(server.metrics.openConnections).toBe(1);
      const e = new Raw(port);
      e.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      expect((await e.responses(1))[0]?.status).toBe(200);
      c.destroy();
      e.destroy();
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

describe("HTTP/1.1 layer: graceful close, answers not lost", { timeout: 30_000 }, () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-http1-close-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a /metrics scrape being answered when close() starts is answered (Connection: close), not cut off", async () => {
    const kms = await openTestKms(join(dir, "scrape"));
    const server = await start(kms, {
      metricsExtra: async () => {
        await new Promise((r) => setTimeout(r, 300));
        return ["# TYPE slow_extra gauge", "slow_extra 1"];
      },
    });
    const raw = new Raw(portOf(server));
    raw.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(3000);
    const [res] = await raw.responses(1);
    expect(res?.status).toBe(200);
    expect(res?.head).toMatch(/Connection: close/);
    expect(res?.body).toMatch(/^slow_extra 1$/m);
    expect(await raw.closedWithin(2000)).toBe(true);
  });

  it("a body still arriving when close() starts gets 5 s, not the rest of requestTimeoutMs, then 503 (audited)", async () => {
    const kms = await openTestKms(join(dir, "stalled-body"));
    const server = await start(kms, { limits: { requestTimeoutMs: 30_000 } });
    const raw = new Raw(portOf(server));
    const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
    raw.write(`${req.head}Content-Length: ${req.body.length}\r\n\r\n${req.body.slice(0, 5)}`);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await server.close();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(4500);
    expect(took).toBeLessThan(8000);
    const [res] = await raw.responses(1);
    expect(res?.status).toBe(503);
    expect(JSON.parse(res?.body ?? "")).toEqual({
      __type: "ServiceUnavailableException",
      message: "The server is shutting down and the request body did not arrive in time.",
    });
    expect(await raw.closedWithin(2000)).toBe(true);
    // The refusal is in the audit log (read back once the server closed it).
    const reopened = await openTestKms(join(dir, "stalled-body"));
    const refused = reopened.auditLog.query({ eventName: "GenerateRandom" });
    await reopened.local.close();
    expect(refused.map((e) => e.errorCode)).toEqual(["ServiceUnavailableException"]);
  });

  it("a request received but not yet parsed when close() starts gets 503, not a dropped connection", async () => {
    const kms = await openTestKms(join(dir, "unparsed"));
    const server = await start(kms);
    let closing: Promise<void> | undefined;
    // Runs right after the server's own 'data' listener: the request is in its buffer, its parse pass not yet run.
    server.netServer.on("connection", (s: Socket) =>
      s.once("data", () => {
        closing = server.close();
      }),
    );
    const raw = new Raw(portOf(server));
    raw.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    const [res] = await raw.responses(1);
    expect(res?.status).toBe(503);
    expect(JSON.parse(res?.body ?? "")).toEqual({
      __type: "ServiceUnavailableException",
      message: "The server is shutting down.",
    });
    expect(res?.head).toMatch(/Connection: close/);
    expect(res?.head).toMatch(UUID);
    await closing;
    expect(await raw.closedWithin(2000)).toBe(true);
  });
});

describe("HTTP/1.1 layer: mutated byte streams", { timeout: 120_000 }, () => {
  it("any mutation of a pipelined stream gets well-formed answers, then a close; nothing leaks or reaches onError", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-kms-http1-mutate-"));
    const kms = await openTestKms(join(dir, "kms"));
    const errors: unknown[] = [];
    const server = await start(kms, {
      limits: { headersTimeoutMs: 800, requestTimeoutMs: 800, keepAliveTimeoutMs: 800, maxBodyBytes: 2048 },
      onError: (e) => errors.push(e),
    });
    const port = portOf(server);
    try {
      const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
      const base = Buffer.from(
        `${req.head}Content-Length: ${req.body.length}\r\n\r\n${req.body}` +
          "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n" +
          "GET /health HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}" +
          "GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "latin1",
      );
      const mutation = byteMutation(
        [0x0d, 0x0a, 0x00, 0x20, 0x09, 0xa0, 0x3a, 0x3b, 0x30, 0x66, 0x2c],
        8,
        40,
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(mutation, { minLength: 1, maxLength: 4 }),
          fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 4 }),
          async (mutations, pieces) => {
            const bytes = mutated(base, mutations);
            const raw = new Raw(port);
            await raw.connected();
            for (let at = 0, i = 0; at < bytes.length; i++) {
              const size = pieces[i % pieces.length] as number;
              raw.socket.write(bytes.subarray(at, at + size));
              at += size;
            }
            raw.socket.end();
            // The timeouts are 0.8 s: whatever was sent, the server answers what it can and closes.
            expect(await raw.closedWithin(5000), JSON.stringify(bytes.toString("latin1"))).toBe(true);
            const responses = parseResponses(raw.data);
            // Nothing after the last complete answer: no partial or garbage output.
            const consumed = responses.reduce(
              (n, r) => n + r.head.length + 4 + (r.status === 100 ? 0 : r.body.length),
              0,
            );
            expect(consumed, JSON.stringify(raw.data)).toBe(raw.data.length);
            for (const r of responses) {
              if (r.status === 100) continue;
              expect(r.head).toMatch(UUID);
              expect(r.head).toMatch(/\r\nDate: /);
              expect(r.body.length).toBe(Number(/\r\nContent-Length: (\d+)/.exec(r.head)?.[1]));
              if (r.status !== 200) expect(JSON.parse(r.body).__type, r.body).toBeTypeOf("string");
            }
          },
        ),
        { numRuns: 120 },
      );
      expect(await openConnectionsAfter(server, 3000)).toBe(0);
      expect(server.metrics.inFlight).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("HTTP/1.1 layer: differential against node:http's parser", { timeout: 120_000 }, () => {
  /** A server on `listen` that records each complete request as "url body" (the method aside: see below). */
  async function recorder(kind: "ours" | "node"): Promise<{ port: number; seen: string[]; close(): void }> {
    const seen: string[] = [];
    if (kind === "node") {
      const s = createHttpServer(
        { keepAliveTimeout: 500, headersTimeout: 500, requestTimeout: 1000 },
        (req, res) => {
          const chunks: Buffer[] = [];
          req.on("data", (c: Buffer) => chunks.push(c));
          req.on("end", () => {
            seen.push(`${req.url} ${JSON.stringify(Buffer.concat(chunks).toString("latin1"))}`);
            res.end("ok");
          });
        },
      );
      await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
      return { port: (s.address() as { port: number }).port, seen, close: () => s.close() };
    }
    const s = new Http1Server({
      limits: {
        maxHeaderBytes: 16384,
        maxBodyBytes: 100_000,
        headersTimeoutMs: 500,
        requestTimeoutMs: 500,
        keepAliveTimeoutMs: 500,
        maxConnections: 100,
      },
      counters: { inFlight: 0, openConnections: 0, rejectedConnections: 0, reclaimedConnections: 0 },
      onRequest(ex) {
        seen.push(`${ex.url} ${JSON.stringify(ex.body.toString("latin1"))}`);
        ex.respond(200, "text/plain", "ok", "id");
      },
      onRefused: (ex) => ex.respond(413, "text/plain", "no", "id"),
      errorBody: (name) => name,
      onError: (e) => {
        throw e;
      },
    });
    await s.listen(0, "127.0.0.1");
    return { port: (s.netServer.address() as { port: number }).port, seen, close: () => void s.close() };
  }

  function sendAll(port: number, bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      const c = connect(port, "127.0.0.1");
      c.on("error", () => {});
      c.on("data", () => {});
      c.on("close", () => resolve());
      c.end(bytes);
      setTimeout(() => c.destroy(), 3000);
    });
  }

  // Request smuggling needs two parsers to accept one stream and disagree on where a request ends. Both servers get
  // the same mutated stream; wherever both accepted a request at the same position, they must have seen the same
  // target and body. (This server is allowed to be stricter, and it accepts any token as a method, where llhttp
  // refuses methods it does not know, and RFC 9112's BWS in chunk extensions, which llhttp refuses.)
  it("never sees a different request where node:http sees one, for mutated pipelined streams", async () => {
    const ours = await recorder("ours");
    const node = await recorder("node");
    try {
      const base = Buffer.from(
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
          "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n" +
          "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}" +
          "GET /d HTTP/1.1\r\nHost: x\r\n\r\n",
        "latin1",
      );
      const mutation = byteMutation(
        [0x0d, 0x0a, 0x00, 0x20, 0x09, 0xa0, 0x3a, 0x3b, 0x30, 0x66, 0x2c, 0x0b, 0x0c, 0x22, 0x7f],
        4,
      );
      await fc.assert(
        fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 2 }), async (mutations) => {
          const bytes = mutated(base, mutations);
          ours.seen.length = 0;
          node.seen.length = 0;
          await Promise.all([sendAll(ours.port, bytes), sendAll(node.port, bytes)]);
          const n = Math.min(ours.seen.length, node.seen.length);
          expect(ours.seen.slice(0, n), JSON.stringify(bytes.toString("latin1"))).toEqual(
            node.seen.slice(0, n),
          );
        }),
        { numRuns: 400 },
      );
    } finally {
      ours.close();
      node.close();
    }
  });
});

type ByteMutation =
  | { kind: "set"; at: number; byte: number }
  | { kind: "insert"; at: number; byte: number }
  | { kind: "delete"; at: number; length: number }
  | { kind: "repeat"; at: number; length: number };

/**
 * A mutation of a byte stream: one of `special` set or inserted, up to `maxDelete` bytes deleted, and (with
 * `maxRepeat`) up to that many bytes repeated in place. Positions wrap around the stream's length.
 */
function byteMutation(special: number[], maxDelete: number, maxRepeat?: number): fc.Arbitrary<ByteMutation> {
  const kinds: fc.Arbitrary<ByteMutation>[] = [
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.constantFrom(...special) }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), byte: fc.constantFrom(...special) }),
    fc.record({
      kind: fc.constant("delete" as const),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: maxDelete }),
    }),
  ];
  if (maxRepeat !== undefined) {
    kinds.push(
      fc.record({
        kind: fc.constant("repeat" as const),
        at: fc.nat(),
        length: fc.integer({ min: 1, max: maxRepeat }),
      }),
    );
  }
  return fc.oneof(...kinds);
}

/** `base` with the mutations applied in order (never modified in place). */
function mutated(base: Buffer, mutations: readonly ByteMutation[]): Buffer {
  let bytes = base;
  for (const m of mutations) {
    const at = m.at % (bytes.length + 1);
    if (m.kind === "set") {
      if (at < bytes.length) {
        bytes = Buffer.from(bytes);
        bytes[at] = m.byte;
      }
    } else if (m.kind === "insert") {
      bytes = Buffer.concat([bytes.subarray(0, at), Buffer.of(m.byte), bytes.subarray(at)]);
    } else if (m.kind === "delete") {
      bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.length)]);
    } else {
      const part = bytes.subarray(at, at + m.length);
      bytes = Buffer.concat([bytes.subarray(0, at), part, part, bytes.subarray(at)]);
    }
  }
  return bytes;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The server's side of every connection it accepts (net.Server emits each to every 'connection' listener). */
function serverSockets(server: KmsServer): Socket[] {
  const sockets: Socket[] = [];
  server.netServer.on("connection", (s: Socket) => sockets.push(s));
  return sockets;
}

/** Counts the occurrences of `needle` in a stream of latin1 chunks. */
function counter(needle: string): { add(chunk: string): void; readonly count: number } {
  let tail = "";
  let count = 0;
  return {
    add(chunk: string) {
      const text = tail + chunk;
      for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) count++;
      tail = text.slice(Math.max(0, text.length - needle.length + 1));
    },
    get count() {
      return count;
    },
  };
}

describe("HTTP/1.1 layer: hostile clients", { timeout: 60_000 }, () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-http1-hostile-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A client that writes `text` at once and reads nothing until told to. */
  async function nonReader(server: KmsServer, text: string): Promise<Socket> {
    const client = connect(portOf(server), "127.0.0.1");
    client.setEncoding("latin1");
    client.pause();
    client.on("error", () => {});
    await new Promise((r) => client.once("connect", r));
    client.write(text);
    return client;
  }

  /**
   * Waits until the server socket stops reading and writing (bytesRead and its unwritten output unchanged for
   * 600 ms, or 30 s); the peak of its unwritten output.
   */
  async function settle(s: Socket): Promise<{ peak: number; read: number }> {
    let peak = 0;
    let last = "";
    const deadline = Date.now() + 30_000;
    for (let stable = 0; stable < 6 && Date.now() < deadline; ) {
      await sleep(100);
      peak = Math.max(peak, s.writableLength);
      const now = `${s.bytesRead}/${s.writableLength}`;
      if (now === last) stable++;
      else {
        stable = 0;
        last = now;
      }
    }
    return { peak, read: s.bytesRead };
  }

  // The answers (a metrics page each, a KiB of random bytes) are far larger than the requests: tens of MiB of
  // output, more than the kernel's socket buffers take.
  for (const kind of ["GET /metrics", "signed GenerateRandom and GET /metrics"] as const) {
    it(`bounds the unwritten output of a client that pipelines ${kind} without reading, then answers it all`, async () => {
      const kms = await openTestKms(join(dir, `bp-${kind.length}`));
      const server = await start(kms);
      const accepted = serverSockets(server);
      try {
        let one = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        let count = 20_000;
        let expected = count;
        if (kind !== "GET /metrics") {
          const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":1024}');
          one = `${req.head}Content-Length: ${req.body.length}\r\n\r\n${req.body}${one.repeat(40)}`;
          count = 600;
          expected = 41 * count;
        }
        const client = await nonReader(server, one.repeat(count));
        const { peak } = await settle(accepted[0] as Socket);
        // MAX_PENDING_OUTPUT (64 KiB) plus one answer, where it was every answer the kernel did not take.
        expect(peak).toBeLessThan(128 * 1024);
        expect(server.metrics.openConnections).toBe(1);
        // Once the client reads, every request is answered.
        const ok = counter("HTTP/1.1 200 OK\r\n");
        const any = counter("HTTP/1.1 ");
        client.on("data", (d: string) => {
          ok.add(d);
          any.add(d);
        });
        client.resume();
        const deadline = Date.now() + 45_000;
        while (ok.count < expected && Date.now() < deadline) await sleep(50);
        expect(ok.count).toBe(expected);
        expect(any.count).toBe(expected);
        expect((accepted[0] as Socket).bytesRead).toBe(one.length * count);
        client.destroy();
      } finally {
        await server.close();
      }
    });
  }

  it("stops reading from a client that keeps writing requests but never reads, and lets it go when it leaves", async () => {
    const kms = await openTestKms(join(dir, "bp-read"));
    const server = await start(kms);
    const accepted = serverSockets(server);
    try {
      const health = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
      // 2 MiB of output for 7 KiB of requests first, then 40 MiB more requests: more than the socket buffers hold.
      const text = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200) + health.repeat(1_200_000);
      const client = await nonReader(server, text);
      const s = accepted[0] as Socket;
      const { peak, read } = await settle(s);
      expect(peak).toBeLessThan(128 * 1024);
      expect(read).toBeLessThan(text.length / 2);
      expect(client.writableLength).toBeGreaterThan(0);
      client.destroy();
      expect(await openConnectionsAfter(server, 5000)).toBe(0);
      expect(s.destroyed).toBe(true);
    } finally {
      await server.close();
    }
  });

  it("closes a connection whose client stops reading its answers at keepAliveTimeoutMs", async () => {
    const kms = await openTestKms(join(dir, "bp-idle"));
    const server = await start(kms, { limits: { keepAliveTimeoutMs: 500 } });
    const accepted = serverSockets(server);
    try {
      const client = await nonReader(server, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20_000));
      const t0 = Date.now();
      expect(await openConnectionsAfter(server, 10_000)).toBe(0);
      expect((accepted[0] as Socket).destroyed).toBe(true);
      expect(Date.now() - t0).toBeLessThan(3000);
      client.destroy();
    } finally {
      await server.close();
    }
  });

  it("cuts off headers trickled a byte at a time at headersTimeoutMs from the first byte", async () => {
    const kms = await openTestKms(join(dir, "slow-head"));
    const server = await start(kms, { limits: { headersTimeoutMs: 400, keepAliveTimeoutMs: 10_000 } });
    try {
      const raw = new Raw(portOf(server));
      await raw.connected();
      const text = `POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ${"s".repeat(500)}`;
      const t0 = Date.now();
      let sent = 0;
      while (!raw.closed && sent < text.length && Date.now() - t0 < 5000) {
        raw.write(text[sent++] as string);
        await sleep(10);
      }
      const elapsed = Date.now() - t0;
      const [res] = await raw.responses(1);
      expect(res?.status).toBe(408);
      expect(JSON.parse(res?.body ?? "").__type).toBe("RequestTimeoutException");
      expect(raw.closed).toBe(true);
      // Every byte arrived within 10 ms of the last, yet the connection went at the deadline.
      expect(elapsed).toBeGreaterThanOrEqual(350);
      expect(elapsed).toBeLessThan(1500);
      expect(await openConnectionsAfter(server)).toBe(0);
    } finally {
      await server.close();
    }
  });

  for (const framing of ["Content-Length", "chunked"] as const) {
    it(`answers a ${framing} body trickled slowly with 408 at requestTimeoutMs, audited, and closes`, async () => {
      const kms = await openTestKms(join(dir, `slow-body-${framing}`));
      const server = await start(kms, { limits: { requestTimeoutMs: 400, keepAliveTimeoutMs: 10_000 } });
      try {
        const req = await rawSigned(server.url, "GenerateRandom", "{}");
        const raw = new Raw(portOf(server));
        raw.write(
          framing === "chunked"
            ? `${req.head}Transfer-Encoding: chunked\r\n\r\n`
            : `${req.head}Content-Length: 500\r\n\r\n`,
        );
        const t0 = Date.now();
        while (!raw.closed && Date.now() - t0 < 5000) {
          raw.write(framing === "chunked" ? "1\r\na\r\n" : "a");
          await sleep(10);
        }
        const elapsed = Date.now() - t0;
        const [res] = await raw.responses(1);
        expect(res?.status).toBe(408);
        expect(JSON.parse(res?.body ?? "").__type).toBe("RequestTimeoutException");
        expect(elapsed).toBeGreaterThanOrEqual(350);
        expect(elapsed).toBeLessThan(1500);
        const id = /x-amzn-RequestId: (\S+)/.exec(res?.head ?? "")?.[1];
        expect(kms.auditLog.query().filter((e) => e.requestID === id)[0]?.errorCode).toBe(
          "RequestTimeoutException",
        );
        expect(server.metrics.inFlight).toBe(0);
      } finally {
        await server.close();
      }
    });
  }

  it("closes a keep-alive connection idle after its answer at keepAliveTimeoutMs", async () => {
    const kms = await openTestKms(join(dir, "idle-after"));
    const server = await start(kms, { limits: { keepAliveTimeoutMs: 300 } });
    try {
      const raw = new Raw(portOf(server));
      raw.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      await raw.responses(1);
      const t0 = Date.now();
      expect(await raw.closedWithin(3000)).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
      expect(parseResponses(raw.data)).toHaveLength(1);
      expect(await openConnectionsAfter(server)).toBe(0);
    } finally {
      await server.close();
    }
  });

  it("clients resetting mid-request, mid-answer or while the local KMS works leak no connection or request", async () => {
    const kms = await openTestKms(join(dir, "resets"), { slowMs: 100 });
    const server = await start(kms, { limits: { maxConnections: 8 } });
    const port = portOf(server);
    try {
      const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":1024}');
      const full = `${req.head}Content-Length: ${req.body.length}\r\n\r\n${req.body}`;
      for (let round = 0; round < 4; round++) {
        const clients: Raw[] = [];
        for (let i = 0; i < 8; i++) {
          const raw = new Raw(port);
          clients.push(raw);
          await raw.connected();
          if (i % 4 === 0)
            raw.write(full); // with the local KMS (slow) when reset
          else if (i % 4 === 1)
            raw.write(full.slice(0, full.length - 5)); // mid-body
          else if (i % 4 === 2)
            raw.write(full.repeat(50)); // mid-answer: many pipelined answers on their way
          else raw.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2000));
        }
        await sleep(20 + round * 30);
        for (const raw of clients) {
          if (round % 2) raw.socket.resetAndDestroy();
          else raw.destroy();
        }
        const deadline = Date.now() + 5000;
        while ((server.metrics.openConnections > 0 || server.metrics.inFlight > 0) && Date.now() < deadline) {
          await sleep(20);
        }
        expect(server.metrics.openConnections, `round ${round}`).toBe(0);
        expect(server.metrics.inFlight, `round ${round}`).toBe(0);
      }
      expect(server.metrics.rejectedConnections).toBe(0);
      // All eight places are free again.
      const after = Array.from({ length: 8 }, () => new Raw(port));
      for (const raw of after) raw.write(full);
      for (const raw of after) expect((await raw.responses(1))[0]?.status).toBe(200);
      for (const raw of after) raw.destroy();
    } finally {
      await server.close();
    }
  });

  it("answers every connection over maxConnections 503 with a message, and admits again as connections close", async () => {
    const kms = await openTestKms(join(dir, "max"));
    const server = await start(kms, { limits: { maxConnections: 3 } });
    const port = portOf(server);
    try {
      // Three places held by clients (idle after a request): none can be reclaimed.
      const held = Array.from({ length: 3 }, () => new Raw(port));
      for (const raw of held) raw.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      for (const raw of held) await raw.responses(1);
      const extra = Array.from({ length: 20 }, () => new Raw(port));
      // Some of them send a request (not read), some reset at once.
      extra.forEach((raw, i) => {
        if (i % 2) raw.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      });
      for (const raw of extra.slice(0, 10)) {
        const [res] = await raw.responses(1);
        expect(res?.status).toBe(503);
        const body = JSON.parse(res?.body ?? "");
        expect(body.__type).toBe("ServiceUnavailableException");
        expect(body.message).toMatch(/at most 3/);
        expect(res?.head).toMatch(/Connection: close/);
        expect(await raw.closedWithin(2000)).toBe(true);
      }
      for (const raw of extra.slice(10)) raw.socket.resetAndDestroy();
      await sleep(100);
      expect(server.metrics.rejectedConnections).toBe(20);
      expect(server.metrics.openConnections).toBe(3);
      for (const raw of held) raw.destroy();
      expect(await openConnectionsAfter(server)).toBe(0);
      const again = Array.from({ length: 3 }, () => new Raw(port));
      for (const raw of again) raw.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      for (const raw of again) expect((await raw.responses(1))[0]?.status).toBe(200);
      for (const raw of again) raw.destroy();
    } finally {
      await server.close();
    }
  });

  it("graceful close answers the request in flight and resolves in bounded time despite hostile connections", async () => {
    const kms = await openTestKms(join(dir, "close-hostile"), { slowMs: 300 });
    const server = await start(kms, {
      limits: { keepAliveTimeoutMs: 1000, headersTimeoutMs: 5000, requestTimeoutMs: 1000 },
    });
    const port = portOf(server);
    const req = await rawSigned(server.url, "GenerateRandom", '{"NumberOfBytes":8}');
    // One that pipelines without ever reading the answers.
    const reader = connect(port, "127.0.0.1");
    reader.pause();
    await new Promise((r) => reader.once("connect", r));
    reader.on("error", () => {});
    reader.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(50_000));
    // One halfway through its headers, one halfway through its body, one idle, one in flight.
    const head = new Raw(port);
    head.write("POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    const body = new Raw(port);
    body.write(`${req.head}Content-Length: 100\r\n\r\n{"Num`);
    const idle = new Raw(port);
    idle.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    await idle.responses(1);
    const inFlight = new Raw(port);
    inFlight.write(`${req.head}Content-Length: ${req.body.length}\r\n\r\n${req.body}`);
    await sleep(150);
    const t0 = Date.now();
    await server.close();
    const took = Date.now() - t0;
    // Bounded by the slow request (300 ms), the body timeout (1 s) and the flush grace (keepAliveTimeoutMs).
    expect(took).toBeLessThan(3500);
    const [res] = await inFlight.responses(1);
    expect(res?.status).toBe(200);
    expect(res?.head).toMatch(/Connection: close/);
    const [refused] = await head.responses(1);
    expect(refused?.status).toBe(503);
    expect(await idle.closedWithin(1000)).toBe(true);
    expect(await body.closedWithin(1000)).toBe(true);
    expect(await openConnectionsAfter(server)).toBe(0);
    expect(server.metrics.inFlight).toBe(0);
    expect(kms.closed()).toBe(true);
    reader.destroy();
  });
});
