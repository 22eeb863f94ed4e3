// AWS Signature Version 4 verification for the KMS server: parse, check scope and clock skew, recompute, compare in constant time.

import * as nodeCrypto from "node:crypto";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { AuthError } from "./wire-errors.js";

/** What a verified request proves: who signed it. */
export interface VerifiedSignature {
  readonly accessKeyId: string;
  /** The scope's date (YYYYMMDD). */
  readonly date: string;
  /** The signed header names, lower case, sorted. */
  readonly signedHeaders: readonly string[];
}

/** The parts of an HTTP request SigV4 covers. Header names in `rawHeaders` keep their case, as node:http gives them. */
export interface SignedRequestParts {
  readonly method: string;
  /** Path and query, as on the request line (`/`, `/?a=b`). */
  readonly url: string;
  /** Alternating names and values, as `IncomingMessage.rawHeaders`. */
  readonly rawHeaders: readonly string[];
  readonly body: Uint8Array;
}

/** Options of {@link SigV4Verifier}. */
export interface SigV4VerifierOptions {
  /** The region the server answers for; the credential scope must name it. */
  readonly region: string;
  /** The service name in the scope (default "kms"). */
  readonly service?: string;
  /** Finds the secret of an access key id; undefined when unknown. */
  readonly secretFor: (accessKeyId: string) => string | undefined;
  /**
   * The session token an access key's requests must carry in a signed `X-Amz-Security-Token` (temporary
   * credentials); undefined for a long-term key, whose requests must carry none. Without this option no key has one.
   */
  readonly sessionTokenFor?: (accessKeyId: string) => string | undefined;
  /** Largest accepted difference between the request's time and the server's, in ms (default 5 minutes). */
  readonly maxSkewMs?: number;
  /** The server's clock (default Date.now), replaceable in tests. */
  readonly now?: () => number;
}

const ALGORITHM = "AWS4-HMAC-SHA256";
const FIVE_MINUTES = 5 * 60 * 1000;
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** AWS's message for a signature that does not match. */
export const SIGNATURE_MISMATCH_MESSAGE =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/** A cached signing key, with its HMAC pads (RFC 2104) precomputed so that the request's HMAC is two SHA-256. */
interface SigningKey {
  readonly secret: string;
  /**
   * The inner HMAC message: K XOR ipad (64 bytes), then the string to sign with its scope filled in and room for
   * the request's X-Amz-Date (at {@link DATE_AT}) and canonical request hash (the last 64 bytes).
   */
  readonly inner: Buffer;
  /** K XOR opad (64 bytes), then room for the inner digest (32 bytes). */
  readonly outer: Buffer;
}

// Where X-Amz-Date goes in SigningKey.inner: after the pad and "AWS4-HMAC-SHA256\n".
const DATE_AT = 64 + ALGORITHM.length + 1;

/**
 * Verifies AWS SigV4 `Authorization` headers (the header form the AWS SDKs and CLI send) against a set of secrets.
 * Derived signing keys are cached per (access key, secret, date, region, service), so a verification costs two
 * SHA-256 and one HMAC (itself two SHA-256 over the cached pads).
 */
export class SigV4Verifier {
  readonly #region: string;
  readonly #service: string;
  readonly #secretFor: (accessKeyId: string) => string | undefined;
  readonly #sessionTokenFor: ((accessKeyId: string) => string | undefined) | undefined;
  readonly #maxSkewMs: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, SigningKey>();
  // The last X-Amz-Date parsed: clients sign with the current second, so most requests repeat it.
  #lastAmzDate = "";
  #lastTime = 0;

  /** @throws {TypeError} when region is empty. */
  constructor(options: SigV4VerifierOptions) {
    if (typeof options.region !== "string" || options.region === "")
      throw new TypeError('"region" expected a non-empty string');
    this.#region = options.region;
    this.#service = options.service ?? "kms";
    this.#secretFor = options.secretFor;
    this.#sessionTokenFor = options.sessionTokenFor;
    this.#maxSkewMs = options.maxSkewMs ?? FIVE_MINUTES;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Verifies one request.
   * @throws {AuthError} MissingAuthenticationTokenException (no Authorization), IncompleteSignatureException
   *   (a part missing, neither X-Amz-Date nor Date, host, the date header or x-amz-security-token unsigned), InvalidSignatureException (scope, skew,
   *   mismatch), UnrecognizedClientException (unknown access key; a session token missing, wrong, or given for a
   *   long-term key).
   */
  verify(request: SignedRequestParts): VerifiedSignature {
    return this.verifyCollected(
      request.method,
      request.url,
      collectHeaders(request.rawHeaders),
      request.body,
    );
  }

  /**
   * {@link SigV4Verifier.verify} for headers already collected by {@link collectHeaders} (the server collects them
   * once per request and reads its other headers from the same map).
   * @throws {AuthError} as {@link SigV4Verifier.verify}.
   */
  verifyCollected(
    method: string,
    url: string,
    headers: ReadonlyMap<string, string>,
    body: Uint8Array,
  ): VerifiedSignature {
    const authorization = headers.get("authorization");
    if (authorization === undefined) {
      throw new AuthError("MissingAuthenticationTokenException", "Missing Authentication Token");
    }
    const auth = parseAuthorization(authorization);
    const signed = auth.signed;
    if (!signed.includes("host")) {
      throw new AuthError(
        "IncompleteSignatureException",
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
      );
    }
    // The request's time: X-Amz-Date, else the Date header (AWS looks for them in this order; botocore signs with
    // Date, in RFC 2822 form, when the caller set one). Either must be signed.
    let amzDate = headers.get("x-amz-date");
    const dateName = amzDate !== undefined ? "x-amz-date" : "date";
    const dateValue = amzDate ?? headers.get("date");
    if (dateValue === undefined) {
      throw new AuthError(
        "IncompleteSignatureException",
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
      );
    }
    if (!signed.includes(dateName)) {
      throw new AuthError(
        "IncompleteSignatureException",
        `Authorization header requires existence of a signed '${amzDate !== undefined ? "X-Amz-Date" : "Date"}' header.`,
      );
    }
    const scope = parseScope(auth.credential);
    const { accessKeyId, date, region, service, terminator } = scope;
    if (terminator !== "aws4_request") {
      throw new AuthError(
        "InvalidSignatureException",
        `Credential should be scoped with a valid terminator: 'aws4_request', not '${truncate(terminator)}'.`,
      );
    }
    let time: number;
    if (amzDate === undefined) {
      // The string to sign has the time in ISO 8601 basic form, whichever form the Date header has.
      time = parseDateHeader(dateValue);
      amzDate = formatAmzDate(time);
    } else if (amzDate === this.#lastAmzDate) {
      time = this.#lastTime;
    } else {
      time = parseAmzDate(amzDate);
      this.#lastAmzDate = amzDate;
      this.#lastTime = time;
    }
    if (date !== amzDate.slice(0, 8)) {
      throw new AuthError(
        "InvalidSignatureException",
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${truncate(date)}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
      );
    }
    if (region !== this.#region) {
      throw new AuthError(
        "InvalidSignatureException",
        `Credential should be scoped to a valid region, not '${truncate(region)}'.`,
      );
    }
    if (service !== this.#service) {
      throw new AuthError(
        "InvalidSignatureException",
        `Credential should be scoped to correct service: '${this.#service}'.`,
      );
    }
    const now = this.#now();
    if (time < now - this.#maxSkewMs) {
      throw new AuthError(
        "InvalidSignatureException",
        `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(now - this.#maxSkewMs)} (${formatAmzDate(now)} - ${this.#maxSkewMs / 60_000} min.)`,
      );
    }
    if (time > now + this.#maxSkewMs) {
      throw new AuthError(
        "InvalidSignatureException",
        `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(now + this.#maxSkewMs)} (${formatAmzDate(now)} + ${this.#maxSkewMs / 60_000} min.)`,
      );
    }
    const secret = this.#secretFor(accessKeyId);
    if (secret === undefined) {
      throw new AuthError(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
      );
    }
    const sessionToken = headers.get("x-amz-security-token");
    const expectedToken = this.#sessionTokenFor?.(accessKeyId);
    if (sessionToken !== undefined || expectedToken !== undefined) {
      checkSessionToken(sessionToken, expectedToken, signed);
    }

    const payloadHash = body.length === 0 ? EMPTY_SHA256 : sha256Hex(body);
    const claimedHash = headers.get("x-amz-content-sha256");
    if (claimedHash !== undefined && claimedHash !== payloadHash) {
      throw new AuthError(
        "InvalidSignatureException",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
      );
    }
    let canonicalHeaders = "";
    for (let i = 0; i < signed.length; i++) {
      const name = signed[i] as string;
      const value = headers.get(name);
      if (value === undefined) {
        throw new AuthError("InvalidSignatureException", SIGNATURE_MISMATCH_MESSAGE);
      }
      canonicalHeaders += `${name}:${value}\n`;
    }
    // The HTTP layer folds runs of spaces; the signers fold every whitespace run (botocore splits on whitespace,
    // @smithy/signature-v4 replaces /\s+/), and a header value may also hold HTAB or, read as latin1, NBSP.
    if (canonicalHeaders.includes("\t") || canonicalHeaders.includes("\xa0")) {
      canonicalHeaders = canonicalHeaders.replace(/[\t \xa0]+/g, " ");
    }
    const canonicalRequest =
      url === "/"
        ? `${method}\n/\n\n${canonicalHeaders}\n${auth.signedHeaders}\n${payloadHash}`
        : canonicalRequestOf(method, url, canonicalHeaders, auth.signedHeaders, payloadHash);
    const key = this.#signingKey(auth.credential, secret, scope);
    // The string to sign is "AWS4-HMAC-SHA256\n<X-Amz-Date>\n<scope>\n<hash of the canonical request>".
    if (!signatureMatches(key, amzDate, sha256Hex(canonicalRequest), auth.signature)) {
      throw new AuthError("InvalidSignatureException", SIGNATURE_MISMATCH_MESSAGE);
    }
    // Only verified requests fill the parse caches: refused ones cannot grow them or evict what clients use.
    if (!scope.cached) rememberScope(auth.credential, scope);
    if (!auth.signedCached) rememberSigned(auth.signedHeaders, signed);
    return { accessKeyId, date, signedHeaders: signed };
  }

  #signingKey(credential: string, secret: string, scope: Scope): SigningKey {
    // The credential names access key, date, region and service: one cache entry per scope.
    const cached = this.#keys.get(credential);
    if (cached !== undefined && cached.secret === secret) return cached;
    const key = deriveSigningKey(secret, scope.date, scope.region, scope.service);
    const template = `${ALGORITHM}\n${"0".repeat(16)}\n${scope.scope}\n${"0".repeat(64)}`;
    const inner = Buffer.alloc(64 + Buffer.byteLength(template));
    inner.fill(0x36, 0, 64);
    inner.write(template, 64, "utf8");
    const outer = Buffer.alloc(96, 0);
    outer.fill(0x5c, 0, 64);
    for (let i = 0; i < key.length; i++) {
      (inner[i] as number) ^= key[i] as number;
      (outer[i] as number) ^= key[i] as number;
    }
    key.fill(0);
    // Bounded: one entry per access key and day; a burst of dates (clients with odd clocks) cannot grow it forever.
    if (this.#keys.size >= 4096) this.#keys.clear();
    const entry = { secret, inner, outer };
    this.#keys.set(credential, entry);
    return entry;
  }
}

// One-shot SHA-256 (node:crypto `hash`, Node >= 20.12) is several times cheaper than a Hash object for small inputs.
const oneShot = (
  nodeCrypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: string) => string }
).hash;

// The signature comparison's operands: verification is synchronous, so one pair serves every call.
const expectedSig = Buffer.alloc(32);
const givenSig = Buffer.alloc(32);

/**
 * HMAC-SHA256(signing key, string to sign) compared in constant time with the hex signature given. `amzDate` is
 * 16 ASCII characters (parseAmzDate checked it) and `canonicalHash` 64 hex digits: both are written in place.
 */
function signatureMatches(
  key: SigningKey,
  amzDate: string,
  canonicalHash: string,
  signature: string,
): boolean {
  if (signature.length !== 64) return false;
  const inner = key.inner;
  inner.write(amzDate, DATE_AT, "latin1");
  inner.write(canonicalHash, inner.length - 64, "latin1");
  const outer = key.outer;
  outer.write(sha256Latin1(inner), 64, "latin1");
  expectedSig.write(sha256Latin1(outer), 0, "latin1");
  // Hex decoding stops at the first non-hex character: anything but 32 bytes cannot match.
  const written = givenSig.write(signature, 0, "hex");
  const equal = timingSafeEqual(expectedSig, givenSig);
  return written === 32 && equal;
}

function sha256Latin1(data: Uint8Array): string {
  return oneShot !== undefined
    ? oneShot("sha256", data, "latin1")
    : createHash("sha256").update(data).digest().toString("latin1");
}

/** The canonical request of a URL other than "/" (normalized path, sorted query). */
function canonicalRequestOf(
  method: string,
  url: string,
  canonicalHeaders: string,
  signedHeaders: string,
  payloadHash: string,
): string {
  const { path, query } = canonicalUrl(url);
  return `${method}\n${path}\n${query}\n${canonicalHeaders}\n${signedHeaders}\n${payloadHash}`;
}

interface Scope {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly terminator: string;
  /** `date/region/service/terminator`, as in the string to sign. */
  readonly scope: string;
  /** Whether this is the cache's entry (false: parsed for this request, cached if it verifies). */
  readonly cached: boolean;
}

// Parsed credentials and signed-header lists: pure functions of the header's text, and few distinct values among
// the requests that verify. Keyed by text the client chose, so only verified requests add entries (bounded anyway).
const scopes = new Map<string, Scope>();
const signedLists = new Map<string, readonly string[]>();
const CACHE_LIMIT = 1024;

function rememberScope(credential: string, scope: Scope): void {
  if (scopes.size >= CACHE_LIMIT) scopes.clear();
  scopes.set(credential, Object.freeze({ ...scope, cached: true }));
}

function rememberSigned(signedHeaders: string, list: readonly string[]): void {
  if (signedLists.size >= CACHE_LIMIT) signedLists.clear();
  signedLists.set(signedHeaders, list);
}

/** How many entries the parse caches hold (for tests). @internal */
export function sigv4CacheSizes(): { scopes: number; signedLists: number } {
  return { scopes: scopes.size, signedLists: signedLists.size };
}

function parseScope(credential: string): Scope {
  const cached = scopes.get(credential);
  if (cached !== undefined) return cached;
  const parts = credential.split("/");
  if (parts.length !== 5 || parts[0] === "") {
    throw new AuthError(
      "IncompleteSignatureException",
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${truncate(credential)}'`,
    );
  }
  const [accessKeyId, date, region, service, terminator] = parts as [string, string, string, string, string];
  const scope: Scope = Object.freeze({
    accessKeyId,
    date,
    region,
    service,
    terminator,
    scope: `${date}/${region}/${service}/${terminator}`,
    cached: false,
  });
  return scope;
}

/** The SigV4 signing key: HMAC chain over date, region, service and "aws4_request". */
export function deriveSigningKey(secret: string, date: string, region: string, service: string): Buffer {
  const kDate = createHmac("sha256", `AWS4${secret}`).update(date).digest();
  const kRegion = createHmac("sha256", kDate).update(region).digest();
  const kService = createHmac("sha256", kRegion).update(service).digest();
  return createHmac("sha256", kService).update("aws4_request").digest();
}

function sha256Hex(data: string | Uint8Array): string {
  return oneShot !== undefined
    ? oneShot("sha256", data, "hex")
    : createHash("sha256").update(data).digest("hex");
}

interface ParsedAuthorization {
  readonly credential: string;
  readonly signedHeaders: string;
  /** The signed header names, checked: lower case, sorted, unique. */
  readonly signed: readonly string[];
  /** Whether `signed` came from the cache. */
  readonly signedCached: boolean;
  readonly signature: string;
}

function parseAuthorization(header: string): ParsedAuthorization {
  if (!header.startsWith(`${ALGORITHM} `)) {
    if (header.startsWith("AWS4-") || header.startsWith("AWS ")) {
      throw new AuthError(
        "IncompleteSignatureException",
        "Unsupported AWS 'algorithm': only AWS4-HMAC-SHA256 is accepted.",
      );
    }
    throw new AuthError(
      "IncompleteSignatureException",
      `Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=${truncate(header)}`,
    );
  }
  let credential: string | undefined;
  let signedHeaders: string | undefined;
  let signature: string | undefined;
  // Comma-separated `name=value` parts, each trimmed (as String#trim does), scanned without splitting.
  let pos = ALGORITHM.length + 1;
  while (pos <= header.length) {
    let end = header.indexOf(",", pos);
    if (end < 0) end = header.length;
    let start = pos;
    let stop = end;
    while (start < stop && isTrimmed(header.charCodeAt(start))) start++;
    while (stop > start && isTrimmed(header.charCodeAt(stop - 1))) stop--;
    pos = end + 1;
    // A parameter given twice (or a second Authorization header, which the HTTP layer joins with a comma) is
    // refused: which one counts would otherwise differ between this parser and whoever reads the header next.
    if (header.startsWith("Credential=", start)) {
      if (credential !== undefined) repeated("Credential");
      credential = header.slice(start + 11, stop);
    } else if (header.startsWith("SignedHeaders=", start)) {
      if (signedHeaders !== undefined) repeated("SignedHeaders");
      signedHeaders = header.slice(start + 14, stop);
    } else if (header.startsWith("Signature=", start)) {
      if (signature !== undefined) repeated("Signature");
      signature = header.slice(start + 10, stop);
    }
  }
  const missing: string[] = [];
  if (!credential) missing.push("Authorization header requires 'Credential' parameter.");
  if (!signature) missing.push("Authorization header requires 'Signature' parameter.");
  if (!signedHeaders) missing.push("Authorization header requires 'SignedHeaders' parameter.");
  if (missing.length > 0) {
    throw new AuthError(
      "IncompleteSignatureException",
      `${missing.join(" ")} Authorization=${truncate(header)}`,
    );
  }
  const cached = signedLists.get(signedHeaders as string);
  return {
    credential: credential as string,
    signedHeaders: signedHeaders as string,
    signed: cached ?? signedList(signedHeaders as string),
    signedCached: cached !== undefined,
    signature: signature as string,
  };
}

function repeated(parameter: string): never {
  throw new AuthError(
    "IncompleteSignatureException",
    `Authorization header has more than one '${parameter}' parameter.`,
  );
}

/** The characters String#trim removes (ECMAScript WhiteSpace and LineTerminator). */
function isTrimmed(c: number): boolean {
  return (
    c === 0x20 ||
    (c >= 0x09 && c <= 0x0d) ||
    (c > 0x7f &&
      (c === 0xa0 ||
        c === 0x1680 ||
        (c >= 0x2000 && c <= 0x200a) ||
        c === 0x2028 ||
        c === 0x2029 ||
        c === 0x202f ||
        c === 0x205f ||
        c === 0x3000 ||
        c === 0xfeff))
  );
}

function signedList(signedHeaders: string): readonly string[] {
  const names = signedHeaders.split(";");
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    // Signed header names are lower case, sorted and unique (SigV4 spec, task 1).
    if (name === "" || name !== name.toLowerCase() || (i > 0 && (names[i - 1] as string) >= name)) {
      throw new AuthError("InvalidSignatureException", SIGNATURE_MISMATCH_MESSAGE);
    }
  }
  return Object.freeze(names);
}

/**
 * The X-Amz-Security-Token check (temporary credentials): AWS answers a token that is missing, wrong, or given for a
 * long-term key with UnrecognizedClientException; the token must also be signed. Compared in constant time.
 */
function checkSessionToken(
  given: string | undefined,
  expected: string | undefined,
  signed: readonly string[],
): void {
  if (given === undefined || expected === undefined || !equalConstantTime(given, expected)) {
    throw new AuthError(
      "UnrecognizedClientException",
      "The security token included in the request is invalid.",
    );
  }
  if (!signed.includes("x-amz-security-token")) {
    throw new AuthError(
      "IncompleteSignatureException",
      "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.",
    );
  }
}

/** String equality whose time depends on the lengths only (no allocation: a token is compared per request). */
function equalConstantTime(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function truncate(s: string): string {
  // Never echo a whole header back: it may be long, and AWS shows only its start.
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}

/** Lower-cased header names to canonical values (trimmed, inner runs of spaces folded, repeats joined by ","). */
export function collectHeaders(raw: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    let value = (raw[i + 1] as string).trim();
    if (value.includes("  ")) value = value.replace(/ {2,}/g, " ");
    const prior = map.get(name);
    map.set(name, prior === undefined ? value : `${prior},${value}`);
  }
  return map;
}

/** `sent` is the header's text, for the refusal (when `value` was converted from another form). */
function parseAmzDate(value: string, sent = value): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (m === null) {
    throw new AuthError(
      "IncompleteSignatureException",
      `Date must be in ISO-8601 'basic format'. Got '${truncate(sent)}'.`,
    );
  }
  const month = +m[2]!;
  const day = +m[3]!;
  const t = Date.UTC(+m[1]!, month - 1, day, +m[4]!, +m[5]!, +m[6]!);
  // Date.UTC rolls over (month 13, day 32, hour 25): a date that does not name itself is not a date.
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    +m[4]! > 23 ||
    +m[5]! > 59 ||
    +m[6]! > 59 ||
    new Date(t).getUTCDate() !== day
  ) {
    throw new AuthError(
      "IncompleteSignatureException",
      `Date must be in ISO-8601 'basic format'. Got '${truncate(sent)}'.`,
    );
  }
  return t;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
// An HTTP date (RFC 9110 IMF-fixdate) or RFC 2822 date in UTC, as botocore's email.utils.formatdate writes it
// ("-0000"): "Sun, 29 Nov 2026 08:00:00 GMT".
const HTTP_DATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (?:GMT|UTC|[+-]0000)$/;

/** The time of a Date header: ISO 8601 basic (as X-Amz-Date), or an HTTP date in UTC. */
function parseDateHeader(value: string): number {
  const m = HTTP_DATE.exec(value);
  const month = m === null ? -1 : MONTHS.indexOf(m[2]!);
  if (m === null || month < 0) return parseAmzDate(value);
  return parseAmzDate(`${m[3]}${String(month + 1).padStart(2, "0")}${m[1]}T${m[4]}${m[5]}${m[6]}Z`, value);
}

/** `YYYYMMDDTHHMMSSZ` for a time in ms. */
export function formatAmzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

// RFC 3986 unreserved characters stay; everything else is %XX upper case (SigV4 canonical URI and query).
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalUrl(url: string): { path: string; query: string } {
  const q = url.indexOf("?");
  const rawPath = q < 0 ? url : url.slice(0, q);
  // AWS services other than S3: dot segments and empty segments removed, then the path *as sent* URI-encoded once
  // more (which is "each segment encoded twice" for a path sent in canonical form), as botocore and
  // @smithy/signature-v4 do. Decoding the path first would make "+" a space and "%2f" differ from "%2F".
  const segments: string[] = [];
  for (const segment of rawPath.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  let path = `/${segments.map(uriEncode).join("/")}`;
  if (rawPath.endsWith("/") && segments.length > 0) path += "/";
  if (q < 0 || q === url.length - 1) return { path, query: "" };
  const pairs = url
    .slice(q + 1)
    .split("&")
    .filter((p) => p !== "")
    .map((p) => {
      const eq = p.indexOf("=");
      const k = eq < 0 ? p : p.slice(0, eq);
      const v = eq < 0 ? "" : p.slice(eq + 1);
      return [uriEncode(safeDecode(k)), uriEncode(safeDecode(v))] as const;
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return { path, query: pairs.map(([k, v]) => `${k}=${v}`).join("&") };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}
