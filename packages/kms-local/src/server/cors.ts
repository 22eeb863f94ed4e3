// CORS, opt-in: lets browser pages of listed origins call the server with AWS's SDKs, as AWS KMS allows.
//
// Every KMS request is signed, so CORS adds no authority a page did not already have through its credentials. The
// exception is `allowUnsignedAs`: there any page that may call the server acts as that principal, so "*" is refused
// together with it and listed origins are the operator's explicit choice.

/** Which browser origins may call the server (`createKmsServer({ cors })`, `--cors-origin`). */
export interface KmsServerCors {
  /**
   * Serialized origins as browsers send them (`http://localhost:5173`, `https://app.example.com`: scheme and host
   * in lower case, no default port, no path or trailing slash), or `["*"]` for any origin (not with
   * `allowUnsignedAs`).
   */
  readonly allowedOrigins: readonly string[];
}

/** The headers a browser may read from an answer: the SDK takes its request id and its clock skew from them. */
const EXPOSED = "Access-Control-Expose-Headers: x-amzn-RequestId, Date\r\n";
/** Chromium caps a preflight's lifetime at two hours. */
const MAX_AGE_SECONDS = 7200;
const HEADER_LIST = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*,[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/;
const METHODS = new Set(["POST", "GET", "HEAD"]);

/**
 * Checks a CORS configuration.
 * @throws {TypeError} for an entry that is not a serialized http(s) origin or "*", "*" next to other entries, an
 *   empty list, or "*" with unsigned requests allowed.
 */
export function checkCors(cors: KmsServerCors, unsignedAllowed: boolean): readonly string[] {
  const list = cors?.allowedOrigins;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(
      'cors.allowedOrigins expected a non-empty list of origins such as "http://localhost:5173"',
    );
  }
  if (list.includes("*")) {
    if (list.length > 1) throw new TypeError('cors.allowedOrigins: "*" allows every origin and stands alone');
    if (unsignedAllowed) {
      throw new TypeError(
        'cors.allowedOrigins "*" with allowUnsignedAs would let any web page its visitors open use the keys as that principal: list the origins instead',
      );
    }
    return list;
  }
  for (const origin of list) {
    if (typeof origin !== "string" || serializedOrigin(origin) !== origin) {
      throw new TypeError(
        `cors.allowedOrigins: ${JSON.stringify(origin)} is not an origin as browsers send it (scheme://host[:port] in lower case, no default port, no path)${suggestion(origin)}`,
      );
    }
  }
  return list;
}

function serializedOrigin(text: string): string | undefined {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

function suggestion(text: unknown): string {
  if (typeof text !== "string") return "";
  const origin = serializedOrigin(text);
  return origin !== undefined && origin !== text ? `: did you mean "${origin}"?` : "";
}

/** The CORS headers of the server's answers, for the configured origins. */
export class Cors {
  readonly #any: boolean;
  readonly #origins: ReadonlySet<string>;

  /** @throws {TypeError} as {@link checkCors}. */
  constructor(cors: KmsServerCors, unsignedAllowed: boolean) {
    const list = checkCors(cors, unsignedAllowed);
    this.#any = list[0] === "*";
    this.#origins = new Set(list);
  }

  #allows(origin: string | undefined): origin is string {
    return origin !== undefined && (this.#any || this.#origins.has(origin));
  }

  /** Whether pages of this origin (an `Origin` header's value) may call the server. */
  allows(origin: string | undefined): boolean {
    return this.#allows(origin);
  }

  #allowOrigin(origin: string): string {
    return this.#any
      ? "Access-Control-Allow-Origin: *\r\n"
      : `Access-Control-Allow-Origin: ${origin}\r\nVary: Origin\r\n`;
  }

  /** Header lines for the answer to a request with this Origin header: "" when it has none or it is not allowed. */
  answerHead(origin: string | undefined): string {
    return this.#allows(origin) ? this.#allowOrigin(origin) + EXPOSED : "";
  }

  /**
   * Header lines for the answer to a preflight (OPTIONS with Origin and Access-Control-Request-Method), or undefined
   * when the origin or method is not allowed. The requested headers are allowed as asked (SigV4 decides what a
   * request may do); a list that is not one of header names is not echoed.
   */
  preflightHead(
    origin: string | undefined,
    method: string | undefined,
    requestHeaders: string | undefined,
  ): string | undefined {
    if (!this.#allows(origin) || method === undefined || !METHODS.has(method)) return undefined;
    const headers =
      requestHeaders !== undefined && requestHeaders.length <= 2048 && HEADER_LIST.test(requestHeaders)
        ? `Access-Control-Allow-Headers: ${requestHeaders}\r\n`
        : "";
    return `${this.#allowOrigin(origin)}Access-Control-Allow-Methods: POST, GET, HEAD\r\n${headers}Access-Control-Max-Age: ${MAX_AGE_SECONDS}\r\n`;
  }
}
