// createKmsServer: the AWS KMS JSON protocol (awsJson1_1) over HTTP/1.1 (http1.ts), with SigV4 authentication, on a local KMS.

import { randomUUID } from "node:crypto";
import type { AddressInfo, Server } from "node:net";
import type { AuditCaller, AuditEventInput } from "../audit/index.js";
import { decodeRequest, encodeResponse } from "./codec.js";
import { Cors, type KmsServerCors } from "./cors.js";
import {
  parseCredentials,
  principalAccount,
  type ResolvedCredential,
  type ServerCredential,
} from "./credentials.js";
import { type Http1Exchange, Http1Server } from "./http1.js";
import { ServerMetrics } from "./metrics.js";
import { ERROR_STATUS, OPERATION_MODELS } from "./model.generated.js";
import { SigV4Verifier } from "./sigv4.js";
import { Throttle, type ThrottleOptions } from "./throttle.js";
import { WireError, type WireErrorName } from "./wire-errors.js";

/** The identity a request runs as, passed to every local KMS method. */
export interface KmsCaller {
  readonly principal: string;
  readonly account: string;
  readonly accessKeyId?: string;
  readonly sourceIp?: string;
  /** aws:SecureTransport: false, as this server speaks plain HTTP. */
  readonly secureTransport?: boolean;
  readonly userAgent?: string;
  readonly viaService?: string;
  readonly requestId?: string;
}

/** A request the server refused before it reached the local KMS, as it goes into the audit log. */
export interface RejectedRequest {
  /** The operation named by X-Amz-Target ("" when absent or unparsable). */
  readonly operation: string;
  readonly errorCode: string;
  readonly errorMessage: string;
  readonly requestId: string;
  readonly sourceIp?: string;
  readonly userAgent?: string;
  /** The access key the request claimed (not proven when the signature failed). */
  readonly accessKeyId?: string;
  /** The principal, when the signature was verified (set for throttled and malformed requests). */
  readonly principal?: string;
  readonly account?: string;
  readonly time: Date;
}

/**
 * What the server needs from a local KMS: one method per operation (lower camel case of the AWS name) taking the
 * caller and the request with AWS's member names, and `close`. `LocalKms` satisfies it.
 */
export interface KmsBackend {
  close(): Promise<void> | void;
  // biome-ignore lint/suspicious/noExplicitAny: requests and responses are typed by the local KMS, checked by the wire model here.
  [method: string]: any;
}

/** Server limits; every one has a default. */
export interface KmsServerLimits {
  /** Largest request body in bytes (default 1 MiB); larger gets 413, refused on its Content-Length before it is read. */
  readonly maxBodyBytes?: number;
  /** Largest request line plus headers in bytes (default 16 KiB); larger gets 431. */
  readonly maxHeaderBytes?: number;
  /** Time to receive the request headers, ms (default 10 s); slower gets 408. */
  readonly headersTimeoutMs?: number;
  /** Time to receive the request body once the headers are in, ms (default 30 s); slower gets 408. */
  readonly requestTimeoutMs?: number;
  /** Idle time of a keep-alive connection between requests, ms (default 60 s). */
  readonly keepAliveTimeoutMs?: number;
  /** Open connections at most (default 1,024); one more gets 503 and is closed. */
  readonly maxConnections?: number;
}

/** Options of {@link createKmsServer}. */
export interface KmsServerOptions {
  /** The local KMS the server fronts; closed by `close()`. */
  readonly kms: KmsBackend;
  /** Access keys and their principals (the credentials file's `credentials` array, or its parsed form). */
  readonly credentials: readonly ServerCredential[] | ReadonlyMap<string, ResolvedCredential>;
  /** The region the server answers for (SigV4 scopes must name it). */
  readonly region: string;
  /**
   * Development only: accept requests without an Authorization header as this principal ARN. Signed requests are
   * still verified. An unsigned request with an `Origin` header (a browser page: a DNS-rebinding page is of the
   * server's own origin) is refused unless `cors` lists that origin. Off by default.
   */
  readonly allowUnsignedAs?: string;
  /**
   * Lets browser pages of these origins call the server (CORS preflights and headers), as AWS KMS lets pages call
   * it. Off by default: OPTIONS gets 405 and answers carry no CORS headers.
   */
  readonly cors?: KmsServerCors;
  /** Enables AWS-like request quotas (true for the defaults). Off by default. */
  readonly throttle?: boolean | ThrottleOptions;
  readonly limits?: KmsServerLimits;
  /**
   * Records a request refused before the local KMS saw it (authentication failure, unsupported operation, malformed
   * request, throttling), durably, before the response. Default: `kms.auditRejected(event)` when the backend has such a
   * method, else the local KMS's audit log (`kms.auditLog.append(rejectedToAuditInput(event))`).
   */
  readonly auditRejected?: (event: RejectedRequest) => Promise<void> | void;
  /** Extra Prometheus lines for /metrics (default: the audit log's stats when it has any). */
  readonly metricsExtra?: () => readonly string[] | Promise<readonly string[]>;
  /** Where internal errors are reported (default console.error); never given plaintext or key material. */
  readonly onError?: (error: unknown) => void;
  /** Where start-up warnings go (default stderr): the unsigned-requests warning. */
  readonly onWarning?: (message: string) => void;
  /** The server's clock for SigV4 (default Date.now). */
  readonly now?: () => number;
}

/** A running (or ready to run) KMS server. */
export interface KmsServer {
  /**
   * Starts listening. Port 0 picks a free port; `url` then tells which.
   * @throws the listen error (EADDRINUSE...).
   */
  listen(port: number, host?: string): Promise<void>;
  /** Graceful stop: refuse new connections, finish requests in flight, then close the local KMS. */
  close(): Promise<void>;
  /** `http://host:port` once listening. @throws {Error} before listen. */
  readonly url: string;
  /**
   * The underlying node:net server (the HTTP/1.1 layer is the server's own, see the README's "Server" section):
   * for `address()`, `ref()`/`unref()` and connection counts. Close the KMS server with `close()`, not through it.
   */
  readonly netServer: Server;
  readonly metrics: ServerMetrics;
}

const JSON_TYPE = "application/x-amz-json-1.1";
const TARGET_PREFIX = "TrentService.";

// Without a prototype: a client-chosen target such as "constructor" or "__proto__" must find nothing here (on a
// plain object it found Object.prototype's members, and was counted in /metrics as an operation of that name).
const METHOD_NAMES: Record<string, string> = Object.create(null);
for (const op of Object.keys(OPERATION_MODELS)) METHOD_NAMES[op] = op.charAt(0).toLowerCase() + op.slice(1);

/**
 * Creates the KMS server: `POST /` with `X-Amz-Target: TrentService.<Operation>`, SigV4 on every request, JSON in
 * AWS's shapes, errors as `{ "__type", "message" }` with the statuses of AWS's KMS service model, `GET /health` and
 * `GET /metrics`.
 * @throws {TypeError} for malformed credentials, an invalid `allowUnsignedAs` ARN, or a `cors` list that is not of
 *   serialized origins (or is "*" with `allowUnsignedAs`).
 * @throws {RangeError} for non-positive limits or quotas.
 */
export function createKmsServer(options: KmsServerOptions): KmsServer {
  const { kms, region } = options;
  const credentials =
    options.credentials instanceof Map
      ? (options.credentials as ReadonlyMap<string, ResolvedCredential>)
      : parseCredentials({ credentials: options.credentials });
  const unsigned =
    options.allowUnsignedAs === undefined
      ? undefined
      : { principal: options.allowUnsignedAs, account: principalAccount(options.allowUnsignedAs) };
  const cors = options.cors === undefined ? undefined : new Cors(options.cors, unsigned !== undefined);
  const verifier = new SigV4Verifier({
    region,
    secretFor: (id) => credentials.get(id)?.secretAccessKey,
    sessionTokenFor: (id) => credentials.get(id)?.sessionToken,
    ...(options.now ? { now: options.now } : {}),
  });
  const throttle =
    options.throttle === undefined || options.throttle === false
      ? undefined
      : new Throttle(options.throttle === true ? {} : options.throttle);
  const limits = {
    maxBodyBytes: positive(options.limits?.maxBodyBytes, 1024 * 1024, "maxBodyBytes"),
    maxHeaderBytes: positive(options.limits?.maxHeaderBytes, 16 * 1024, "maxHeaderBytes"),
    headersTimeoutMs: positive(options.limits?.headersTimeoutMs, 10_000, "headersTimeoutMs"),
    requestTimeoutMs: positive(options.limits?.requestTimeoutMs, 30_000, "requestTimeoutMs"),
    keepAliveTimeoutMs: positive(options.limits?.keepAliveTimeoutMs, 60_000, "keepAliveTimeoutMs"),
    maxConnections: positive(options.limits?.maxConnections, 1024, "maxConnections"),
  };
  const onError =
    options.onError ?? ((e: unknown) => console.error("sealkit-kms: internal error:", describe(e)));
  const auditRejected = options.auditRejected ?? defaultAuditRejected(kms);
  const metricsExtra = options.metricsExtra ?? defaultMetricsExtra(kms);
  const metrics = new ServerMetrics();
  const warn = options.onWarning ?? ((message: string) => process.stderr.write(message));

  const http = new Http1Server({
    limits,
    counters: metrics,
    errorBody,
    onError,
    onRequest,
    // Requests refused by the HTTP layer itself count under "-" like the other refusals before an operation.
    onFramingError: (name) => metrics.record("-", name, 0),
    onRefused(exchange, reason) {
      const requestId = randomUUID();
      // The headers are in: a page of a listed origin reads this refusal's name instead of a network error.
      if (cors !== undefined) exchange.extraHead = cors.answerHead(exchange.headers.get("origin"));
      if (reason === "too-large") {
        refuseEarly(
          exchange,
          requestId,
          413,
          "RequestEntityTooLargeException",
          `The request body exceeds ${limits.maxBodyBytes} bytes.`,
        );
      } else if (http.closing) {
        // close() gave the body a few seconds more; it has not reached the local KMS: retryable elsewhere or later.
        refuseEarly(
          exchange,
          requestId,
          503,
          "ServiceUnavailableException",
          "The server is shutting down and the request body did not arrive in time.",
        );
      } else {
        refuseEarly(
          exchange,
          requestId,
          408,
          "RequestTimeoutException",
          `The request body was not received within ${limits.requestTimeoutMs} ms.`,
        );
      }
    },
  });

  function onRequest(exchange: Http1Exchange): void {
    const requestId = randomUUID();
    const method = exchange.method;
    if (cors !== undefined) {
      const origin = exchange.headers.get("origin");
      if (method === "OPTIONS") {
        preflight(exchange, requestId, cors, origin);
        return;
      }
      exchange.extraHead = cors.answerHead(origin);
    }
    if (method === "POST") {
      handle(exchange, requestId, performance.now());
      return;
    }
    // HEAD as GET, head only (RFC 9110 §9.3.2; a load balancer's HEAD /health got 405).
    if (
      (method === "GET" || method === "HEAD") &&
      (exchange.url === "/health" || exchange.url === "/metrics")
    ) {
      exchange.untrack();
      serveInfo(exchange.url, requestId, exchange).catch((e) => {
        onError(e);
        sendError(exchange, requestId, 500, "KMSInternalException", "The metrics could not be rendered.");
      });
      return;
    }
    sendError(
      exchange,
      requestId,
      405,
      "UnknownOperationException",
      method === "OPTIONS"
        ? "CORS is off: start the server with --cors-origin <origin> (cors.allowedOrigins) to let browser pages of that origin call it."
        : "Only POST is accepted for KMS operations (and GET or HEAD /health and /metrics).",
    );
  }

  /** A CORS preflight: allowed with the CORS headers and no body, or refused (403) without them. */
  function preflight(
    exchange: Http1Exchange,
    requestId: string,
    cors: Cors,
    origin: string | undefined,
  ): void {
    exchange.untrack();
    const headers = exchange.headers;
    const head = cors.preflightHead(
      origin,
      headers.get("access-control-request-method"),
      headers.get("access-control-request-headers"),
    );
    if (head === undefined) {
      sendError(
        exchange,
        requestId,
        403,
        "AccessDeniedException",
        origin === undefined
          ? "OPTIONS is answered only as a CORS preflight (with Origin and Access-Control-Request-Method)."
          : `CORS: the origin ${truncate(origin)} or the method asked for is not allowed (see --cors-origin).`,
      );
      return;
    }
    exchange.extraHead = head;
    exchange.respond(200, "text/plain", "", requestId);
  }

  /**
   * Refuses a request whose body was not read to the end (too large, too slow): audited like every refusal (the
   * signature cannot be checked without the body, so the caller is the access key it claims), then answered; the
   * connection closes after the answer.
   */
  function refuseEarly(
    exchange: Http1Exchange,
    requestId: string,
    status: number,
    name: WireErrorName,
    message: string,
  ): void {
    const headers = exchange.headers;
    const target = headers.get("x-amz-target");
    const accessKeyId = claimedAccessKey(headers.get("authorization"));
    const sourceIp = exchange.remoteAddress;
    const userAgent = callerUserAgent(headers);
    Promise.resolve()
      .then(() =>
        auditRejected({
          operation:
            typeof target === "string" && target.startsWith(TARGET_PREFIX)
              ? target.slice(TARGET_PREFIX.length)
              : "",
          errorCode: name,
          errorMessage: message,
          requestId,
          time: new Date(),
          ...(sourceIp ? { sourceIp } : {}),
          ...(userAgent ? { userAgent } : {}),
          ...(accessKeyId ? { accessKeyId } : {}),
        }),
      )
      .then(
        () => {
          // Counted as answered: a refusal the audit log could not record is a KMSInternalException (below).
          metrics.record("-", name, 0);
          sendError(exchange, requestId, status, name, message);
        },
        (auditError) => {
          metrics.record("-", "KMSInternalException", 0);
          auditFailed(exchange, requestId, auditError);
        },
      )
      .catch(ignore);
  }

  /**
   * Answers one complete POST and records its metrics; never throws. Synchronous up to the local KMS call, whose
   * promise is followed with `then` (no async function per request); refusals and failures go to `fail`.
   */
  function handle(exchange: Http1Exchange, requestId: string, start: number): void {
    const headers = exchange.headers;
    const body = exchange.body;
    const target = headers.get("x-amz-target");
    const operation = target?.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : "";
    const authorization = headers.get("authorization");
    let caller: KmsCaller | undefined;
    let accessKeyId: string | undefined;
    let request: Record<string, unknown> | undefined;
    try {
      if (unsigned !== undefined && authorization === undefined) {
        // Browsers send Origin with every POST. A page may reach a server bound to 127.0.0.1 through DNS rebinding
        // (its host name pointed at 127.0.0.1), and is then of the server's own origin: no CORS check stops it.
        // Unsigned requests are for local tools, and for pages only of the origins the operator listed.
        const origin = headers.get("origin");
        if (origin !== undefined && cors?.allows(origin) !== true) {
          throw new WireError(
            "MissingAuthenticationTokenException",
            `Missing Authentication Token: unsigned requests are not accepted from web pages (Origin ${truncate(origin)}) unless their origin is listed with --cors-origin.`,
          );
        }
        caller = {
          principal: unsigned.principal,
          account: unsigned.account,
          requestId,
          sourceIp: exchange.remoteAddress,
          secureTransport: false,
          userAgent: callerUserAgent(headers),
        };
      } else {
        const verified = verifier.verifyCollected("POST", exchange.url, headers, body);
        const credential = credentials.get(verified.accessKeyId) as ResolvedCredential;
        accessKeyId = credential.accessKeyId;
        if (target !== undefined && !verified.signedHeaders.includes("x-amz-target")) {
          throw new WireError(
            "IncompleteSignatureException",
            "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.",
          );
        }
        caller = {
          principal: credential.principal,
          account: credential.account,
          accessKeyId: credential.accessKeyId,
          requestId,
          sourceIp: exchange.remoteAddress,
          secureTransport: false,
          userAgent: callerUserAgent(headers),
        };
      }
      const model = OPERATION_MODELS[operation];
      const method = METHOD_NAMES[operation];
      if (model === undefined || method === undefined || typeof kms[method] !== "function") {
        throw new WireError(
          "UnsupportedOperationException",
          target === undefined
            ? "Missing X-Amz-Target header: expected TrentService.<Operation>."
            : `${truncate(String(target))} is not an operation this server supports.`,
        );
      }
      // Per caller account, as AWS KMS applies its quotas.
      if (throttle !== undefined && !throttle.take(operation, caller.account)) {
        // AWS KMS's own words (developer guide, "Throttling AWS KMS requests").
        throw new WireError(
          "ThrottlingException",
          "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
        );
      }
      const decoded = decodeRequest(model, body);
      request = decoded;
      // Neither callback may throw: the promise `then` returns is not awaited by anyone.
      const answered = (response: unknown): void => {
        try {
          wipe(decoded.Plaintext);
          const json = encodeResponse(model, response);
          exchange.respond(200, JSON_TYPE, json, requestId);
          metrics.record(operation, "", (performance.now() - start) / 1000);
        } catch (e) {
          failed(e);
        }
      };
      const failed = (e: unknown): void => {
        wipe(decoded.Plaintext);
        fail(e, exchange, requestId, start, operation, authorization, accessKeyId, caller).catch(ignore);
      };
      const pending = kms[method](caller, decoded);
      if (pending !== null && typeof pending === "object" && typeof pending.then === "function") {
        pending.then(answered, failed);
      } else {
        answered(pending);
      }
    } catch (e) {
      if (request !== undefined) wipe(request.Plaintext);
      fail(e, exchange, requestId, start, operation, authorization, accessKeyId, caller).catch(ignore);
    }
  }

  /**
   * Answers a request that failed: a WireError (refused by the server) is audited first, then answered with its
   * status; anything else is mapped to its AWS error (500 for the unexpected, reported to onError). Never rejects.
   */
  async function fail(
    e: unknown,
    exchange: Http1Exchange,
    requestId: string,
    start: number,
    operation: string,
    authorization: string | undefined,
    verifiedAccessKeyId: string | undefined,
    caller: KmsCaller | undefined,
  ): Promise<void> {
    let outcome: string;
    let label: string;
    try {
      outcome = await answerFailure(
        e,
        exchange,
        requestId,
        operation,
        authorization,
        verifiedAccessKeyId,
        caller,
      );
      // Only the operations the server knows label the metrics: the target is the client's choice.
      label = metricName(operation);
    } catch (unexpected) {
      onError(unexpected);
      sendError(
        exchange,
        requestId,
        500,
        "KMSInternalException",
        "The request could not be completed because of an internal error.",
      );
      return;
    }
    metrics.record(label, outcome, (performance.now() - start) / 1000);
  }

  /** Sends the answer to a failed request; resolves with the error name the metrics record. */
  async function answerFailure(
    e: unknown,
    exchange: Http1Exchange,
    requestId: string,
    operation: string,
    authorization: string | undefined,
    verifiedAccessKeyId: string | undefined,
    caller: KmsCaller | undefined,
  ): Promise<string> {
    if (e instanceof WireError) {
      const accessKeyId = verifiedAccessKeyId ?? claimedAccessKey(authorization);
      const sourceIp = exchange.remoteAddress;
      const userAgent = callerUserAgent(exchange.headers);
      try {
        await auditRejected({
          operation,
          errorCode: e.awsName,
          errorMessage: e.message,
          requestId,
          time: new Date(),
          ...(sourceIp ? { sourceIp } : {}),
          ...(userAgent ? { userAgent } : {}),
          ...(accessKeyId ? { accessKeyId } : {}),
          ...(caller ? { principal: caller.principal, account: caller.account } : {}),
        });
      } catch (auditError) {
        auditFailed(exchange, requestId, auditError);
        return "KMSInternalException";
      }
      sendError(exchange, requestId, e.httpStatus, e.awsName, e.message);
      return e.awsName;
    }
    const mapped = mapError(e);
    if (mapped.status >= 500) onError(e);
    sendError(exchange, requestId, mapped.status, mapped.name, mapped.message);
    return mapped.name;
  }

  async function serveInfo(url: string, requestId: string, exchange: Http1Exchange): Promise<void> {
    if (url === "/health") {
      const closing = http.closing;
      const body = JSON.stringify({ status: closing ? "closing" : "ok", region, inFlight: metrics.inFlight });
      exchange.respond(closing ? 503 : 200, "application/json", body, requestId);
      return;
    }
    let extra: readonly string[] = [];
    try {
      extra = await metricsExtra();
    } catch (e) {
      onError(e);
    }
    exchange.respond(200, "text/plain; version=0.0.4", metrics.render(extra), requestId);
  }

  /** Fail closed: a refusal that cannot be audited becomes an internal error (it refuses all the same). */
  function auditFailed(exchange: Http1Exchange, requestId: string, auditError: unknown): void {
    onError(auditError);
    sendError(
      exchange,
      requestId,
      500,
      "KMSInternalException",
      "The audit log could not record the request.",
    );
  }

  function sendError(
    exchange: Http1Exchange,
    requestId: string,
    status: number,
    name: string,
    message: string,
  ): void {
    exchange.respond(status, JSON_TYPE, errorBody(name, message), requestId);
  }

  let address: AddressInfo | undefined;
  let host = "127.0.0.1";
  let closed: Promise<void> | undefined;

  return {
    netServer: http.netServer,
    metrics,
    get url(): string {
      if (address === undefined) throw new Error("the KMS server is not listening");
      const h = host.includes(":") ? `[${host}]` : host;
      return `http://${h}:${address.port}`;
    },
    async listen(port: number, listenHost = "127.0.0.1"): Promise<void> {
      host = listenHost;
      await http.listen(port, listenHost);
      address = http.netServer.address() as AddressInfo;
      if (unsigned !== undefined) warn(unsignedWarning(unsigned.principal, listenHost, address.port));
    },
    close(): Promise<void> {
      closed ??= (async () => {
        await http.close();
        await kms.close();
      })();
      return closed;
    },
  };
}

function unsignedWarning(principal: string, host: string, port: number): string {
  const line = "!".repeat(100);
  return `\n${line}\n!!! WARNING: --allow-unsigned-as is ON: requests WITHOUT a signature are accepted as\n!!!   ${principal}\n!!! Anyone who can reach ${host}:${port} can use and manage its keys. Development only.\n${line}\n\n`;
}

// Metrics label only the operations the server knows: a client-chosen target must not grow the metrics forever.
function metricName(operation: string): string {
  return METHOD_NAMES[operation] !== undefined ? operation : "-";
}

// For the rejection of a failure path whose own error reporting (onError) threw: nothing is left to tell.
function ignore(): void {}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(typeof value === "number" && value > 0 && Number.isFinite(value))) {
    throw new RangeError(`limits.${name} expected a positive number, got ${value}`);
  }
  return value;
}

function errorBody(name: string, message: string): string {
  return JSON.stringify({ __type: name, message });
}

function mapError(e: unknown): { status: number; name: string; message: string } {
  const err = e as { awsName?: unknown; httpStatus?: unknown; message?: unknown; code?: unknown };
  if (typeof err === "object" && err !== null && typeof err.awsName === "string") {
    const status = typeof err.httpStatus === "number" ? err.httpStatus : (ERROR_STATUS[err.awsName] ?? 400);
    return {
      status,
      name: err.awsName,
      message: typeof err.message === "string" ? err.message : err.awsName,
    };
  }
  return {
    status: 500,
    name: "KMSInternalException",
    message: "The request could not be completed because of an internal error.",
  };
}

function wipe(value: unknown): void {
  if (value instanceof Uint8Array) value.fill(0);
}

/**
 * The client's user agent as the audit log records it: the User-Agent header, unless the SDK's X-Amz-User-Agent says
 * more. Node SDKs send the full SDK string in User-Agent and its prefix in X-Amz-User-Agent; browsers cannot set
 * User-Agent, so there the SDK (and, for example, the Encryption SDK's suffix) is only in X-Amz-User-Agent.
 */
function callerUserAgent(headers: Http1Exchange["headers"]): string | undefined {
  const userAgent = headers.get("user-agent");
  const sdk = headers.get("x-amz-user-agent");
  if (sdk === undefined || sdk === "" || userAgent?.includes(sdk)) return userAgent;
  return userAgent ? `${sdk} ${userAgent}` : sdk;
}

function claimedAccessKey(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const m = /Credential=([A-Za-z0-9]{1,128})\//.exec(authorization);
  return m?.[1];
}

function truncate(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}...` : s;
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

// biome-ignore lint/suspicious/noExplicitAny: probing the local KMS for the audit entry point it exposes.
type Loose = any;

function defaultAuditRejected(kms: KmsBackend): (event: RejectedRequest) => Promise<void> {
  const k = kms as Loose;
  if (typeof k.auditRejected === "function") return (event) => k.auditRejected(event);
  const log = k.auditLog ?? k.audit;
  if (log && typeof log.append === "function")
    return async (event) => {
      await log.append(rejectedToAuditInput(event));
    };
  return async () => {
    throw new Error("the local KMS exposes no audit log to record refused requests");
  };
}

/**
 * A refused request as the audit log's input (`AuditEventInput`): the verified caller when the signature held,
 * otherwise principal "anonymous" and account "unknown" with the access key the request claimed.
 */
export function rejectedToAuditInput(event: RejectedRequest): AuditEventInput {
  const caller: AuditCaller = {
    principal: event.principal ?? "anonymous",
    account: event.account ?? "unknown",
    ...(event.accessKeyId !== undefined ? { accessKeyId: event.accessKeyId } : {}),
    ...(event.sourceIp !== undefined ? { sourceIp: event.sourceIp } : {}),
    ...(event.userAgent !== undefined ? { userAgent: event.userAgent } : {}),
  };
  return {
    // The target is client-chosen: keep it only when it looks like an operation name.
    eventName: /^[A-Za-z][A-Za-z0-9]{0,63}$/.test(event.operation) ? event.operation : "Unknown",
    eventTime: event.time,
    caller,
    responseElements: null,
    errorCode: event.errorCode,
    errorMessage: event.errorMessage,
    requestId: event.requestId,
  };
}

function defaultMetricsExtra(kms: KmsBackend): () => Promise<readonly string[]> {
  return async () => {
    const k = kms as Loose;
    const log = k.auditLog ?? k.audit;
    const stats = log && typeof log.stats === "function" ? await log.stats() : undefined;
    if (stats === undefined || stats === null || typeof stats !== "object") return [];
    const lines: string[] = [];
    for (const [name, value] of Object.entries(stats as Record<string, unknown>)) {
      if (typeof value !== "number" || !Number.isFinite(value)) continue;
      const metric = `sealkit_kms_audit_${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/[^a-z0-9_]/g, "_")}`;
      lines.push(`# TYPE ${metric} gauge`, `${metric} ${value}`);
    }
    return lines;
  };
}
