// The server half: a fetch handler that issues data keys to authorized callers and unwraps them again.
// It runs wherever Request/Response do: Hono, a Node HTTP server through an adapter, an edge worker.

import {
  aint,
  astring,
  contextContains,
  type EncryptedDataKey,
  type EncryptionContext,
  type KeyProvider,
  readAtMost,
  SealkitError,
  type SealkitErrorCode,
  toBase64,
  utf8,
  wipe,
} from "@sealkit/core";
import {
  type DecryptRequestBody,
  duplicateMemberName,
  type ErrorBody,
  type GenerateResponseBody,
  InvalidBody,
  LIMITS,
  REQUEST_HEADER,
  type RemoteOperation,
  ROUTES,
  readDecryptBody,
  readEncryptedDataKey,
  readGenerateBody,
  type WireEncryptedDataKey,
  writeEncryptedDataKey,
} from "./protocol.js";
import { createRateLimiter, type RateLimit } from "./rate-limiter.js";

/** What `authorize` learns about a request before deciding. */
export interface AuthorizeDetails {
  readonly operation: RemoteOperation;
  readonly context: EncryptionContext;
  /** For "decrypt": the key the caller wants opened. */
  readonly encryptedDataKey?: EncryptedDataKey;
}

/** An allowed caller: who it is, and context pairs every request of theirs must carry. */
export interface Authorization {
  /** The authenticated principal; rate limits, events and (through a provider factory) the KMS audit name it. */
  readonly principal: string;
  /**
   * Pairs the request's encryption context must contain, e.g. `{ tenant: "acme" }` for a user of tenant acme.
   * A plain object of strings; anything else (a Map, a class instance) fails the request closed with a 500.
   */
  readonly requireContext?: EncryptionContext;
}

/** What the handler reports for every request it decides; never key material. */
export interface DataKeyEvent {
  readonly time: Date;
  readonly operation: RemoteOperation;
  readonly principal?: string;
  readonly context?: EncryptionContext;
  readonly keyIds: readonly string[];
  readonly outcome: "issued" | "unwrapped" | "refused" | "failed";
  readonly code?: SealkitErrorCode;
  readonly status: number;
  /**
   * For a provider's SealkitError: its own message, which the client is not told (it may name the server's IAM
   * principal, account and key ARNs). Sealkit providers put no key material in messages.
   */
  readonly providerMessage?: string;
}

export interface DataKeyHandlerOptions {
  /**
   * The provider that issues and opens data keys, or a factory that makes one per principal (so that a KMS
   * provider can name the principal as its caller, and the KMS audit log records who asked).
   */
  readonly provider: KeyProvider | ((authorization: Authorization) => KeyProvider | Promise<KeyProvider>);
  /**
   * Authenticates the caller (session cookie, bearer token) and decides. Return the principal to allow, or
   * null/undefined/false to refuse with 403. Without it every request is refused: a data-key endpoint that
   * answers anyone hands out the power to decrypt every envelope, so there is no permissive default.
   */
  readonly authorize?: (
    request: Request,
    details: AuthorizeDetails,
  ) => Authorization | null | undefined | false | Promise<Authorization | null | undefined | false>;
  /** Path prefix the handler is mounted under, e.g. "/api/keys". Default "". */
  readonly basePath?: string;
  /**
   * Largest request body, in bytes. Default 16 KiB. A data key is issued only when the request to decrypt it again
   * (its context and encrypted data key) fits too: else 400 ERR_LIMIT_EXCEEDED.
   */
  readonly maxBodyBytes?: number;
  /** Per-principal rate limit; default 20 per second with bursts of 100. `false` turns it off. */
  readonly rateLimit?: RateLimit | false;
  /**
   * Origins allowed to call cross-origin (CORS, with credentials), each as a browser sends it in `Origin`:
   * `"https://app.example"`, `"http://localhost:5173"`. Default none: same-origin only.
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * Called once per decided request (for logs and metrics). Not awaited; what it throws or rejects with is ignored.
   */
  readonly onEvent?: (event: DataKeyEvent) => void;
  /** Clock for the rate limiter, in milliseconds. */
  readonly now?: () => number;
}

/**
 * The answer to a provider's SealkitError: its status and a fixed message. The provider's own message is never
 * passed on: KMS messages name the server's IAM principal, its account and key ARNs ("User: arn:aws:sts::...:
 * assumed-role/app-server/... is not authorized"), which are not the caller's to know. Codes not listed here are
 * a 500 `internal error` (ERR_PROVIDER_UNAVAILABLE); the event keeps the provider's code.
 */
const PROVIDER_ANSWER: Partial<Record<SealkitErrorCode, readonly [status: number, message: string]>> = {
  ERR_REQUEST_INVALID: [400, "the key service refused the request as invalid"],
  ERR_INVALID_CIPHERTEXT: [400, "the encrypted data key does not open under that key and encryption context"],
  ERR_UNSUPPORTED_SUITE: [400, "the suite is not supported"],
  ERR_LIMIT_EXCEEDED: [400, "the request exceeds a limit of the key service"],
  ERR_ACCESS_DENIED: [403, "the key service refused access to the key"],
  ERR_CONTEXT_MISMATCH: [403, "the encryption context does not match"],
  ERR_KEY_NOT_FOUND: [404, "the key service has no such key"],
  ERR_KEY_DISABLED: [409, "the key is disabled"],
  ERR_RATE_LIMITED: [429, "the key service is rate limiting; try again later"],
  ERR_THROTTLED: [503, "the key service is throttling; try again later"],
  ERR_PROVIDER_UNAVAILABLE: [502, "the key service failed; try again later"],
};

/**
 * True for an object literal (of any realm) or a null-prototype object whose own enumerable values are strings.
 * A prototype of its own (Map, a class, Object.create(pairs)) would hold pairs Object.entries does not list.
 */
function isPlainObjectOfStrings(value: unknown): value is EncryptionContext {
  if (typeof value !== "object" || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== null && Object.getPrototypeOf(proto) !== null) return false;
  return Object.values(value).every((v) => typeof v === "string");
}

/** The serialized origin of a URL, or undefined when it is not an absolute URL with one. */
function originOf(text: string): string | undefined {
  try {
    const origin = new URL(text).origin;
    return origin === "null" ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * An encrypted data key from the provider as JSON, if the decrypt endpoint would take it back (ids of 1 to 2,048
 * well-formed characters, 1 to 8,192 bytes of ciphertext): a key it refuses could never be opened through it.
 * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE otherwise
 */
function issuable(key: EncryptedDataKey): WireEncryptedDataKey {
  try {
    if (!(key?.ciphertext instanceof Uint8Array)) throw new InvalidBody("ciphertext is not bytes");
    const wire = writeEncryptedDataKey(key);
    readEncryptedDataKey(wire);
    return wire;
  } catch (error) {
    if (!(error instanceof InvalidBody)) throw error;
    throw new SealkitError(
      "ERR_PROVIDER_UNAVAILABLE",
      `the provider returned an encrypted data key the decrypt endpoint would refuse: ${error.message}`,
    );
  }
}

/** The size in bytes of the decrypt request remoteProvider sends for `encryptedDataKey` under `context`. */
function decryptBodyBytes(context: EncryptionContext, encryptedDataKey: WireEncryptedDataKey): number {
  return utf8(JSON.stringify({ context, encryptedDataKey } satisfies DecryptRequestBody)).length;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: SealkitErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * Creates the data-key endpoints as a fetch handler: `POST {basePath}/data-keys` issues a data key for an
 * encryption context, `POST {basePath}/data-keys/decrypt` opens an encrypted data key (see openapi.yaml).
 * Requests must carry `X-Sealkit-Request: 1` and JSON; cross-origin calls are refused unless their origin is in
 * `allowedOrigins`. Every response carries `Cache-Control: no-store`. Paths it does not serve answer 404.
 *
 * The request's `signal` goes to the provider's calls, so a caller that goes away cancels the KMS call where the
 * runtime aborts it (Node adapters, Deno, Bun; workerd only with its `enable_request_signal` flag).
 *
 * The handler itself never throws: every failure is an answer with a JSON error body `{ error: { code, message } }`
 * (see README, "What the handler enforces"); faults of the hooks or the provider are a 500 `internal error`.
 *
 * @throws {TypeError} when `provider` is missing, `basePath`, `allowedOrigins` or `maxBodyBytes` have the wrong type,
 *   or an `allowedOrigins` entry is not an origin ("https://app.example"; "null" and "*" are refused)
 * @throws {RangeError} when `maxBodyBytes` is not from 1 to 2^30, the rate limit is not positive, or its
 *   `maxPrincipals` is not from 1 to 2^31 - 1 (TypeError when not an integer)
 */
export function createDataKeyHandler(
  options: DataKeyHandlerOptions,
): (request: Request) => Promise<Response> {
  const {
    provider,
    authorize,
    basePath = "",
    maxBodyBytes = 16 * 1024,
    allowedOrigins: givenOrigins = [],
    onEvent,
  } = options;
  if (!provider) throw new TypeError(`"provider" is required`);
  // Checked here, not per request: NaN would turn the body limit off, and a string would match origins by
  // substring ("https://app.example.co" inside "https://app.example.com").
  aint(maxBodyBytes, "maxBodyBytes", 1, 2 ** 30);
  astring(basePath, "basePath");
  if (!Array.isArray(givenOrigins) || givenOrigins.some((o) => typeof o !== "string")) {
    throw new TypeError(`"allowedOrigins" expected an array of origin strings`);
  }
  // A copy: entries the caller pushes later would be trusted without the check below.
  const allowedOrigins: readonly string[] = [...givenOrigins];
  for (const origin of allowedOrigins) {
    // Each must be an Origin header a browser sends: "null" (sandboxed iframes, data: documents of any site)
    // would let every site in with credentials; "*", a path or a default port can never match and refuse silently.
    if (originOf(origin) !== origin) {
      throw new TypeError(
        `"allowedOrigins" entries must be origins like "https://app.example" (scheme, host, port if not the ` +
          `default; no path, no "*" or "null"), got "${origin.slice(0, 100)}"`,
      );
    }
  }
  const limiter =
    options.rateLimit === false
      ? undefined
      : createRateLimiter(options.rateLimit ?? { perSecond: 20, burst: 100 }, options.now);
  const base = basePath.replace(/\/+$/, "");
  const providerFor = async (authorization: Authorization): Promise<KeyProvider> =>
    typeof provider === "function" ? provider(authorization) : provider;

  const corsHeaders = (request: Request): Record<string, string> => {
    const origin = request.headers.get("origin");
    if (!origin || !allowedOrigins.includes(origin)) return {};
    return {
      "access-control-allow-origin": origin,
      "access-control-allow-credentials": "true",
      vary: "Origin",
    };
  };

  const respond = (request: Request, status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: {
        "content-type": "application/json; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        ...corsHeaders(request),
        ...headers,
      },
    });

  const refuse = (request: Request, refusal: Refusal) =>
    respond(
      request,
      refusal.status,
      { error: { code: refusal.code, message: refusal.message } } satisfies ErrorBody,
      refusal.headers,
    );

  const checkOrigin = (request: Request, url: URL): void => {
    const origin = request.headers.get("origin");
    if (origin && origin !== url.origin && !allowedOrigins.includes(origin)) {
      throw new Refusal(403, "ERR_ACCESS_DENIED", `origin ${origin} may not call this endpoint`);
    }
    if (request.headers.get(REQUEST_HEADER) !== "1") {
      throw new Refusal(403, "ERR_REQUEST_INVALID", `requests must carry the header "X-Sealkit-Request: 1"`);
    }
  };

  const readJson = async (request: Request): Promise<unknown> => {
    const type = request.headers.get("content-type") ?? "";
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      throw new Refusal(415, "ERR_REQUEST_INVALID", "the body must be application/json");
    }
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > maxBodyBytes)
      throw new Refusal(413, "ERR_REQUEST_INVALID", `the body exceeds ${maxBodyBytes} bytes`);
    let bytes: Uint8Array | undefined = new Uint8Array(0);
    if (request.body) {
      try {
        bytes = await readAtMost(request.body, maxBodyBytes);
      } catch {
        throw new Refusal(400, "ERR_REQUEST_INVALID", "the body could not be read to its end");
      }
    }
    if (bytes === undefined) {
      throw new Refusal(413, "ERR_REQUEST_INVALID", `the body exceeds ${maxBodyBytes} bytes`);
    }
    let text: string;
    let json: unknown;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      json = JSON.parse(text);
    } catch {
      throw new Refusal(400, "ERR_REQUEST_INVALID", "the body is not valid JSON");
    }
    const twice = duplicateMemberName(text);
    if (twice !== undefined) {
      throw new Refusal(
        400,
        "ERR_REQUEST_INVALID",
        `the body names "${twice.slice(0, 100)}" twice in one object (member names must be unique)`,
      );
    }
    return json;
  };

  const authenticate = async (request: Request, details: AuthorizeDetails): Promise<Authorization> => {
    const authorization = authorize ? await authorize(request, details) : undefined;
    if (!authorization) {
      throw new Refusal(
        403,
        "ERR_ACCESS_DENIED",
        authorize ? "not authorized" : "this endpoint has no authorize hook and refuses every request",
      );
    }
    if (typeof authorization.principal !== "string" || authorization.principal.length === 0) {
      throw new TypeError("authorize must return { principal: string }");
    }
    // A malformed requireContext (a number, a function, a Map, an object whose pairs are inherited or getters on
    // its class) has no pairs that Object.entries lists, so it would admit every context: fail closed, as for any
    // other fault of the hook. Only a plain or null-prototype object of strings is taken.
    const required: unknown = authorization.requireContext;
    if (required !== undefined && !isPlainObjectOfStrings(required)) {
      throw new TypeError("authorize must return requireContext as an object of strings");
    }
    return authorization;
  };

  /** The checks after authentication: the principal's required context pairs, then its rate limit. */
  const admit = (authorization: Authorization, context: EncryptionContext): void => {
    if (authorization.requireContext && !contextContains(context, authorization.requireContext)) {
      const pairs = Object.entries(authorization.requireContext)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ");
      throw new Refusal(403, "ERR_ACCESS_DENIED", `the encryption context must contain ${pairs}`);
    }
    const wait = limiter?.(authorization.principal) ?? 0;
    if (wait > 0) {
      throw new Refusal(429, "ERR_RATE_LIMITED", `too many requests; retry in ${wait} s`, {
        "retry-after": String(wait),
      });
    }
  };

  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const path = url.pathname.startsWith(base) ? url.pathname.slice(base.length) : undefined;
    const operation: RemoteOperation | undefined =
      path === ROUTES.generate ? "generate" : path === ROUTES.decrypt ? "decrypt" : undefined;
    if (!operation) return refuse(request, new Refusal(404, "ERR_REQUEST_INVALID", "not found"));

    if (request.method === "OPTIONS") {
      const origin = request.headers.get("origin");
      if (!origin || !allowedOrigins.includes(origin)) {
        return refuse(
          request,
          new Refusal(403, "ERR_ACCESS_DENIED", "cross-origin requests are not allowed"),
        );
      }
      return new Response(null, {
        status: 204,
        headers: {
          ...corsHeaders(request),
          "access-control-allow-methods": "POST",
          "access-control-allow-headers": `content-type, authorization, ${REQUEST_HEADER}`,
          "access-control-max-age": "600",
          "cache-control": "no-store",
        },
      });
    }

    let authorization: Authorization | undefined;
    let context: EncryptionContext | undefined;
    let keyIds: string[] = [];
    const report = (
      outcome: DataKeyEvent["outcome"],
      status: number,
      code?: SealkitErrorCode,
      providerMessage?: string,
    ) => {
      try {
        const observed: unknown = onEvent?.({
          time: new Date(),
          operation,
          ...(authorization ? { principal: authorization.principal } : {}),
          ...(context ? { context } : {}),
          keyIds,
          outcome,
          status,
          ...(code ? { code } : {}),
          ...(providerMessage !== undefined ? { providerMessage } : {}),
        });
        // An async observer's rejection is dropped too: unhandled, it would end a Node process.
        if (typeof (observed as PromiseLike<void> | undefined)?.then === "function") {
          Promise.resolve(observed).catch(() => {});
        }
      } catch {
        // An observer must not turn a decided request into a failure.
      }
    };

    try {
      if (request.method !== "POST") {
        throw new Refusal(405, "ERR_REQUEST_INVALID", "use POST", { allow: "POST, OPTIONS" });
      }
      checkOrigin(request, url);
      const json = await readJson(request);
      let body: ReturnType<typeof readGenerateBody> | ReturnType<typeof readDecryptBody>;
      try {
        body = operation === "generate" ? readGenerateBody(json) : readDecryptBody(json);
      } catch (error) {
        if (error instanceof InvalidBody) throw new Refusal(400, "ERR_REQUEST_INVALID", error.message);
        throw error;
      }
      context = body.context;
      const encryptedDataKey = "encryptedDataKey" in body ? body.encryptedDataKey : undefined;
      if (encryptedDataKey) keyIds = [encryptedDataKey.keyId];
      const authorized = await authenticate(request, {
        operation,
        context,
        ...(encryptedDataKey ? { encryptedDataKey } : {}),
      });
      authorization = authorized;
      admit(authorized, context);
      const keys = await providerFor(authorized);

      if (operation === "generate" && "length" in body) {
        // The request's signal aborts when the caller goes away (Node adapters, Deno, Bun): the KMS call ends too.
        const dataKey = await keys.generateDataKey({
          length: body.length,
          context: body.context,
          ...(body.suite ? { suite: body.suite as never } : {}),
          signal: request.signal,
        });
        let answer: GenerateResponseBody;
        try {
          if (
            !(dataKey.plaintext instanceof Uint8Array) ||
            dataKey.plaintext.length !== body.length ||
            !Array.isArray(dataKey.encryptedDataKeys) ||
            dataKey.encryptedDataKeys.length === 0
          ) {
            throw new SealkitError(
              "ERR_PROVIDER_UNAVAILABLE",
              "the provider returned a malformed data key or no encrypted data key",
            );
          }
          keyIds = dataKey.encryptedDataKeys.map((k) => k.keyId);
          const encryptedDataKeys = dataKey.encryptedDataKeys.map(issuable);
          // Each key comes back in a decrypt request with this context, which is longer than this request: one
          // over maxBodyBytes would seal envelopes this endpoint answers 413 for ever. Refuse to issue it.
          for (const encryptedDataKey of encryptedDataKeys) {
            if (decryptBodyBytes(body.context, encryptedDataKey) > maxBodyBytes) {
              throw new Refusal(
                400,
                "ERR_LIMIT_EXCEEDED",
                `the encryption context is too large: a request to decrypt this data key would exceed the ` +
                  `${maxBodyBytes}-byte body limit`,
              );
            }
          }
          answer = { plaintext: toBase64(dataKey.plaintext), encryptedDataKeys };
        } finally {
          if (dataKey?.plaintext instanceof Uint8Array) wipe(dataKey.plaintext);
        }
        report("issued", 200);
        return respond(request, 200, answer);
      }
      if (!encryptedDataKey || !keys.canDecrypt(encryptedDataKey)) {
        throw new Refusal(
          403,
          "ERR_ACCESS_DENIED",
          "this server does not open keys of that provider or key id",
        );
      }
      const opened = await keys.decryptDataKey({
        encryptedDataKey,
        context: body.context,
        signal: request.signal,
      });
      let plaintext: string;
      try {
        if (!(opened instanceof Uint8Array) || opened.length === 0) {
          throw new SealkitError("ERR_PROVIDER_UNAVAILABLE", "the provider returned a malformed data key");
        }
        // Only what generate could have issued: a KMS key that also encrypts other secrets (KMS Encrypt) would
        // otherwise open them for any caller whose context matches. Shorter secrets still open: keep a key for this.
        if (opened.length < LIMITS.minLength || opened.length > LIMITS.maxLength) {
          throw new Refusal(
            400,
            "ERR_INVALID_CIPHERTEXT",
            `the ciphertext is not a data key (${LIMITS.minLength} to ${LIMITS.maxLength} bytes) of this endpoint`,
          );
        }
        plaintext = toBase64(opened);
      } finally {
        if (opened instanceof Uint8Array) wipe(opened);
      }
      report("unwrapped", 200);
      return respond(request, 200, { plaintext });
    } catch (error) {
      if (error instanceof Refusal) {
        report("refused", error.status, error.code);
        return refuse(request, error);
      }
      if (SealkitError.isInstance(error)) {
        const answer = PROVIDER_ANSWER[error.code];
        const status = answer?.[0] ?? 500;
        report(status < 500 ? "refused" : "failed", status, error.code, String(error.message));
        return refuse(
          request,
          answer
            ? new Refusal(status, error.code, answer[1])
            : new Refusal(500, "ERR_PROVIDER_UNAVAILABLE", "internal error"),
        );
      }
      report("failed", 500, "ERR_PROVIDER_UNAVAILABLE");
      return refuse(request, new Refusal(500, "ERR_PROVIDER_UNAVAILABLE", "internal error"));
    }
  };
}
