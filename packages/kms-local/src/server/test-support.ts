// Test helpers for the KMS server: SigV4 signing with @smithy/signature-v4 (the SDK's own signer) and raw HTTP requests.

import { request as httpRequest } from "node:http";
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";

export const ALICE = {
  accessKeyId: "AKIAALICE000000000001",
  secretAccessKey: "alice-secret-key-0000000000000000000000",
  principal: "arn:aws:iam::111122223333:user/alice",
};
export const BOB = {
  accessKeyId: "AKIABOB00000000000002",
  secretAccessKey: "bob-secret-key-00000000000000000000000",
  principal: "arn:aws:iam::111122223333:user/bob",
};
export const MALLORY = {
  accessKeyId: "AKIAMALLORY000000003",
  secretAccessKey: "mallory-secret-000000000000000000000000",
  principal: "arn:aws:iam::444455556666:user/mallory",
};

export interface SignOptions {
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly region?: string;
  readonly service?: string;
  readonly date?: Date;
  /** Headers not to sign (host cannot be left out this way: use `omitHost`). */
  readonly unsignableHeaders?: Set<string>;
}

export interface RawRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Builds a signed KMS request for `url` (the server's base URL). */
export async function signRequest(
  url: string,
  target: string,
  body: string,
  options: SignOptions = {},
): Promise<RawRequest> {
  const u = new URL(url);
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: options.accessKeyId ?? ALICE.accessKeyId,
      secretAccessKey: options.secretAccessKey ?? ALICE.secretAccessKey,
    },
    region: options.region ?? "us-east-1",
    service: options.service ?? "kms",
    sha256: Sha256,
  });
  const headers: Record<string, string> = {
    host: u.host,
    "content-type": "application/x-amz-json-1.1",
    "x-amz-target": `TrentService.${target}`,
  };
  const signed = await signer.sign(
    {
      method: "POST",
      protocol: "http:",
      hostname: u.hostname,
      port: Number(u.port),
      path: "/",
      headers,
      body,
    },
    {
      signingDate: options.date ?? new Date(),
      ...(options.unsignableHeaders ? { unsignableHeaders: options.unsignableHeaders } : {}),
    },
  );
  return { method: "POST", path: "/", headers: { ...(signed.headers as Record<string, string>) }, body };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json(): Record<string, unknown>;
}

/** Sends a raw request with node:http (no client-side rewriting of headers). */
export function send(url: string, req: RawRequest): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      {
        host: u.hostname,
        port: Number(u.port),
        method: req.method,
        path: req.path,
        headers: req.headers,
        agent: false,
        setHost: !("host" in req.headers),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
        res.on("error", reject);
      },
    );
    r.on("error", reject);
    r.end(req.body);
  });
}

/** Signs and sends in one step. */
export async function call(
  url: string,
  target: string,
  payload: unknown,
  options: SignOptions = {},
): Promise<RawResponse> {
  return send(url, await signRequest(url, target, JSON.stringify(payload), options));
}
