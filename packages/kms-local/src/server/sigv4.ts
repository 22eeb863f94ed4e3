// AWS Signature Version 4 verification for the KMS server: parse, check scope and clock skew, recompute, compare in constant time.

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

/**
 * Verifies AWS SigV4 `Authorization` headers (the header form the AWS SDKs and CLI send) against a set of secrets.
 * Derived signing keys are cached per (access key, secret, date, region, service), so a verification costs two
 * SHA-256 and one HMAC.
 */
export class SigV4Verifier {
  readonly #region: string;
  readonly #service: string;
  readonly #secretFor: (accessKeyId: string) => string | undefined;
  readonly #maxSkewMs: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, { secret: string; key: Buffer }>();

  /** @throws {TypeError} when region is empty. */
  constructor(options: SigV4VerifierOptions) {
    if (typeof options.region !== "string" || options.region === "")
      throw new TypeError('"region" expected a non-empty string');
    this.#region = options.region;
    this.#service = options.service ?? "kms";
    this.#secretFor = options.secretFor;
    this.#maxSkewMs = options.maxSkewMs ?? FIVE_MINUTES;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Verifies one request.
   * @throws {AuthError} MissingAuthenticationTokenException (no Authorization), IncompleteSignatureException
   *   (a part missing, host or x-amz-date unsigned), InvalidSignatureException (scope, skew, mismatch),
   *   UnrecognizedClientException (unknown access key).
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
    const request = { method, url, body };
    const authorization = headers.get("authorization");
    if (authorization === undefined) {
      throw new AuthError("MissingAuthenticationTokenException", "Missing Authentication Token");
    }
    const auth = parseAuthorization(authorization);
    const signed = auth.signedHeaders.split(";");
    if (!signed.includes("host")) {
      throw new AuthError(
        "IncompleteSignatureException",
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
      );
    }
    const amzDate = headers.get("x-amz-date");
    if (amzDate === undefined || !signed.includes("x-amz-date")) {
      throw new AuthError(
        "IncompleteSignatureException",
        "Authorization header requires existence of a signed 'X-Amz-Date' header.",
      );
    }
    const scope = auth.credential.split("/");
    if (scope.length !== 5 || scope[0] === "") {
      throw new AuthError(
        "IncompleteSignatureException",
        `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${auth.credential}'`,
      );
    }
    const [accessKeyId, date, region, service, terminator] = scope as [
      string,
      string,
      string,
      string,
      string,
    ];
    if (terminator !== "aws4_request") {
      throw new AuthError(
        "InvalidSignatureException",
        `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'.`,
      );
    }
    const time = parseAmzDate(amzDate);
    if (date !== amzDate.slice(0, 8)) {
      throw new AuthError(
        "InvalidSignatureException",
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
      );
    }
    if (region !== this.#region) {
      throw new AuthError(
        "InvalidSignatureException",
        `Credential should be scoped to a valid region, not '${region}'.`,
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
        `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(now - this.#maxSkewMs)} (${formatAmzDate(now)} - 5 min.)`,
      );
    }
    if (time > now + this.#maxSkewMs) {
      throw new AuthError(
        "InvalidSignatureException",
        `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(now + this.#maxSkewMs)} (${formatAmzDate(now)} + 5 min.)`,
      );
    }
    const secret = this.#secretFor(accessKeyId);
    if (secret === undefined) {
      throw new AuthError(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
      );
    }

    const payloadHash = request.body.length === 0 ? EMPTY_SHA256 : sha256Hex(request.body);
    const claimedHash = headers.get("x-amz-content-sha256");
    if (claimedHash !== undefined && claimedHash !== payloadHash) {
      throw new AuthError(
        "InvalidSignatureException",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
      );
    }
    let canonicalHeaders = "";
    for (const name of signed) {
      const value = headers.get(name);
      if (value === undefined) {
        throw new AuthError("InvalidSignatureException", SIGNATURE_MISMATCH_MESSAGE);
      }
      canonicalHeaders += `${name}:${value}\n`;
    }
    const { path, query } = canonicalUrl(request.url);
    const canonicalRequest = `${request.method}\n${path}\n${query}\n${canonicalHeaders}\n${auth.signedHeaders}\n${payloadHash}`;
    const credentialScope = `${date}/${region}/${service}/aws4_request`;
    const stringToSign = `${ALGORITHM}\n${amzDate}\n${credentialScope}\n${sha256Hex(canonicalRequest)}`;
    const expected = createHmac("sha256", this.#signingKey(accessKeyId, secret, date, region, service))
      .update(stringToSign)
      .digest();
    const given = Buffer.from(auth.signature, "hex");
    if (auth.signature.length !== 64 || given.length !== 32 || !timingSafeEqual(expected, given)) {
      throw new AuthError("InvalidSignatureException", SIGNATURE_MISMATCH_MESSAGE);
    }
    return { accessKeyId, date, signedHeaders: signed };
  }

  #signingKey(accessKeyId: string, secret: string, date: string, region: string, service: string): Buffer {
    const id = `${accessKeyId}/${date}/${region}/${service}`;
    const cached = this.#keys.get(id);
    if (cached !== undefined && cached.secret === secret) return cached.key;
    const key = deriveSigningKey(secret, date, region, service);
    // Bounded: one entry per access key and day; a burst of dates (clients with odd clocks) cannot grow it forever.
    if (this.#keys.size >= 4096) this.#keys.clear();
    this.#keys.set(id, { secret, key });
    return key;
  }
}

/** The SigV4 signing key: HMAC chain over date, region, service and "aws4_request". */
export function deriveSigningKey(secret: string, date: string, region: string, service: string): Buffer {
  const kDate = createHmac("sha256", `AWS4${secret}`).update(date).digest();
  const kRegion = createHmac("sha256", kDate).update(region).digest();
  const kService = createHmac("sha256", kRegion).update(service).digest();
  return createHmac("sha256", kService).update("aws4_request").digest();
}

function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

interface ParsedAuthorization {
  readonly credential: string;
  readonly signedHeaders: string;
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
  for (const part of header.slice(ALGORITHM.length + 1).split(",")) {
    const item = part.trim();
    const eq = item.indexOf("=");
    if (eq < 0) continue;
    const name = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (name === "Credential") credential = value;
    else if (name === "SignedHeaders") signedHeaders = value;
    else if (name === "Signature") signature = value;
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
  const names = (signedHeaders as string).split(";");
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    // Signed header names are lower case, sorted and unique (SigV4 spec, task 1).
    if (name === "" || name !== name.toLowerCase() || (i > 0 && (names[i - 1] as string) >= name)) {
      throw new AuthError("InvalidSignatureException", SIGNATURE_MISMATCH_MESSAGE);
    }
  }
  return {
    credential: credential as string,
    signedHeaders: signedHeaders as string,
    signature: signature as string,
  };
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

function parseAmzDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (m === null) {
    throw new AuthError(
      "IncompleteSignatureException",
      `Date must be in ISO-8601 'basic format'. Got '${truncate(value)}'.`,
    );
  }
  const t = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  if (Number.isNaN(t)) {
    throw new AuthError(
      "IncompleteSignatureException",
      `Date must be in ISO-8601 'basic format'. Got '${truncate(value)}'.`,
    );
  }
  return t;
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
  if (q < 0 && rawPath === "/") return { path: "/", query: "" };
  // AWS services other than S3 normalize the path and encode each segment once more.
  const segments: string[] = [];
  for (const segment of rawPath.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  let path = `/${segments.map((s) => uriEncode(uriEncode(safeDecode(s)))).join("/")}`;
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
