// Random-access byte sources for decryptRange: a buffer, or a URL read with HTTP Range requests.

import { abytes, aint, aobject, malformed, readAtMost, SealkitError } from "@sealkit/core";

/** Bytes of an envelope that can be read at any offset: a buffer, a file handle, an HTTP object. */
export interface ByteSource {
  /** The envelope's length in bytes. */
  readonly size: number;
  /**
   * Returns exactly `length` bytes starting at `offset` (within `size`), fewer only when the envelope is shorter than
   * `size` said (ERR_TRUNCATED). The bytes must stay as returned until `decryptRange` settles: it may have two reads
   * in flight at once and keeps the header's bytes, so a source that reads into one reused buffer makes a valid
   * envelope fail (with an envelope error; nothing unauthenticated is returned).
   */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/**
 * A ByteSource over bytes in memory.
 * @throws {TypeError} when `bytes` is not a Uint8Array, or is a view of a SharedArrayBuffer or a detached buffer
 */
export function bytesSource(bytes: Uint8Array): ByteSource {
  abytes(bytes, "bytes");
  return {
    size: bytes.length,
    async read(offset, length) {
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** Options of `fetchSource`. */
export interface FetchSourceOptions {
  /** Bytes of the first ranged GET, which usually holds the whole header (1 to 2^30; default 4,096). */
  readonly probeLength?: number;
  /**
   * The largest object accepted from a server that ignores Range and answers the first request 200 with the whole
   * object, which is then held in memory (0 to 2^32; default 0: only an object no longer than the probe). A larger
   * whole-object answer is cancelled as soon as it is known to be larger, and fails with ERR_LIMIT_EXCEEDED.
   */
  readonly maxWholeObjectBytes?: number;
}

/** The largest `maxWholeObjectBytes`. */
const MAX_WHOLE_OBJECT = 2 ** 32;

/**
 * The URL as error messages show it: without its query, fragment and credentials, which may be a signature (a
 * presigned S3 URL) or a token.
 */
function shown(href: string): string {
  try {
    const url = new URL(href);
    return `${url.origin}${url.pathname}`;
  } catch {
    return "the URL";
  }
}

function httpError(url: string, status: number, what: string): SealkitError {
  return new SealkitError(
    "ERR_PROVIDER_UNAVAILABLE",
    `fetchSource: ${what} of ${shown(url)} answered HTTP ${status}`,
  );
}

function badServer(url: string, detail: string): SealkitError {
  return new SealkitError("ERR_PROVIDER_UNAVAILABLE", `fetchSource: ${shown(url)} ${detail}`);
}

/** The object behind the URL is not the one the first request saw: nothing read before may be mixed with it. */
function replaced(url: string, detail: string): SealkitError {
  return malformed(`the envelope changed while it was being decrypted: ${shown(url)} ${detail}`);
}

/** `Content-Range: bytes first-last/total` (RFC 9110 §14.4), `total` undefined for `*`; undefined when absent. */
interface ContentRange {
  readonly first: number | undefined;
  readonly last: number | undefined;
  readonly total: number | undefined;
}

/**
 * Parses Content-Range; a header that is present but not of that form (or names a range no object has) is the
 * server's fault.
 */
function contentRange(url: string, response: Response): ContentRange | undefined {
  const value = response.headers.get("Content-Range");
  if (value === null) return undefined;
  const match = /^bytes\s+(?:(\d{1,16})-(\d{1,16})|\*)\/(\d{1,16}|\*)$/i.exec(value.trim());
  const parsed = match && {
    first: match[1] === undefined ? undefined : Number(match[1]),
    last: match[2] === undefined ? undefined : Number(match[2]),
    total: match[3] === "*" ? undefined : Number(match[3]),
  };
  if (
    !parsed ||
    (parsed.total !== undefined && !Number.isSafeInteger(parsed.total)) ||
    (parsed.first !== undefined &&
      (!Number.isSafeInteger(parsed.last) ||
        parsed.first > parsed.last! ||
        (parsed.total !== undefined && parsed.last! >= parsed.total)))
  ) {
    throw badServer(url, `answered an invalid Content-Range: ${value.slice(0, 100)}`);
  }
  return parsed;
}

/** What identifies one version of the object, when the server says: ETag and Last-Modified. */
interface Version {
  readonly etag: string | null;
  readonly lastModified: string | null;
}

function versionOf(response: Response): Version {
  // Weak comparison (RFC 9110 §8.8.3.2): a server may weaken the tag of one answer (a compressed HEAD) and not another.
  const etag = response.headers.get("ETag")?.trim().replace(/^W\//, "") ?? null;
  return { etag, lastModified: response.headers.get("Last-Modified") };
}

/** Throws when `response` names another version of the object than `seen` (each validator only when both say). */
function checkVersion(url: string, seen: Version, response: Response): void {
  const now = versionOf(response);
  if (seen.etag !== null && now.etag !== null && seen.etag !== now.etag) {
    throw replaced(url, `has another ETag than when it was first read`);
  }
  if (seen.lastModified !== null && now.lastModified !== null && seen.lastModified !== now.lastModified) {
    throw replaced(url, `has another Last-Modified than when it was first read`);
  }
}

/**
 * Reads a response body of at most `limit` bytes, cancelling it as soon as more arrives (then `tooLong()` is
 * thrown): a hostile or misconfigured server cannot make it hold more than `limit` bytes.
 */
async function readBodyAtMost(
  response: Response,
  limit: number,
  tooLong: () => SealkitError,
  failed: (error: unknown) => unknown,
): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(0);
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readAtMost(response.body, limit);
  } catch (error) {
    throw failed(error);
  }
  if (bytes === undefined) throw tooLong();
  return bytes;
}

/** The body's length from Content-Length, when the body is sent as it is (not content-encoded). */
function declaredLength(response: Response): number | undefined {
  const encoding = response.headers.get("Content-Encoding");
  if (encoding !== null && encoding.trim().toLowerCase() !== "identity") return undefined;
  const value = response.headers.get("Content-Length");
  return value !== null && /^\d{1,16}$/.test(value.trim()) ? Number(value) : undefined;
}

/**
 * A ByteSource over an HTTP(S) object that supports Range requests. The size comes from the Content-Range of a
 * first ranged GET (whose bytes are kept for the first read, usually the header), or from a HEAD's
 * Content-Length when the server does not say. Every later read is one `Range: bytes=a-b` request.
 *
 * What it checks, so that a hostile or broken server cannot make it hold more than it asked for or mix two objects:
 * every response is read incrementally and cancelled as soon as it runs past what was asked; a 206 must name
 * exactly the range asked for and the size seen first (when it sends Content-Range: browsers hide it cross-origin
 * unless the server exposes it); its ETag and Last-Modified, when sent, must be those first seen; a 416 after the
 * first request means the object shrank. A server that ignores Range and answers 200 with the whole object is
 * accepted only up to `maxWholeObjectBytes` (default: no longer than the probe), held in memory.
 *
 * @param init extra fetch options (headers such as Authorization are sent with every request)
 * @param options `FetchSourceOptions`, or the probe length alone (default 4,096)
 * @throws {TypeError} / {RangeError} when `probeLength` is not an integer from 1 to 2^30, or `maxWholeObjectBytes`
 * not one from 0 to 2^32 (before any request); from `read`, when a read lies outside the object
 * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE when the server answers with an error status, ignores Range
 * requests on a later read, sends more bytes than asked or a Content-Range that does not match the request, or gives
 * no size; ERR_LIMIT_EXCEEDED when it ignores Range and the whole object is larger than `maxWholeObjectBytes`;
 * ERR_ENVELOPE_MALFORMED ("the envelope changed while it was being decrypted") when a later answer names another
 * size, ETag or Last-Modified than the first, or 416; ERR_TRUNCATED when a response is shorter than asked;
 * ERR_PROVIDER_UNAVAILABLE (with the network error as `cause`) when a request or a body fails. The caller's abort
 * (`init.signal`) rejects with the signal's reason, as fetch does: pass `AbortSignal.timeout(ms)` to bound a server
 * that stalls. The URL in messages has no query string (it may hold a signature).
 */
export async function fetchSource(
  url: string | URL,
  init: RequestInit = {},
  options: FetchSourceOptions | number = {},
): Promise<ByteSource> {
  const opts: FetchSourceOptions =
    typeof options === "number" ? { probeLength: options } : aobject(options, "options");
  // A probe of 0 bytes would send "bytes=0--1", which servers answer 416, read as an empty object (ERR_TRUNCATED).
  const probeLength = aint(opts.probeLength ?? 4096, "probeLength", 1, 2 ** 30);
  const maxWhole = aint(opts.maxWholeObjectBytes ?? 0, "maxWholeObjectBytes", 0, MAX_WHOLE_OBJECT);
  const href = String(url);
  // A network failure is the server's (ERR_PROVIDER_UNAVAILABLE, the cause kept); the caller's own abort stays as
  // it is, as a provider call's does.
  const failed = (what: string) => (error: unknown) =>
    init.signal?.aborted
      ? error
      : new SealkitError("ERR_PROVIDER_UNAVAILABLE", `fetchSource: ${what} of ${shown(href)} failed`, {
          cause: error,
        });
  const request = async (method: "GET" | "HEAD", range?: string): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (range === undefined) headers.delete("Range");
    else headers.set("Range", range);
    try {
      return await fetch(href, { ...init, method, headers });
    } catch (error) {
      throw failed(range === undefined ? method : `GET ${range}`)(error);
    }
  };
  const probe = await request("GET", `bytes=0-${probeLength - 1}`);
  if (probe.status === 416) {
    await probe.body?.cancel();
    // An empty object: no byte range is satisfiable ("bytes */0", or no Content-Range at all).
    const range = contentRange(href, probe);
    if (range?.total !== undefined && range.total !== 0) {
      throw badServer(href, `answered 416 to the first bytes of an object of ${range.total} bytes`);
    }
    return bytesSource(new Uint8Array(0));
  }
  if (!probe.ok) {
    await probe.body?.cancel();
    throw httpError(href, probe.status, "GET");
  }
  if (probe.status === 200) {
    // The server ignored the Range header and sends everything: serve from memory, if it is small enough. Refuse
    // at once when Content-Length says it is too large; otherwise stop reading as soon as it is.
    const limit = Math.max(probeLength, maxWhole);
    const tooLarge = (length?: number) =>
      new SealkitError(
        "ERR_LIMIT_EXCEEDED",
        `fetchSource: ${shown(href)} ignored the Range request and answered with the whole object ` +
          `(${length === undefined ? `more than ${limit}` : length} bytes), more than the ${limit} bytes ` +
          "allowed (maxWholeObjectBytes): serve it with Range support, or allow a larger whole-object answer",
      );
    const declared = declaredLength(probe);
    if (declared !== undefined && declared > limit) {
      await probe.body?.cancel();
      throw tooLarge(declared);
    }
    return bytesSource(await readBodyAtMost(probe, limit, () => tooLarge(), failed("GET")));
  }
  if (probe.status !== 206) {
    await probe.body?.cancel();
    throw httpError(href, probe.status, "GET");
  }
  let range: ContentRange | undefined;
  try {
    range = contentRange(href, probe);
    if (range && range.first !== 0) {
      throw badServer(href, `answered bytes ${range.first ?? "*"}- to a request for bytes 0-`);
    }
  } catch (error) {
    await probe.body?.cancel();
    throw error;
  }
  const first = await readBodyAtMost(
    probe,
    probeLength,
    () => badServer(href, `sent more than the ${probeLength} bytes asked for`),
    failed(`GET bytes=0-${probeLength - 1}`),
  );
  const seen = versionOf(probe);
  let size = range?.total;
  if (size === undefined) {
    const head = await request("HEAD");
    await head.body?.cancel();
    if (!head.ok) throw httpError(href, head.status, "HEAD");
    checkVersion(href, seen, head);
    const length = head.headers.get("Content-Length");
    if (length === null || !/^\d{1,16}$/.test(length.trim()) || !Number.isSafeInteger(Number(length))) {
      throw badServer(href, "gives no size");
    }
    size = Number(length);
  }
  // The probe must hold exactly the bytes it names, and as many as were asked for (fewer only at the end).
  const expected = Math.min(probeLength, size);
  if (range?.last !== undefined && range.last !== expected - 1) {
    throw badServer(
      href,
      `answered bytes 0-${range.last} of ${size} to a request for bytes 0-${probeLength - 1}`,
    );
  }
  if (first.length !== expected) {
    if (first.length < expected) {
      throw new SealkitError(
        "ERR_TRUNCATED",
        `fetchSource: asked ${expected} bytes of ${shown(href)}, got ${first.length}`,
      );
    }
    throw replaced(href, `is ${size} bytes long, shorter than the ${first.length} bytes first read`);
  }
  const total = size;
  return {
    size: total,
    async read(offset, length) {
      aint(offset, "offset", 0, total);
      aint(length, "length", 0, total - offset);
      if (length === 0) return new Uint8Array(0);
      if (offset + length <= first.length) return first.subarray(offset, offset + length);
      const last = offset + length - 1;
      const response = await request("GET", `bytes=${offset}-${last}`);
      try {
        if (response.status === 416) {
          throw replaced(href, `answered 416 to bytes ${offset}-${last} of an object of ${total} bytes`);
        }
        if (response.status !== 206) throw httpError(href, response.status, "ranged GET");
        checkVersion(href, seen, response);
        const got = contentRange(href, response);
        if (got?.total !== undefined && got.total !== total) {
          throw replaced(href, `is now ${got.total} bytes long, not ${total}`);
        }
        if (got && (got.first !== offset || got.last !== last)) {
          throw badServer(
            href,
            `answered bytes ${got.first ?? "*"}-${got.last ?? "*"} to a request for bytes ${offset}-${last}`,
          );
        }
      } catch (error) {
        await response.body?.cancel();
        throw error;
      }
      const bytes = await readBodyAtMost(
        response,
        length,
        () => badServer(href, `sent more than the ${length} bytes asked for`),
        failed(`GET bytes=${offset}-${last}`),
      );
      if (bytes.length !== length) {
        throw new SealkitError(
          "ERR_TRUNCATED",
          `fetchSource: asked ${length} bytes of ${shown(href)}, got ${bytes.length}`,
        );
      }
      return bytes;
    },
  };
}
