// The demo's edge worker (runs in workerd): serves stored envelopes as a CDN would, decrypting on the fly for
// signed links, answering HTTP Range requests with decryptRange so that video seeking reads only the frames it
// needs, and encrypting uploads as they stream through. Data keys come from the Sealkit KMS server through
// @sealkit/kms-aws, as they would from AWS KMS, behind a caching provider.

import { KMSClient } from "@aws-sdk/client-kms";
import { decryptRange, decryptStream, encryptStream } from "@sealkit/cipher";
import { bodyLayout, cachingProvider, type KeyProvider, SealkitError, tryParseHeader } from "@sealkit/core";
import { awsKmsProvider } from "@sealkit/kms-aws";

export interface Env {
  /** The origin server's base URL. */
  readonly ORIGIN: string;
  /** Shared with the origin: proves to it that a request comes from this worker. */
  readonly EDGE_SECRET: string;
  /** Shared with the origin: it signs links, the worker checks them. */
  readonly SIGNING_SECRET: string;
  readonly KMS_ENDPOINT: string;
  readonly KMS_REGION: string;
  readonly KMS_ACCESS_KEY_ID: string;
  readonly KMS_SECRET_ACCESS_KEY: string;
  readonly KEY_ARN: string;
}

let provider: KeyProvider | undefined;

// workerd forbids random numbers (and so key material) in global scope: build the provider on first use.
function providerFor(env: Env): KeyProvider {
  provider ??= cachingProvider(
    awsKmsProvider({
      generatorKeyId: env.KEY_ARN,
      client: new KMSClient({
        endpoint: env.KMS_ENDPOINT,
        region: env.KMS_REGION,
        credentials: { accessKeyId: env.KMS_ACCESS_KEY_ID, secretAccessKey: env.KMS_SECRET_ACCESS_KEY },
      }),
    }),
    // One KMS call per data key and minute at most, for at most 1,000 messages or 1 GiB.
    { maxAge: 60_000, maxMessages: 1000, maxBytes: 2 ** 30, capacity: 100 },
  );
  return provider;
}

const encoder = new TextEncoder();

async function verifySignature(env: Env, message: string, expires: string | null, signature: string | null) {
  if (!expires || !signature || !/^\d+$/.test(expires) || !/^[0-9a-f]{64}$/.test(signature)) return false;
  if (Number(expires) * 1000 < Date.now()) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(env.SIGNING_SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const bytes = new Uint8Array(signature.match(/../g)!.map((h) => Number.parseInt(h, 16)));
  // subtle.verify compares in constant time.
  return crypto.subtle.verify("HMAC", key, bytes, encoder.encode(`${message}.${expires}`));
}

/** Reads byte ranges of a stored envelope from the origin. */
async function originRead(env: Env, id: string, offset: number, length: number) {
  const response = await fetch(`${env.ORIGIN}/internal/envelopes/${id}`, {
    headers: { "x-edge-secret": env.EDGE_SECRET, range: `bytes=${offset}-${offset + length - 1}` },
  });
  if (response.status === 404) throw new Response("not found", { status: 404 });
  if (response.status !== 206 && response.status !== 200)
    throw new Error(`origin answered ${response.status}`);
  const total = Number(
    /\/(\d+)$/.exec(response.headers.get("content-range") ?? "")?.[1] ??
      response.headers.get("content-length"),
  );
  return {
    bytes: new Uint8Array(await response.arrayBuffer()),
    total,
    type: response.headers.get("x-content-type"),
  };
}

/**
 * Most plaintext bytes one ranged answer carries. decryptRange returns the range in memory, and a video element's
 * first request is `Range: bytes=0-`, which asked for the whole file; a 206 may carry less than was asked
 * (its Content-Range says what), and players ask again from where it ended.
 */
const MAX_RANGE_BYTES = 4 * 1024 * 1024;

function parseRange(
  header: string | null,
  length: number,
): { start: number; end: number } | "invalid" | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return "invalid";
  let start: number;
  let end: number;
  if (match[1] === "") {
    start = Math.max(0, length - Number(match[2]));
    end = length;
  } else {
    start = Number(match[1]);
    end = match[2] === "" ? length : Math.min(length, Number(match[2]) + 1);
  }
  if (!(start < end && start < length)) return "invalid";
  return { start, end: Math.min(end, start + MAX_RANGE_BYTES) };
}

async function serveFile(request: Request, env: Env, id: string): Promise<Response> {
  const first = await originRead(env, id, 0, 64 * 1024);
  const parsed = tryParseHeader(first.bytes.subarray(0, Math.min(first.bytes.length, first.total)));
  if (!parsed.complete) return new Response("envelope header too large for this demo", { status: 502 });
  const layout = bodyLayout(first.total - parsed.header.length, parsed.header.frameSize);
  const headers = {
    "accept-ranges": "bytes",
    "content-type": first.type ?? "application/octet-stream",
    "cache-control": "private, no-store",
  };
  const range = parseRange(request.headers.get("range"), layout.plaintextLength);
  if (range === "invalid") {
    return new Response(null, {
      status: 416,
      headers: { ...headers, "content-range": `bytes */${layout.plaintextLength}` },
    });
  }
  if (range) {
    let reads = 0;
    const result = await decryptRange(
      {
        size: first.total,
        read: async (offset: number, length: number) => {
          reads++;
          return (await originRead(env, id, offset, length)).bytes;
        },
      },
      { start: range.start, end: range.end, providers: [providerFor(env)] },
    );
    return new Response(result.plaintext as Uint8Array<ArrayBuffer>, {
      status: 206,
      headers: {
        ...headers,
        "content-range": `bytes ${range.start}-${range.end - 1}/${layout.plaintextLength}`,
        "x-sealkit-origin-reads": String(reads),
      },
    });
  }
  const whole = await fetch(`${env.ORIGIN}/internal/envelopes/${id}`, {
    headers: { "x-edge-secret": env.EDGE_SECRET },
  });
  return new Response(whole.body!.pipeThrough(decryptStream({ providers: [providerFor(env)] })), {
    headers: { ...headers, "content-length": String(layout.plaintextLength) },
  });
}

async function encryptUpload(request: Request, env: Env, url: URL): Promise<Response> {
  const tenant = url.searchParams.get("tenant") ?? "";
  const name = url.searchParams.get("name") ?? "upload.bin";
  if (
    !(await verifySignature(
      env,
      `upload:${tenant}`,
      url.searchParams.get("expires"),
      url.searchParams.get("signature"),
    ))
  ) {
    return new Response("invalid or expired link", { status: 403 });
  }
  if (!request.body) return new Response("empty body", { status: 400 });
  const sealed = request.body.pipeThrough(
    encryptStream({ providers: [providerFor(env)], context: { tenant, file: name, via: "edge" } }),
  );
  const stored = await fetch(
    `${env.ORIGIN}/internal/envelopes?${new URLSearchParams({ name, tenant, type: request.headers.get("content-type") ?? "application/octet-stream" })}`,
    {
      method: "PUT",
      body: sealed,
      headers: { "x-edge-secret": env.EDGE_SECRET },
      duplex: "half",
    } as RequestInit,
  );
  return new Response(stored.body, {
    status: stored.status,
    headers: { "content-type": "application/json" },
  });
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/health") return new Response("ok");
      const file = /^\/files\/([0-9a-f-]{36})$/.exec(url.pathname);
      if (file && (request.method === "GET" || request.method === "HEAD")) {
        const id = file[1]!;
        if (
          !(await verifySignature(
            env,
            id,
            url.searchParams.get("expires"),
            url.searchParams.get("signature"),
          ))
        ) {
          return new Response("invalid or expired link", { status: 403 });
        }
        return await serveFile(request, env, id);
      }
      if (url.pathname === "/uploads" && request.method === "PUT")
        return await encryptUpload(request, env, url);
      return new Response("not found", { status: 404 });
    } catch (error) {
      if (error instanceof Response) return error;
      const code = SealkitError.isInstance(error) ? error.code : "ERR_PROVIDER_UNAVAILABLE";
      return new Response(`edge error: ${code}`, { status: SealkitError.isInstance(error) ? 502 : 500 });
    }
  },
};
