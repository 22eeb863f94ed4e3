// Test helpers for the KMS server: SigV4 signing with @smithy/signature-v4 (the SDK's own signer) and raw HTTP requests.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sha256 } from "@aws-crypto/sha256-js";
import { KMSClient, type KMSServiceException } from "@aws-sdk/client-kms";
import { SignatureV4 } from "@smithy/signature-v4";
import { LocalKms } from "../local-kms.js";
import { loadCredentialsFile } from "./credentials.js";
import { createKmsServer, type KmsServer } from "./server.js";

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

/** A LocalKms in a temp dir behind the KMS server, and an @aws-sdk/client-kms client per credential. */
export interface SdkServer {
  readonly dir: string;
  readonly kms: LocalKms;
  readonly server: KmsServer;
  /** Clients of ALICE, BOB and MALLORY, without retries. */
  readonly alice: KMSClient;
  readonly bob: KMSClient;
  readonly mallory: KMSClient;
  close(): Promise<void>;
}

/**
 * Starts the server on 127.0.0.1 (us-east-1, account 111122223333) with the credentials of ALICE, BOB and MALLORY
 * read from a file, as an operator writes it.
 */
export async function startSdkServer(prefix: string): Promise<SdkServer> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const credentialsFile = join(dir, "creds.json");
  writeFileSync(credentialsFile, JSON.stringify({ credentials: [ALICE, BOB, MALLORY] }));
  const credentials = loadCredentialsFile(credentialsFile);
  const kms = await LocalKms.open({
    dataDir: join(dir, "kms"),
    region: "us-east-1",
    account: "111122223333",
  });
  const server = createKmsServer({ kms, credentials, region: "us-east-1" });
  await server.listen(0, "127.0.0.1");
  const client = (person: typeof ALICE) =>
    new KMSClient({
      endpoint: server.url,
      region: "us-east-1",
      credentials: { accessKeyId: person.accessKeyId, secretAccessKey: person.secretAccessKey },
      maxAttempts: 1,
    });
  const clients = [ALICE, BOB, MALLORY].map(client) as [KMSClient, KMSClient, KMSClient];
  return {
    dir,
    kms,
    server,
    alice: clients[0],
    bob: clients[1],
    mallory: clients[2],
    async close() {
      for (const c of clients) c.destroy();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The SDK error a call must fail with: its name, HTTP status and message. */
export async function sdkFailure(
  call: Promise<unknown>,
): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await call;
  } catch (e) {
    const err = e as KMSServiceException;
    return { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message };
  }
  throw new Error("expected the call to fail");
}
