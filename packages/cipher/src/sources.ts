// Random-access byte sources for decryptRange: a buffer, or a URL read with HTTP Range requests.

import { abytes, aint, SealkitError } from "@sealkit/core";

/** Bytes of an envelope that can be read at any offset: a buffer, a file handle, an HTTP object. */
export interface ByteSource {
  /** The envelope's length in bytes. */
  readonly size: number;
  /** Returns exactly `length` bytes starting at `offset` (within `size`). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/**
 * A ByteSource over bytes in memory.
 * @throws {TypeError} when `bytes` is not a Uint8Array
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

function httpError(url: string, status: number, what: string): SealkitError {
  return new SealkitError(
    "ERR_PROVIDER_UNAVAILABLE",
    `fetchSource: ${what} of ${url} answered HTTP ${status}`,
  );
}

/** Parses the total size out of `Content-Range: bytes a-b/total`. */
function totalFromContentRange(value: string | null): number | undefined {
  const match = value ? /^bytes\s+(?:\d+-\d+|\*)\/(\d+)$/i.exec(value.trim()) : null;
  return match ? Number(match[1]) : undefined;
}

/**
 * A ByteSource over an HTTP(S) object that supports Range requests. The size comes from the Content-Range of a
 * first ranged GET (whose bytes are kept for the first read, usually the header), or from a HEAD's
 * Content-Length when the server does not say. Every later read is one `Range: bytes=a-b` request.
 *
 * @param init extra fetch options (headers such as Authorization are sent with every request)
 * @param probeLength bytes of the first ranged GET (default 4,096)
 * @throws {TypeError} / {RangeError} when `probeLength` is not an integer from 1 to 2^30
 * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE when the server answers with an error status, ignores Range
 * requests on a later read, or gives no size; ERR_TRUNCATED when a response is shorter than asked
 */
export async function fetchSource(
  url: string | URL,
  init: RequestInit = {},
  probeLength = 4096,
): Promise<ByteSource> {
  // A probe of 0 bytes would send "bytes=0--1", which servers answer 416, read as an empty object (ERR_TRUNCATED).
  aint(probeLength, "probeLength", 1, 2 ** 30);
  const href = String(url);
  const headers = (extra: Record<string, string>) => {
    const h = new Headers(init.headers);
    for (const [k, v] of Object.entries(extra)) h.set(k, v);
    return h;
  };
  const probe = await fetch(href, {
    ...init,
    method: "GET",
    headers: headers({ Range: `bytes=0-${probeLength - 1}` }),
  });
  if (probe.status === 416) {
    // An empty object: no byte range is satisfiable.
    await probe.body?.cancel();
    return bytesSource(new Uint8Array(0));
  }
  if (!probe.ok) {
    await probe.body?.cancel();
    throw httpError(href, probe.status, "GET");
  }
  const first = new Uint8Array(await probe.arrayBuffer());
  if (probe.status === 200) {
    // The server ignored the Range header and sent everything: serve from memory.
    return bytesSource(first);
  }
  let size = totalFromContentRange(probe.headers.get("Content-Range"));
  if (size === undefined) {
    const head = await fetch(href, { ...init, method: "HEAD", headers: headers({}) });
    if (!head.ok) throw httpError(href, head.status, "HEAD");
    const length = head.headers.get("Content-Length");
    if (length === null || !/^\d+$/.test(length)) {
      throw new SealkitError("ERR_PROVIDER_UNAVAILABLE", `fetchSource: ${href} gives no size`);
    }
    size = Number(length);
  }
  const total = size;
  return {
    size: total,
    async read(offset, length) {
      if (length === 0) return new Uint8Array(0);
      if (offset + length <= first.length) return first.subarray(offset, offset + length);
      const response = await fetch(href, {
        ...init,
        method: "GET",
        headers: headers({ Range: `bytes=${offset}-${offset + length - 1}` }),
      });
      if (response.status !== 206) {
        await response.body?.cancel();
        throw httpError(href, response.status, "ranged GET");
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (bytes.length !== length) {
        throw new SealkitError(
          "ERR_TRUNCATED",
          `fetchSource: asked ${length} bytes of ${href}, got ${bytes.length}`,
        );
      }
      return bytes;
    },
  };
}
