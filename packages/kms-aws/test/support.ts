// Test fixture: the Sealkit KMS server (packages/kms-local) on a free port, real @aws-sdk/client-kms clients signed
// as its principals, and request counts read from the server's own GET /metrics.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CreateKeyCommand, KMSClient, type KMSClientConfig } from "@aws-sdk/client-kms";
import { type StartedKmsServer, startKmsServer, type ThrottleOptions } from "@sealkit/kms-local";

export const REGION = "us-east-1";
export const ACCOUNT = "111122223333";
export const ALICE = {
  accessKeyId: "AKIAKMSAWSALICE00001",
  secretAccessKey: "kms-aws-alice-secret-00000000000000000000",
  principal: `arn:aws:iam::${ACCOUNT}:user/alice`,
};
/** A principal of another account: only a key policy statement or a grant lets it use the keys. */
export const MALLORY = {
  accessKeyId: "AKIAKMSAWSMALLORY002",
  secretAccessKey: "kms-aws-mallory-secret-000000000000000000",
  principal: "arn:aws:iam::444455556666:user/mallory",
};

export interface LocalServer {
  readonly started: StartedKmsServer;
  readonly url: string;
  /** A real SDK client for `who` (ALICE by default); destroyed by close(). */
  client(who?: typeof ALICE, config?: Partial<KMSClientConfig>): KMSClient;
  /** Creates a key as ALICE; returns its key ARN. */
  createKey(): Promise<string>;
  /** Successful (error "") or failed requests of `operation` so far, from GET /metrics. */
  count(operation: string, error?: string): Promise<number>;
  close(): Promise<void>;
}

/** Starts a local KMS server in a fresh data dir, on a free port. */
export async function startLocalServer(
  options: { throttle?: ThrottleOptions; region?: string; corsOrigins?: string[] } = {},
): Promise<LocalServer> {
  const region = options.region ?? REGION;
  const dir = mkdtempSync(join(tmpdir(), "sealkit-kms-aws-"));
  const started = await startKmsServer({
    dataDir: join(dir, "data"),
    credentials: [ALICE, MALLORY],
    port: 0,
    region,
    account: ACCOUNT,
    ...(options.throttle ? { throttle: options.throttle } : {}),
    ...(options.corsOrigins ? { cors: { allowedOrigins: options.corsOrigins } } : {}),
  });
  const clients: KMSClient[] = [];
  const client = (who = ALICE, config: Partial<KMSClientConfig> = {}) => {
    const c = new KMSClient({
      endpoint: started.url,
      region,
      credentials: { accessKeyId: who.accessKeyId, secretAccessKey: who.secretAccessKey },
      ...config,
    });
    clients.push(c);
    return c;
  };
  const admin = client();
  return {
    started,
    url: started.url,
    client,
    async createKey() {
      const out = await admin.send(new CreateKeyCommand({}));
      return out.KeyMetadata!.Arn!;
    },
    async count(operation, error = "") {
      const text = await (await fetch(`${started.url}/metrics`)).text();
      const line = text
        .split("\n")
        .find((l) => l.startsWith(`sealkit_kms_requests_total{operation="${operation}",error="${error}"} `));
      return line ? Number(line.split(" ").pop()) : 0;
    },
    async close() {
      for (const c of clients) c.destroy();
      await started.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(
  promise: Promise<unknown>,
): Promise<Error & { code?: string; cause?: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error("expected a rejection");
}

/** The package README's `n`th ```ts block (0: the Node service, 1: the Worker). */
export function readmeExample(n: number): string {
  const readme = readFileSync(resolve(import.meta.dirname, "../README.md"), "utf8");
  const code = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)][n]?.[1];
  if (!code) throw new Error(`README.md has no ts block ${n}`);
  return code;
}
