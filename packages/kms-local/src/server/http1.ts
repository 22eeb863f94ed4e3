// A lean, strict HTTP/1.1 server on node:net for the KMS server: bounded parsing, keep-alive, pipelining, timeouts.
//
// Why not node:http: at 64 connections its per-request machinery (IncomingMessage/ServerResponse streams, header
// validation twice over, one writev per response, a timer per request) cost more than SigV4 and the codec together.
// This one parses the request head once into the map SigV4 needs, buffers bodies up to a hard limit, answers with
// one socket.write per response, and checks every timeout with one interval for all connections.
//
// Strictness (RFC 9112): the request line must be `METHOD SP origin-form SP HTTP/1.1` (or 1.0); header names are
// tokens; values carry no control characters but HTAB; lines end in CRLF (a bare CR or LF is refused), obs-fold is
// refused; Content-Length is digits, once; Transfer-Encoding is exactly `chunked`, never together with
// Content-Length (§6.3: request smuggling); HTTP/1.1 needs Host. Each violation is a 400 and the connection closes.
// Chunked request bodies are decoded (§7.1) under the same body limit; trailers are read (within the header limit)
// and dropped. Requests are answered one at a time per connection, so pipelined requests get their responses in order.

import { randomUUID } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";

/** Limits of {@link Http1Server}, all required (the KMS server fills in its defaults). */
export interface Http1Limits {
  /** Request line plus headers, in bytes; more gets 431. */
  readonly maxHeaderBytes: number;
  /** Request body in bytes; more gets 413 through `onRefused`, before the body is read. */
  readonly maxBodyBytes: number;
  /** From the first byte of a request to the end of its headers, ms; slower gets 408. */
  readonly headersTimeoutMs: number;
  /** From the end of the headers to the end of the body, ms; slower gets 408 through `onRefused`. */
  readonly requestTimeoutMs: number;
  /** Idle time of a connection between requests (and before its first), ms; then it is closed. */
  readonly keepAliveTimeoutMs: number;
  /** Open connections at most; one more gets 503 and is closed. */
  readonly maxConnections: number;
}

/** Counters the server keeps up to date (`ServerMetrics` has these fields). */
export interface Http1Counters {
  /** Requests whose headers arrived and that have not been answered (or abandoned) yet. */
  inFlight: number;
  openConnections: number;
  rejectedConnections: number;
}

/** Why a request was refused before its body was read. */
export type Http1Refusal = "too-large" | "body-timeout";

/** Options of {@link Http1Server}. */
export interface Http1Options {
  readonly limits: Http1Limits;
  readonly counters: Http1Counters;
  /** A complete request (body read). Must call `exchange.respond` exactly once, now or later. */
  readonly onRequest: (exchange: Http1Exchange) => void;
  /**
   * A request refused before its body was read (413, or 408 for a body that did not arrive in time). Must call
   * `exchange.respond` exactly once; the connection closes after that response.
   */
  readonly onRefused: (exchange: Http1Exchange, reason: Http1Refusal) => void;
  /** The body of an error this layer answers itself (malformed framing, 431, 408 for headers, 503). */
  readonly errorBody: (name: string, message: string) => string;
  /** Where a handler's synchronous exception goes (it is then answered 500). */
  readonly onError: (error: unknown) => void;
}

const STATUS_TEXT: Record<number, string> = {
  100: "Continue",
  200: "OK",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  417: "Expectation Failed",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
};

// Prebuilt status lines: one string concatenation per response.
const STATUS_LINE: Record<number, string> = {};
function statusLine(status: number): string {
  let line = STATUS_LINE[status];
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Unknown"}\r\n`;
    STATUS_LINE[status] = line;
  }
  return line;
}

// The Date header, rebuilt at most once a second.
let dateSecond = -1;
let dateLine = "";
function dateHeader(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLine = `Date: ${new Date(second * 1000).toUTCString()}\r\n`;
  }
  return dateLine;
}

const CRLFCRLF = Buffer.from("\r\n\r\n");
// tchar (RFC 9110 §5.6.2).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// field-value characters (RFC 9110 §5.5): VCHAR, SP, HTAB and obs-text; never CR, LF, NUL or other controls.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// origin-form request target: visible ASCII, starting with "/".
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;
const DIGITS = /^[0-9]+$/;
// Header lines: `token ":" field-value`, each ending in CRLF (the last one at the end of the block).
const HEADER_BLOCK = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*(?:\r\n(?!$)|$))*$/;
const HEX = /^[0-9A-Fa-f]+$/;
// A chunk-size line (with extensions) longer than this is refused.
const MAX_CHUNK_LINE = 1024;

enum State {
  /** Between requests (or before the first): nothing of a request received. */
  Idle,
  /** Part of a request head received. */
  Head,
  /** Reading a Content-Length body. */
  Body,
  /** Reading a chunked body. */
  Chunked,
  /** The request is with the handler; further bytes wait in the buffer. */
  Busy,
  /** Refused or closing: everything received is dropped; the socket ends after the response. */
  Draining,
}

enum ChunkState {
  Size,
  Data,
  DataEnd,
  Trailer,
}

/** A parse failure that the layer answers itself, then closes the connection. */
class FramingError extends Error {
  constructor(
    readonly status: number,
    readonly awsName: string,
    message: string,
  ) {
    super(message);
  }
}

/** One request on a connection, and the way to answer it. */
export class Http1Exchange {
  /** The request method, as sent (methods are case-sensitive). */
  readonly method: string;
  /** The request target (origin-form: path and query). */
  readonly url: string;
  /**
   * Lower-cased header names to values (trimmed, inner runs of spaces folded, repeats joined by ","): the form
   * `SigV4Verifier.verifyCollected` takes.
   */
  readonly headers: Map<string, string>;
  /** The body (empty until complete; stays empty for a refused request). */
  body: Buffer = EMPTY;
  /** The peer's address. */
  readonly remoteAddress: string | undefined;
  /** @internal */
  readonly conn: Connection;
  /** @internal The client asked the connection to close after this request. */
  readonly closeAfter: boolean;
  #answered = false;
  /** @internal Counted in `counters.inFlight` until answered. */
  tracked = true;

  /** @internal */
  constructor(
    conn: Connection,
    method: string,
    url: string,
    headers: Map<string, string>,
    closeAfter: boolean,
  ) {
    this.conn = conn;
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.closeAfter = closeAfter;
    this.remoteAddress = conn.remoteAddress;
  }

  /**
   * Stops counting this request as in flight (a health check or metrics scrape: close() does not wait for it,
   * and it does not count itself in the figures it reports).
   */
  untrack(): void {
    if (!this.tracked) return;
    this.tracked = false;
    this.conn.server.counters.inFlight--;
    this.conn.server.maybeIdle();
  }

  /** True once `respond` was called. */
  get answered(): boolean {
    return this.#answered;
  }

  /**
   * Answers the request: one write of the status line, Content-Type, Content-Length, x-amzn-RequestId, Date
   * (and `Connection: close` when the connection closes after it) and the body. Later calls are ignored; a
   * connection the client already closed is not written to.
   */
  respond(status: number, contentType: string, body: string, requestId: string): void {
    if (this.#answered) return;
    this.#answered = true;
    this.conn.answer(this, status, contentType, body, requestId);
  }
}

const EMPTY = Buffer.alloc(0);

/** @internal One client connection: its parser state and timers. */
class Connection {
  readonly socket: Socket;
  readonly server: Http1Server;
  readonly remoteAddress: string | undefined;
  state: State = State.Idle;
  /** Bytes received and not yet consumed. */
  buf: Buffer = EMPTY;
  /** The buffer `append` accumulates into, and how much of it is used. */
  acc: Buffer | undefined;
  accEnd = 0;
  /** How far the head search got in `buf` (so a head arriving a byte at a time is scanned once). */
  scanned = 0;
  /** When the current phase times out (ms since the epoch); 0: no deadline. */
  deadline: number;
  exchange: Http1Exchange | undefined;
  /** Body of the current request: bytes still expected (Content-Length), or chunk bytes left (chunked). */
  remaining = 0;
  bodyParts: Buffer[] = [];
  bodySize = 0;
  chunkState = ChunkState.Size;
  trailerBytes = 0;
  /** The peer half-closed its side. */
  peerEnded = false;
  paused = false;
  closed = false;
  /** Output waiting for the server's next flush (see Http1Server.queue), and whether to end the socket after it. */
  out: string | undefined;
  endAfterOut = false;
  /** Waiting for the server's next parse pass (see Http1Server.schedule). */
  scheduled = false;

  constructor(server: Http1Server, socket: Socket) {
    this.server = server;
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress;
    this.deadline = Date.now() + server.limits.keepAliveTimeoutMs;
  }

  onData(chunk: Buffer): void {
    if (this.state === State.Draining) return;
    if (this.buf.length === 0) this.buf = chunk;
    else this.append(chunk);
    if (this.state === State.Busy) {
      // Pipelined bytes wait for the response in progress; bounded, so a client cannot make us buffer forever.
      if (
        !this.paused &&
        this.buf.length > this.server.limits.maxHeaderBytes + this.server.limits.maxBodyBytes
      ) {
        this.paused = true;
        this.socket.pause();
      }
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      this.server.schedule(this);
    }
  }

  /**
   * Adds a chunk to unconsumed bytes (a head arriving in pieces, pipelined requests): in place when there is room,
   * else into a buffer twice the size, so a head sent a byte at a time costs linear, not quadratic, copying.
   * Bytes already handed out (a request body) lie before `accEnd` and are never overwritten.
   */
  append(chunk: Buffer): void {
    const buf = this.buf;
    const acc = this.acc;
    if (
      acc !== undefined &&
      buf.buffer === acc.buffer &&
      buf.byteOffset + buf.length === acc.byteOffset + this.accEnd &&
      this.accEnd + chunk.length <= acc.length
    ) {
      chunk.copy(acc, this.accEnd);
      this.accEnd += chunk.length;
      this.buf = acc.subarray(buf.byteOffset - acc.byteOffset, this.accEnd);
      return;
    }
    const length = buf.length + chunk.length;
    const next = Buffer.alloc(Math.max(2 * length, 1024));
    buf.copy(next, 0);
    chunk.copy(next, buf.length);
    this.acc = next;
    this.accEnd = length;
    this.buf = next.subarray(0, length);
  }

  /** Parses as much of `buf` as it can, handing complete requests to the handler. */
  process(): void {
    try {
      for (;;) {
        switch (this.state) {
          case State.Idle:
            if (this.buf.length === 0) {
              // Nothing left in the accumulation buffer: let it go.
              this.acc = undefined;
              return;
            }
            this.state = State.Head;
            this.scanned = 0;
            this.deadline = Date.now() + this.server.limits.headersTimeoutMs;
            break;
          case State.Head:
            if (!this.readHead()) return;
            break;
          case State.Body:
            if (!this.readBody()) return;
            break;
          case State.Chunked:
            if (!this.readChunked()) return;
            break;
          default:
            return;
        }
      }
    } catch (e) {
      if (e instanceof FramingError) {
        this.fail(e.status, e.awsName, e.message);
        return;
      }
      // A fault of this layer: reported, and only this connection pays for it (never the process).
      this.server.options.onError(e);
      this.abandon();
      this.state = State.Draining;
      this.socket.destroy();
    }
  }

  readHead(): boolean {
    const limits = this.server.limits;
    const buf = this.buf;
    const end = buf.indexOf(CRLFCRLF, this.scanned > 3 ? this.scanned - 3 : 0);
    if (end < 0) {
      if (buf.length > limits.maxHeaderBytes) {
        throw new FramingError(
          431,
          "RequestHeaderFieldsTooLargeException",
          "The request headers are too large.",
        );
      }
      this.scanned = buf.length;
      return false;
    }
    if (end + 4 > limits.maxHeaderBytes) {
      throw new FramingError(
        431,
        "RequestHeaderFieldsTooLargeException",
        "The request headers are too large.",
      );
    }
    const head = buf.toString("latin1", 0, end);
    this.buf = end + 4 === buf.length ? EMPTY : buf.subarray(end + 4);
    this.startRequest(head);
    return true;
  }

  /** Parses a request head (without its final CRLFCRLF) and starts the request. */
  startRequest(head: string): void {
    const lineEnd = head.indexOf("\r\n");
    const requestLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
    const sp1 = requestLine.indexOf(" ");
    const sp2 = sp1 < 0 ? -1 : requestLine.indexOf(" ", sp1 + 1);
    if (sp2 < 0) throw malformed("the request line must be METHOD SP target SP HTTP-version");
    const method = requestLine.slice(0, sp1);
    const url = requestLine.slice(sp1 + 1, sp2);
    const version = requestLine.slice(sp2 + 1);
    // The usual request line ("POST / HTTP/1.1") needs no pattern.
    if (method !== "POST" && method !== "GET" && !TOKEN.test(method)) throw malformed("invalid method");
    if (url !== "/" && !ORIGIN_FORM.test(url))
      throw malformed("the request target must be a path (origin-form)");
    const http11 = version === "HTTP/1.1";
    if (!http11 && version !== "HTTP/1.0") throw malformed("only HTTP/1.1 and HTTP/1.0 are accepted");

    const headers = new Map<string, string>();
    let contentLength: string | undefined;
    let transferEncoding: string | undefined;
    let pos = lineEnd < 0 ? head.length : lineEnd + 2;
    // One pass checks every header line (token, colon, value characters, CRLF endings); the loop below then only
    // splits. A failure is explained line by line.
    const block = head.slice(pos);
    if (!HEADER_BLOCK.test(block)) throw malformed(headerLinesError(block) ?? "invalid header block");
    while (pos < head.length) {
      let next = head.indexOf("\r\n", pos);
      if (next < 0) next = head.length;
      const colon = head.indexOf(":", pos);
      const name = head.slice(pos, colon).toLowerCase();
      // What String#trim removes, among the characters HEADER_BLOCK lets through: SP, HTAB and NBSP (0xA0, as
      // before with node:http and a trim): one slice instead of two.
      let start = colon + 1;
      let end = next;
      while (start < end && isBlank(head.charCodeAt(start))) start++;
      while (end > start && isBlank(head.charCodeAt(end - 1))) end--;
      let value = head.slice(start, end);
      pos = next + 2;
      if (value.includes("  ")) value = value.replace(/ {2,}/g, " ");
      if (name === "content-length") {
        if (contentLength !== undefined) throw malformed("more than one Content-Length");
        if (!DIGITS.test(value)) throw malformed("invalid Content-Length");
        contentLength = value;
      } else if (name === "transfer-encoding") {
        if (transferEncoding !== undefined) throw malformed("more than one Transfer-Encoding");
        transferEncoding = value;
      }
      const prior = headers.get(name);
      headers.set(name, prior === undefined ? value : `${prior},${value}`);
    }
    if (http11 && !headers.has("host")) throw malformed("HTTP/1.1 requests must have a Host header");
    if (contentLength !== undefined && transferEncoding !== undefined) {
      throw malformed("Content-Length and Transfer-Encoding together");
    }
    if (transferEncoding !== undefined && transferEncoding.toLowerCase() !== "chunked") {
      throw malformed("the only Transfer-Encoding accepted is chunked");
    }
    const connection = headers.get("connection");
    const closeAfter = http11
      ? connection?.toLowerCase().includes("close") === true
      : // HTTP/1.0: one request per connection.
        true;
    const expect = headers.get("expect");
    let expectContinue = false;
    if (expect !== undefined && http11) {
      if (expect.toLowerCase() !== "100-continue") {
        throw new FramingError(
          417,
          "SerializationException",
          "The only expectation accepted is 100-continue.",
        );
      }
      expectContinue = true;
    }

    const exchange = new Http1Exchange(this, method, url, headers, closeAfter);
    this.exchange = exchange;
    this.server.counters.inFlight++;
    const limits = this.server.limits;
    this.bodyParts = [];
    this.bodySize = 0;
    if (transferEncoding !== undefined) {
      this.state = State.Chunked;
      this.chunkState = ChunkState.Size;
      this.trailerBytes = 0;
    } else {
      // More than 15 digits is over any limit (and past Number's exact integers).
      const length =
        contentLength === undefined ? 0 : contentLength.length > 15 ? Infinity : Number(contentLength);
      if (length > limits.maxBodyBytes) {
        // Refused on what it declares: no 100 Continue, nothing of the body read.
        this.refuse("too-large");
        return;
      }
      this.remaining = length;
      this.state = State.Body;
    }
    this.deadline = Date.now() + limits.requestTimeoutMs;
    if (expectContinue && this.buf.length === 0 && (transferEncoding !== undefined || this.remaining > 0)) {
      this.server.queue(this, "HTTP/1.1 100 Continue\r\n\r\n", false);
    }
  }

  readBody(): boolean {
    const buf = this.buf;
    const need = this.remaining;
    if (need === 0) {
      this.complete(EMPTY);
      return true;
    }
    if (buf.length === 0) return false;
    if (this.bodySize === 0 && buf.length >= need) {
      // The whole body in hand (the usual case): no copy.
      const body = buf.subarray(0, need);
      this.buf = buf.length === need ? EMPTY : buf.subarray(need);
      this.complete(body);
      return true;
    }
    const take = Math.min(need, buf.length);
    this.bodyParts.push(take === buf.length ? buf : buf.subarray(0, take));
    this.bodySize += take;
    this.remaining -= take;
    this.buf = take === buf.length ? EMPTY : buf.subarray(take);
    if (this.remaining > 0) return false;
    this.complete(Buffer.concat(this.bodyParts, this.bodySize));
    return true;
  }

  readChunked(): boolean {
    const limits = this.server.limits;
    for (;;) {
      const buf = this.buf;
      switch (this.chunkState) {
        case ChunkState.Size: {
          const eol = buf.indexOf("\r\n");
          if (eol < 0) {
            if (buf.length > MAX_CHUNK_LINE) throw malformed("a chunk-size line is too long");
            return false;
          }
          if (eol > MAX_CHUNK_LINE) throw malformed("a chunk-size line is too long");
          const line = buf.toString("latin1", 0, eol);
          this.buf = buf.subarray(eol + 2);
          const semi = line.indexOf(";");
          const hex = (semi < 0 ? line : line.slice(0, semi)).trimEnd();
          if (!HEX.test(hex)) throw malformed("invalid chunk size");
          if (semi >= 0 && !FIELD_VALUE.test(line.slice(semi))) throw malformed("invalid chunk extension");
          const size = hex.length > 12 ? Infinity : Number.parseInt(hex, 16);
          if (size === 0) {
            this.chunkState = ChunkState.Trailer;
            break;
          }
          if (this.bodySize + size > limits.maxBodyBytes) {
            this.refuse("too-large");
            return false;
          }
          this.remaining = size;
          this.chunkState = ChunkState.Data;
          break;
        }
        case ChunkState.Data: {
          if (buf.length === 0) return false;
          const take = Math.min(this.remaining, buf.length);
          this.bodyParts.push(take === buf.length ? buf : buf.subarray(0, take));
          this.bodySize += take;
          this.remaining -= take;
          this.buf = take === buf.length ? EMPTY : buf.subarray(take);
          if (this.remaining === 0) this.chunkState = ChunkState.DataEnd;
          break;
        }
        case ChunkState.DataEnd: {
          if (buf.length < 2) return false;
          if (buf[0] !== 0x0d || buf[1] !== 0x0a) throw malformed("chunk data not followed by CRLF");
          this.buf = buf.subarray(2);
          this.chunkState = ChunkState.Size;
          break;
        }
        case ChunkState.Trailer: {
          const eol = buf.indexOf("\r\n");
          if (eol < 0) {
            if (this.trailerBytes + buf.length > limits.maxHeaderBytes) {
              throw new FramingError(
                431,
                "RequestHeaderFieldsTooLargeException",
                "The request trailers are too large.",
              );
            }
            return false;
          }
          this.trailerBytes += eol + 2;
          if (this.trailerBytes > limits.maxHeaderBytes) {
            throw new FramingError(
              431,
              "RequestHeaderFieldsTooLargeException",
              "The request trailers are too large.",
            );
          }
          if (eol > 0 && !FIELD_VALUE.test(buf.toString("latin1", 0, eol))) {
            throw malformed("invalid character in a trailer");
          }
          this.buf = buf.subarray(eol + 2);
          // Trailers are dropped: nothing here reads them.
          if (eol === 0) {
            this.complete(this.bodySize === 0 ? EMPTY : Buffer.concat(this.bodyParts, this.bodySize));
            return true;
          }
          break;
        }
      }
    }
  }

  /** The body is complete: hand the request over. */
  complete(body: Buffer): void {
    const exchange = this.exchange as Http1Exchange;
    this.bodyParts = [];
    this.state = State.Busy;
    this.deadline = 0;
    exchange.body = body;
    try {
      this.server.options.onRequest(exchange);
    } catch (e) {
      this.#handlerFailed(exchange, e);
    }
  }

  /** Refuses the current request before reading its body; the server answers it after auditing. */
  refuse(reason: Http1Refusal): void {
    const exchange = this.exchange as Http1Exchange;
    this.state = State.Draining;
    this.deadline = 0;
    this.buf = EMPTY;
    this.bodyParts = [];
    try {
      this.server.options.onRefused(exchange, reason);
    } catch (e) {
      this.#handlerFailed(exchange, e);
    }
  }

  /** A handler threw instead of answering: report it and answer 500. */
  #handlerFailed(exchange: Http1Exchange, error: unknown): void {
    this.server.options.onError(error);
    exchange.respond(
      500,
      JSON_TYPE,
      this.server.options.errorBody(
        "KMSInternalException",
        "The request could not be completed because of an internal error.",
      ),
      randomUUID(),
    );
  }

  /** Answers a framing error (no request reached the handler, or one is abandoned) and closes. */
  fail(status: number, name: string, message: string): void {
    this.abandon();
    this.state = State.Draining;
    this.buf = EMPTY;
    if (this.closed || this.socket.destroyed) return;
    this.server.queue(
      this,
      responseText(
        status,
        JSON_TYPE,
        this.server.options.errorBody(name, message),
        randomUUID(),
        true,
        false,
      ),
      true,
    );
  }

  /** Drops a request whose body never completed (client gone, framing error mid-body). */
  abandon(): void {
    const exchange = this.exchange;
    if (exchange === undefined) return;
    if (this.state === State.Head || this.state === State.Body || this.state === State.Chunked) {
      this.exchange = undefined;
      this.bodyParts = [];
      exchange.tracked = false;
      this.server.counters.inFlight--;
      this.server.maybeIdle();
    }
  }

  answer(exchange: Http1Exchange, status: number, type: string, body: string, requestId: string): void {
    const server = this.server;
    const close = exchange.closeAfter || this.state === State.Draining || this.peerEnded || server.closing;
    if (!this.closed && !this.socket.destroyed) {
      server.queue(
        this,
        responseText(status, type, body, requestId, close, exchange.method === "HEAD"),
        close,
      );
    }
    if (this.exchange === exchange) this.exchange = undefined;
    if (exchange.tracked) {
      exchange.tracked = false;
      server.counters.inFlight--;
    }
    if (close) {
      this.state = State.Draining;
      this.buf = EMPTY;
    } else if (!this.closed) {
      this.state = State.Idle;
      this.deadline = Date.now() + server.limits.keepAliveTimeoutMs;
      if (this.paused) {
        this.paused = false;
        this.socket.resume();
      }
      // Pipelined requests already received: parsed in the next pass, never recursively from inside a handler.
      if (this.buf.length > 0 && !this.scheduled) {
        this.scheduled = true;
        server.schedule(this);
      }
    }
    server.maybeIdle();
  }

  /** Writes what is queued for this connection now (and ends the socket when that was asked for). */
  flush(): void {
    const out = this.out;
    if (out === undefined) return;
    this.out = undefined;
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(out);
    if (this.endAfterOut) {
      this.endAfterOut = false;
      this.endSocket();
    }
  }

  /** Ends our side after the last response; the socket is destroyed if the client does not close within a while. */
  endSocket(): void {
    if (this.closed) return;
    this.socket.end();
    this.deadline = Date.now() + Math.min(this.server.limits.keepAliveTimeoutMs, 5000);
  }

  onEnd(): void {
    this.peerEnded = true;
    switch (this.state) {
      case State.Idle:
        if (this.buf.length === 0) {
          // An answer still queued goes out first.
          if (this.out !== undefined) this.endAfterOut = true;
          else this.socket.end();
        }
        return;
      case State.Busy:
        // Answer the request in progress, then close.
        return;
      case State.Draining:
        if (this.out !== undefined) {
          this.flush();
          this.socket.destroySoon();
        } else {
          this.socket.destroy();
        }
        return;
      default:
        // A request cut short: nothing to answer.
        this.abandon();
        this.state = State.Draining;
        this.socket.destroy();
    }
  }

  onClose(): void {
    this.closed = true;
    this.out = undefined;
    this.abandon();
    this.buf = EMPTY;
    this.server.removeConnection(this);
  }

  /** Called by the server's sweep: applies the deadline of the current phase. */
  check(now: number): void {
    // Input waiting for its parse pass, or an answer waiting for its flush, is not idleness.
    if (this.deadline === 0 || now < this.deadline || this.out !== undefined || this.scheduled) return;
    this.deadline = 0;
    switch (this.state) {
      case State.Idle:
        this.socket.destroy();
        return;
      case State.Head:
        this.fail(
          408,
          "RequestTimeoutException",
          `The request headers were not received within ${this.server.limits.headersTimeoutMs} ms.`,
        );
        return;
      case State.Body:
      case State.Chunked:
        this.refuse("body-timeout");
        return;
      case State.Draining:
        this.socket.destroy();
        return;
      default:
        return;
    }
  }
}

const JSON_TYPE = "application/x-amz-json-1.1";

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0xa0;
}

/**
 * @internal The header block's first malformed line, line by line (the reference that the single-pass
 * HEADER_BLOCK check is tested against); undefined when every line is well-formed.
 */
export function headerLinesError(block: string): string | undefined {
  if (block === "") return undefined;
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) {
      return line.charCodeAt(0) === 0x20 || line.charCodeAt(0) === 0x09
        ? "obsolete line folding is not accepted"
        : "a header line without a name and colon";
    }
    if (!TOKEN.test(line.slice(0, colon))) return "invalid header name";
    // Also a bare CR or LF inside the head: both are control characters.
    if (!FIELD_VALUE.test(line.slice(colon + 1))) return "invalid character in a header value";
  }
  return undefined;
}

/** @internal The single-pass check startRequest uses: true when the header block is well-formed. */
export function headerBlockValid(block: string): boolean {
  return HEADER_BLOCK.test(block);
}

function malformed(detail: string): FramingError {
  return new FramingError(400, "SerializationException", `Malformed HTTP request: ${detail}.`);
}

function responseText(
  status: number,
  type: string,
  body: string,
  requestId: string,
  close: boolean,
  headOnly: boolean,
): string {
  const head = `${statusLine(status)}Content-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nx-amzn-RequestId: ${requestId}\r\n${dateHeader()}${close ? "Connection: close\r\n\r\n" : "\r\n"}`;
  return headOnly ? head : head + body;
}

/**
 * The HTTP/1.1 server: a node:net server with the connection handling above.
 */
export class Http1Server {
  readonly netServer: Server;
  readonly limits: Http1Limits;
  readonly counters: Http1Counters;
  readonly options: Http1Options;
  closing = false;
  readonly #connections = new Set<Connection>();
  #sweep: NodeJS.Timeout | undefined;
  #idle: (() => void) | undefined;
  /** Connections with queued output, written together once this turn's input is handled. */
  #dirty: Connection[] = [];
  #flushScheduled = false;
  /** Connections with input to parse. */
  #readable: Connection[] = [];
  #parseScheduled = false;

  /** Limits are taken as given (createKmsServer checks them). */
  constructor(options: Http1Options) {
    this.options = options;
    this.limits = options.limits;
    this.counters = options.counters;
    this.netServer = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
  }

  #accept(socket: Socket): void {
    const counters = this.counters;
    // A socket error (ECONNRESET, EPIPE...) closes that connection only.
    socket.on("error", () => {});
    if (counters.openConnections >= this.limits.maxConnections || this.closing) {
      counters.rejectedConnections++;
      socket.write(
        responseText(
          503,
          JSON_TYPE,
          this.options.errorBody(
            "ServiceUnavailableException",
            this.closing
              ? "The server is shutting down."
              : `Too many connections: the server accepts at most ${this.limits.maxConnections}.`,
          ),
          randomUUID(),
          true,
          false,
        ),
      );
      socket.end();
      // Whatever the client sends is not read; the socket goes once the answer is out.
      socket.destroySoon();
      return;
    }
    counters.openConnections++;
    socket.setNoDelay(true);
    const conn = new Connection(this, socket);
    this.#connections.add(conn);
    socket.on("data", (chunk: Buffer) => conn.onData(chunk));
    socket.on("end", () => conn.onEnd());
    socket.on("close", () => conn.onClose());
    this.#startSweep();
  }

  /**
   * @internal Queues output for a connection. Writes wait for the end of the event loop's poll phase
   * (setImmediate), so the answers to every request that arrived in one turn go out back to back: fewer context
   * switches with the clients than a write per answer as it is ready. Output stays in order per connection.
   */
  queue(conn: Connection, data: string, end: boolean): void {
    if (conn.out === undefined) {
      conn.out = data;
      this.#dirty.push(conn);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(this.#flush);
      }
    } else {
      conn.out += data;
    }
    if (end) conn.endAfterOut = true;
  }

  /**
   * @internal Input is parsed once the poll phase has read every socket that had some (setImmediate): the
   * requests of one turn are handled back to back, their answers (when the local KMS answers at once) written
   * together right after.
   */
  schedule(conn: Connection): void {
    this.#readable.push(conn);
    if (!this.#parseScheduled) {
      this.#parseScheduled = true;
      setImmediate(this.#parse);
    }
  }

  readonly #parse = (): void => {
    this.#parseScheduled = false;
    const readable = this.#readable;
    this.#readable = [];
    for (let i = 0; i < readable.length; i++) {
      const conn = readable[i] as Connection;
      conn.scheduled = false;
      if (!conn.closed) conn.process();
    }
    // Answers given in this turn's microtasks (a local KMS that answers at once) go out together after them.
    queueMicrotask(this.#flush);
  };

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (let i = 0; i < dirty.length; i++) (dirty[i] as Connection).flush();
  };

  /** @internal */
  removeConnection(conn: Connection): void {
    if (this.#connections.delete(conn)) this.counters.openConnections--;
    if (this.#connections.size === 0) this.#stopSweep();
    this.maybeIdle();
  }

  /** @internal */
  maybeIdle(): void {
    if (this.#idle !== undefined && this.counters.inFlight === 0) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle();
    }
  }

  #startSweep(): void {
    if (this.#sweep !== undefined) return;
    const l = this.limits;
    const every = Math.max(
      10,
      Math.min(1000, Math.min(l.headersTimeoutMs, l.requestTimeoutMs, l.keepAliveTimeoutMs) / 4),
    );
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const conn of this.#connections) conn.check(now);
    }, every);
    this.#sweep.unref();
  }

  #stopSweep(): void {
    if (this.#sweep === undefined) return;
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  /** Starts listening. @throws the listen error (EADDRINUSE...). */
  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.netServer.once("error", reject);
      this.netServer.listen(port, host, () => {
        this.netServer.off("error", reject);
        resolve();
      });
    });
  }

  /**
   * Graceful close: stop accepting, close connections with no request in progress, wait for the requests in
   * flight to be answered (each with `Connection: close`), then close every connection left.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.#flush();
    const stopped = this.netServer.listening
      ? new Promise<void>((resolve) => this.netServer.close(() => resolve()))
      : Promise.resolve();
    for (const conn of this.#connections) {
      if (conn.state !== State.Idle || conn.buf.length > 0) continue;
      // An answer still in the socket's buffer (a slow reader) goes out first.
      if (conn.socket.writableLength > 0) conn.socket.destroySoon();
      else conn.socket.destroy();
    }
    if (this.counters.inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    this.#flush();
    for (const conn of this.#connections) {
      // A connection still sending its last answer goes once it is written.
      if (conn.state === State.Draining) conn.socket.destroySoon();
      else conn.socket.destroy();
    }
    await stopped;
    this.#stopSweep();
  }
}
