// A lean, strict HTTP/1.1 server on node:net for the KMS server: bounded parsing, keep-alive, pipelining, timeouts.
//
// Why not node:http: at 64 connections its per-request machinery (IncomingMessage/ServerResponse streams, header
// validation twice over, one writev per response, a timer per request) cost more than SigV4 and the codec together.
// This one parses the request head once into the map SigV4 needs, buffers bodies up to a hard limit, answers with
// one socket.write per response, and checks every timeout with one interval for all connections.
//
// Strictness (RFC 9112): the request line must be `METHOD SP origin-form SP HTTP/1.1` (or 1.0; an absolute-form
// target is accepted, its authority taking the place of Host, as §3.2.2 requires); header names are
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
  /**
   * Idle time of a connection between requests, ms; then it is closed. Before its first request a connection waits
   * the shorter of this and `headersTimeoutMs`.
   */
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
  /** Connections that never sent anything, closed to make room for a new one at the connection limit. */
  reclaimedConnections: number;
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
  /**
   * Called for each error this layer answers itself (malformed framing, 431, 408 for headers, 417, 505, the 503 of a
   * head cut short by close()), with its error name: for the metrics. Not for the 503 of a connection over the limit
   * (`rejectedConnections` counts those).
   */
  readonly onFramingError?: (name: string) => void;
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
  505: "HTTP Version Not Supported",
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
// absolute-form (RFC 9112 §3.2.2), which servers must accept: an http(s) URI whose authority (host and port, no
// userinfo) replaces the Host header, followed by an origin-form path and query (empty path: "/").
const ABSOLUTE_FORM = /^[Hh][Tt][Tt][Pp][Ss]?:\/\/([A-Za-z0-9\-._~!$&'()*+,;=:[\]%]+)([/?][\x21-\x7e]*)?$/;
const DIGITS = /^[0-9]+$/;
// Header lines: `token ":" field-value`, each ending in CRLF (the last one at the end of the block).
const HEADER_BLOCK = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*(?:\r\n(?!$)|$))*$/;
// Chunk extensions after the size (RFC 9112 §7.1.1): *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ).
const CHUNK_EXT =
  /^(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"))?)+$/;
// A chunk-size line (with extensions) longer than this is refused.
const MAX_CHUNK_LINE = 1024;
/**
 * Unwritten output per connection (bytes) past which no further pipelined request is parsed and the socket is
 * paused until it drains: a client that sends requests but does not read the answers costs at most this much
 * output (plus the answer to the request in progress) and one read of input.
 */
export const MAX_PENDING_OUTPUT = 64 * 1024;
/**
 * Received bytes waiting behind the request in progress, or behind a client's unread answers, past which the
 * socket is paused: the rest waits in the kernel (and then the client) until the server can parse it.
 */
export const MAX_UNPARSED_INPUT = 64 * 1024;
/** During close(), what a body still arriving or an answer not yet taken gets at most, in ms. */
const CLOSE_GRACE_MS = 5000;

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
  /** @internal An HTTP/1.0 request that asked for keep-alive: its answer says `Connection: keep-alive`. */
  readonly keepAlive10: boolean;
  #answered = false;
  /** @internal Counted in `counters.inFlight` until answered. */
  tracked = true;
  /**
   * Header lines ("Name: value\r\n" each) added to the answer's head, e.g. the server's CORS headers. Set before
   * `respond`; never from client input without validation.
   */
  extraHead = "";

  /** @internal */
  constructor(
    conn: Connection,
    method: string,
    url: string,
    headers: Map<string, string>,
    closeAfter: boolean,
    keepAlive10: boolean,
  ) {
    this.conn = conn;
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.closeAfter = closeAfter;
    this.keepAlive10 = keepAlive10;
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
  /**
   * A body that did not arrive in one piece is copied here (grown as it arrives, never past its declared length or
   * the body limit): one buffer, however many reads or chunks it took, instead of a view per piece that would keep
   * every piece's whole read buffer alive.
   */
  bodyBuf: Buffer | undefined;
  bodySize = 0;
  chunkState = ChunkState.Size;
  /** Bytes of chunk extensions and trailers of the current chunked body (bounded by maxHeaderBytes). */
  chunkMetaBytes = 0;
  /** The peer half-closed its side. */
  peerEnded = false;
  /** The socket is paused (see updateReading). */
  paused = false;
  /**
   * Parsing stopped because the client does not read its answers (more than MAX_PENDING_OUTPUT unwritten):
   * until the socket drains, no further request is started and nothing more is read.
   */
  outputBlocked = false;
  closed = false;
  /** Output waiting for the server's next flush (see Http1Server.queue), and whether to end the socket after it. */
  out: string | undefined;
  endAfterOut = false;
  /** Waiting for the server's next parse pass (see Http1Server.schedule). */
  scheduled = false;
  /** A request head arrived on it: a client's connection, never reclaimed for a newcomer (see Http1Server). */
  used = false;

  constructor(server: Http1Server, socket: Socket) {
    this.server = server;
    this.socket = socket;
    this.remoteAddress = unmapIpv4(socket.remoteAddress);
    // Before its first request a connection has shown no use: it waits at most as long as a head may take to arrive,
    // not a keep-alive's idle time, so that silent connections cannot hold the maxConnections places for
    // keepAliveTimeoutMs (60 s by default) each.
    const limits = server.limits;
    this.deadline = Date.now() + Math.min(limits.keepAliveTimeoutMs, limits.headersTimeoutMs);
  }

  onData(chunk: Buffer): void {
    if (this.state === State.Draining) return;
    if (this.buf.length === 0) this.buf = chunk;
    else this.append(chunk);
    // Input arriving faster than it is parsed (pipelined behind a request in progress or behind unread answers)
    // is bounded: a client cannot make us buffer forever.
    if (!this.paused && this.buf.length > MAX_UNPARSED_INPUT) this.updateReading();
    if (this.state === State.Busy) return;
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

  /**
   * Pauses the socket while the client does not read its answers, or while more than MAX_UNPARSED_INPUT waits
   * unparsed (behind the request in progress or for the next parse pass); resumes it otherwise. A request being
   * received (head, body) never waits on this: its bytes are consumed as they come.
   */
  updateReading(): void {
    const state = this.state;
    const pause =
      this.outputBlocked ||
      ((state === State.Busy || state === State.Idle) && this.buf.length > MAX_UNPARSED_INPUT);
    if (pause === this.paused || this.closed) return;
    this.paused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  /** The socket drained (or output was flushed below the bound): parse what waits. */
  unblock(): void {
    if (!this.outputBlocked) return;
    this.outputBlocked = false;
    this.updateReading();
    if (this.buf.length > 0 && !this.scheduled && this.state === State.Idle) {
      this.scheduled = true;
      this.server.schedule(this);
    }
  }

  /** Parses as much of `buf` as it can, handing complete requests to the handler. */
  process(): void {
    try {
      this.parse();
      if (this.paused) this.updateReading();
      // The client half-closed with a request unfinished: nothing more can come.
      if (this.peerEnded && this.state !== State.Busy && this.state !== State.Draining) this.peerGone();
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

  parse(): void {
    for (;;) {
      switch (this.state) {
        case State.Idle: {
          const buf = this.buf;
          if (buf.length === 0) {
            // Nothing left in the accumulation buffer: let it go.
            this.acc = undefined;
            return;
          }
          // Backpressure: a client that pipelines requests without reading the answers gets no more of them
          // parsed (and nothing more read) while its unwritten output is over the bound.
          // Output queued here is flushed this turn (flush() unblocks when the socket takes it all); output in
          // the socket's buffer past its high-water mark ends in a 'drain' (unblock()).
          const out = this.out;
          if (
            this.socket.writableLength + (out === undefined ? 0 : out.length) > MAX_PENDING_OUTPUT &&
            (out !== undefined || this.socket.writableNeedDrain)
          ) {
            this.outputBlocked = true;
            this.updateReading();
            return;
          }
          // An empty line before a request line is ignored (RFC 9112 §2.2: some clients send CRLF after a body),
          // also when its CR ends one read and its LF starts the next: a lone CR waits for what follows it.
          if (buf[0] === 0x0d) {
            if (buf.length === 1) return;
            if (buf[1] === 0x0a) {
              this.buf = buf.length === 2 ? EMPTY : buf.subarray(2);
              break;
            }
          }
          this.state = State.Head;
          this.scanned = 0;
          this.deadline = Date.now() + this.server.limits.headersTimeoutMs;
          break;
        }
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
    this.used = true;
    const lineEnd = head.indexOf("\r\n");
    const requestLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
    const sp1 = requestLine.indexOf(" ");
    const sp2 = sp1 < 0 ? -1 : requestLine.indexOf(" ", sp1 + 1);
    if (sp2 < 0) throw malformed("the request line must be METHOD SP target SP HTTP-version");
    const method = requestLine.slice(0, sp1);
    let url = requestLine.slice(sp1 + 1, sp2);
    const version = requestLine.slice(sp2 + 1);
    // The usual request line ("POST / HTTP/1.1") needs no pattern.
    if (method !== "POST" && method !== "GET" && !TOKEN.test(method)) throw malformed("invalid method");
    let authority: string | undefined;
    if (url !== "/" && !ORIGIN_FORM.test(url)) {
      const absolute = ABSOLUTE_FORM.exec(url);
      if (absolute === null)
        throw malformed("the request target must be a path (origin-form) or an http URI (absolute-form)");
      authority = absolute[1]!;
      const rest = absolute[2] ?? "/";
      url = rest.startsWith("?") ? `/${rest}` : rest;
    }
    // A later 1.x is read as 1.1 (RFC 9110 §2.5); another major version is refused with 505.
    const http11 = version === "HTTP/1.1" || (version !== "HTTP/1.0" && checkVersion(version));

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
        // The framing headers are trimmed of OWS (SP, HTAB) only: a Content-Length or Transfer-Encoding padded with
        // NBSP is one that a proxy may read differently (or ignore), so it is refused rather than trimmed.
        if (!DIGITS.test(value) || nbspIn(head, colon + 1, start) || nbspIn(head, end, next))
          throw malformed("invalid Content-Length");
        contentLength = value;
      } else if (name === "transfer-encoding") {
        if (transferEncoding !== undefined) throw malformed("more than one Transfer-Encoding");
        if (nbspIn(head, colon + 1, start) || nbspIn(head, end, next))
          throw malformed("invalid Transfer-Encoding");
        transferEncoding = value;
      }
      const prior = headers.get(name);
      if (prior === undefined) headers.set(name, value);
      else if (name === "host") throw malformed("more than one Host header");
      else headers.set(name, `${prior},${value}`);
    }
    if (http11 && !headers.has("host")) throw malformed("HTTP/1.1 requests must have a Host header");
    // RFC 9112 §3.2.2: with an absolute-form target, the target's authority is the host (and what SigV4 checks).
    if (authority !== undefined) headers.set("host", authority);
    if (contentLength !== undefined && transferEncoding !== undefined) {
      throw malformed("Content-Length and Transfer-Encoding together");
    }
    if (transferEncoding !== undefined && transferEncoding.toLowerCase() !== "chunked") {
      throw malformed("the only Transfer-Encoding accepted is chunked");
    }
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing.
    if (transferEncoding !== undefined && !http11)
      throw malformed("Transfer-Encoding in an HTTP/1.0 request");
    const connection = headers.get("connection");
    let closeAfter: boolean;
    let keepAlive10 = false;
    if (http11) {
      closeAfter = connection?.toLowerCase().includes("close") === true;
    } else {
      // HTTP/1.0: one request per connection unless it asks for keep-alive (and then the answer says so).
      keepAlive10 =
        connection !== undefined && hasToken(connection, "keep-alive") && !hasToken(connection, "close");
      closeAfter = !keepAlive10;
    }
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

    const exchange = new Http1Exchange(this, method, url, headers, closeAfter, keepAlive10);
    this.exchange = exchange;
    this.server.counters.inFlight++;
    const limits = this.server.limits;
    this.bodyBuf = undefined;
    this.bodySize = 0;
    if (transferEncoding !== undefined) {
      this.state = State.Chunked;
      this.chunkState = ChunkState.Size;
      this.chunkMetaBytes = 0;
    } else {
      const length = contentLength === undefined ? 0 : decimalLength(contentLength);
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
    this.addBody(buf, take, this.bodySize + need);
    this.remaining -= take;
    this.buf = take === buf.length ? EMPTY : buf.subarray(take);
    if (this.remaining > 0) return false;
    this.complete(this.takeBody());
    return true;
  }

  /** Copies `length` bytes of `src` to the body; `total` bounds its final size (grown by doubling up to it). */
  addBody(src: Buffer, length: number, total: number): void {
    const size = this.bodySize + length;
    let body = this.bodyBuf;
    if (body === undefined || size > body.length) {
      const next = Buffer.alloc(Math.min(total, Math.max(2 * size, 16 * 1024)));
      if (body !== undefined) {
        body.copy(next, 0, 0, this.bodySize);
        // The old copy may hold plaintext (an Encrypt request): not left to the garbage collector as it is.
        body.fill(0);
      }
      body = next;
      this.bodyBuf = next;
    }
    src.copy(body, this.bodySize, 0, length);
    this.bodySize = size;
  }

  /** The body collected by addBody (empty when none was). */
  takeBody(): Buffer {
    const body = this.bodyBuf;
    this.bodyBuf = undefined;
    return body === undefined ? EMPTY : body.subarray(0, this.bodySize);
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
          // chunk-size is hex digits; what follows is nothing, or extensions in RFC 9112 §7.1.1's grammar (BWS ";"
          // BWS name [BWS "=" BWS token-or-quoted-string], repeated). Not String#trimEnd on the size, which dropped a
          // bare CR or LF, VT, FF and NBSP ("5\n" read as a size line where a proxy that ends lines at LF sees the
          // data start), nor any field value as an extension ("5;", "5;x=\"" and "5 " were accepted, which
          // node:http's parser refuses).
          let hexEnd = 0;
          while (hexEnd < line.length && isHexDigit(line.charCodeAt(hexEnd))) hexEnd++;
          if (hexEnd === 0) throw malformed("invalid chunk size");
          const hex = hexEnd === line.length ? line : line.slice(0, hexEnd);
          if (hexEnd < line.length) {
            const ext = line.slice(hexEnd);
            if (!CHUNK_EXT.test(ext)) {
              throw malformed(/^[ \t]*;/.test(ext) ? "invalid chunk extension" : "invalid chunk size");
            }
            // Extensions are dropped, but not read without end: with the trailers, within maxHeaderBytes.
            this.chunkMetaBytes += ext.length;
            if (this.chunkMetaBytes > limits.maxHeaderBytes)
              throw malformed("the chunk extensions are too long");
          }
          const size = chunkSize(hex);
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
          this.addBody(buf, take, limits.maxBodyBytes);
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
            if (this.chunkMetaBytes + buf.length > limits.maxHeaderBytes) {
              throw new FramingError(
                431,
                "RequestHeaderFieldsTooLargeException",
                "The request trailers are too large.",
              );
            }
            return false;
          }
          this.chunkMetaBytes += eol + 2;
          if (this.chunkMetaBytes > limits.maxHeaderBytes) {
            throw new FramingError(
              431,
              "RequestHeaderFieldsTooLargeException",
              "The request trailers are too large.",
            );
          }
          // A trailer is a header line (`name: value`): anything else after the last chunk is malformed.
          if (eol > 0) {
            const error = headerLinesError(buf.toString("latin1", 0, eol));
            if (error !== undefined) throw malformed(`trailer: ${error}`);
          }
          this.buf = buf.subarray(eol + 2);
          // Trailers are dropped: nothing here reads them.
          if (eol === 0) {
            this.complete(this.takeBody());
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
    this.bodyBuf = undefined;
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
    this.server.options.onFramingError?.(name);
    this.server.queue(
      this,
      responseText(
        status,
        JSON_TYPE,
        this.server.options.errorBody(name, message),
        randomUUID(),
        CLOSE,
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
      this.bodyBuf = undefined;
      exchange.tracked = false;
      this.server.counters.inFlight--;
      this.server.maybeIdle();
    }
  }

  answer(exchange: Http1Exchange, status: number, type: string, body: string, requestId: string): void {
    const server = this.server;
    // A client that half-closed still gets the answers to the complete requests it pipelined before.
    const close =
      exchange.closeAfter ||
      this.state === State.Draining ||
      server.closing ||
      (this.peerEnded && this.buf.length === 0);
    if (!this.closed && !this.socket.destroyed) {
      server.queue(
        this,
        responseText(
          status,
          type,
          body,
          requestId,
          close ? CLOSE : exchange.keepAlive10 ? KEEP_ALIVE : "\r\n",
          exchange.method === "HEAD",
          exchange.extraHead,
        ),
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
      if (this.paused) this.updateReading();
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
    // Blocked on output that went out at once (no 'drain' to wait for): carry on.
    if (this.outputBlocked && !this.socket.writableNeedDrain) this.unblock();
    if (this.endAfterOut) {
      this.endAfterOut = false;
      this.endSocket();
    }
  }

  /** Ends our side after the last response; the socket is destroyed if the client does not close within a while. */
  endSocket(): void {
    if (this.closed) return;
    this.socket.end();
    this.deadline = Date.now() + Math.min(this.server.limits.keepAliveTimeoutMs, CLOSE_GRACE_MS);
  }

  onEnd(): void {
    this.peerEnded = true;
    switch (this.state) {
      case State.Busy:
        // Answer the request in progress (and complete requests pipelined after it), then close.
        return;
      case State.Draining:
        // A refused request (413, 408) is answered once its refusal is audited: its answer goes out, then the
        // connection closes (answer() ends it). Destroying it here lost the answer of a client that half-closed.
        if (this.exchange !== undefined) return;
        if (this.out !== undefined) {
          this.flush();
          this.socket.destroySoon();
        } else {
          this.socket.destroy();
        }
        return;
      default:
        // Requests still waiting for their parse pass are answered first; the pass ends the connection.
        if (this.scheduled) return;
        this.peerGone();
    }
  }

  /**
   * The client half-closed and everything it sent is parsed: the answers already given go out, then our side
   * closes. A request cut short is dropped (nothing to answer). Complete requests waiting behind a client that
   * does not read its answers are still answered once it does.
   */
  peerGone(): void {
    // (A lone CR, half of an empty line, is no request.)
    if (this.state === State.Idle && this.buf.length > 0 && !(this.buf.length === 1 && this.buf[0] === 0x0d))
      return;
    this.abandon();
    this.state = State.Draining;
    this.buf = EMPTY;
    if (this.closed) return;
    if (this.out !== undefined) this.endAfterOut = true;
    else this.endSocket();
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
      // Busy has a deadline only when close() gave an untracked answer (/metrics) a bound.
      case State.Busy:
        this.socket.destroy();
        return;
      default:
        return;
    }
  }
}

const JSON_TYPE = "application/x-amz-json-1.1";

/**
 * The HTTP version of a request line other than "HTTP/1.1" and "HTTP/1.0": true for a later HTTP/1.x (read as
 * 1.1). @throws {FramingError} 505 for another major version, 400 for anything that is not `HTTP/d.d`.
 */
/**
 * A client's address as AWS would report it: an IPv4 client of a dual-stack socket, which Node reports as
 * `::ffff:192.0.2.1`, is `192.0.2.1` (aws:SourceIp, the audit event's sourceIPAddress).
 */
export function unmapIpv4(address: string | undefined): string | undefined {
  return address?.startsWith("::ffff:") && address.includes(".", 7) ? address.slice(7) : address;
}

function checkVersion(version: string): boolean {
  const m = /^HTTP\/([0-9])\.[0-9]$/.exec(version);
  if (m === null) throw malformed("the request line must end in HTTP/1.1 or HTTP/1.0");
  if (m[1] === "1") return true;
  throw new FramingError(
    505,
    "SerializationException",
    `${version} is not supported: only HTTP/1.1 and HTTP/1.0 are accepted.`,
  );
}

/** A chunk size's hex digits as a number; past 12 digits (over any limit) it is Infinity. */
function chunkSize(hex: string): number {
  if (hex.length <= 12) return Number.parseInt(hex, 16);
  const significant = hex.replace(/^0+/, "");
  return significant.length <= 12 ? Number.parseInt(significant || "0", 16) : Infinity;
}

/** A Content-Length's digits as a number; past Number's exact integers (over any limit) it is Infinity. */
function decimalLength(digits: string): number {
  if (digits.length <= 15) return Number(digits);
  // Leading zeros do not make a length large.
  const significant = digits.replace(/^0+/, "");
  return significant.length <= 15 ? Number(significant) : Infinity;
}

/** Whether a comma-separated header value (lower or mixed case) has `token` (lower case) as one of its items. */
function hasToken(value: string, token: string): boolean {
  for (const item of value.split(",")) if (item.trim().toLowerCase() === token) return true;
  return false;
}

/** Whether `text` has an NBSP (0xA0) between `from` and `to` (the blanks trimmed around a header value). */
function nbspIn(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (text.charCodeAt(i) === 0xa0) return true;
  return false;
}

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

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

const CLOSE = "Connection: close\r\n\r\n";
const KEEP_ALIVE = "Connection: keep-alive\r\n\r\n";

/** One response; `end` is the head's last line(s): CLOSE, KEEP_ALIVE (HTTP/1.0) or a bare CRLF. */
function responseText(
  status: number,
  type: string,
  body: string,
  requestId: string,
  end: string,
  headOnly: boolean,
  extraHead = "",
): string {
  const head = `${statusLine(status)}Content-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nx-amzn-RequestId: ${requestId}\r\n${extraHead}${dateHeader()}${end}`;
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
    // At the limit, a connection that never sent anything makes room: held silent, places could be hoarded for
    // headersTimeoutMs each. Connections that served a request are kept, even idle, so that a flood of new
    // connections cannot push established clients out.
    if (counters.openConnections >= this.limits.maxConnections && !this.closing) this.#reclaimUnused();
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
          CLOSE,
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
    socket.on("drain", () => conn.unblock());
    socket.on("close", () => conn.onClose());
    this.#startSweep();
  }

  /** Closes the oldest connection that never sent anything (nor has anything to write). Its place is free at once. */
  #reclaimUnused(): void {
    let victim: Connection | undefined;
    for (const conn of this.#connections) {
      // Never answered, so nothing to write: only input (a head arriving, or waiting for its parse pass) counts.
      if (conn.used || conn.state !== State.Idle || conn.closed || conn.buf.length > 0 || conn.scheduled)
        continue;
      if (victim === undefined || conn.deadline < victim.deadline) victim = conn;
    }
    if (victim === undefined) return;
    this.counters.reclaimedConnections++;
    victim.socket.destroy();
    this.removeConnection(victim);
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
      // A request still arriving, or received and waiting for its parse pass, has not reached the local KMS:
      // refused, so that close() need not wait for it (the second was dropped without an answer).
      if (
        conn.state === State.Head ||
        (conn.state === State.Idle && conn.buf.length > 0 && !conn.outputBlocked)
      ) {
        conn.fail(503, "ServiceUnavailableException", "The server is shutting down.");
        continue;
      }
      // A body still arriving gets at most 5 s more (not the rest of requestTimeoutMs, 30 s by default, which held
      // a Ctrl-C that long), then is refused through onRefused("body-timeout"), which the server answers with 503.
      if (conn.state === State.Body || conn.state === State.Chunked) {
        conn.deadline = Math.min(conn.deadline, Date.now() + CLOSE_GRACE_MS);
        continue;
      }
      // Idle, or waiting for a client that does not read its answers: pipelined requests not started are dropped.
      if (conn.state !== State.Idle) continue;
      conn.state = State.Draining;
      conn.buf = EMPTY;
      // An answer still in the socket's buffer (a slow reader) goes out first, for a bounded time (the sweep).
      if (conn.socket.writableLength > 0) conn.endSocket();
      else conn.socket.destroy();
    }
    if (this.counters.inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    this.#flush();
    for (const conn of this.#connections) {
      // A connection still sending its last answer goes once it is written.
      if (conn.state === State.Draining) conn.socket.destroySoon();
      else if (conn.state === State.Busy) {
        // An untracked GET /health or /metrics still being answered (a scrape during shutdown): answered with
        // Connection: close, within a bound (the sweep), rather than cut off.
        conn.deadline = Date.now() + Math.min(this.limits.keepAliveTimeoutMs, CLOSE_GRACE_MS);
      } else conn.socket.destroy();
    }
    await stopped;
    this.#stopSweep();
  }
}
