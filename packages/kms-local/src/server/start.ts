// startKmsServer: open the local KMS in a data dir, apply a seed, and listen: what `sealkit-kms serve` and the CLI run.

import { LocalKms, type LocalKmsOptions } from "../local-kms.js";
import {
  loadCredentialsFile,
  parseCredentials,
  principalAccount,
  type ResolvedCredential,
  type ServerCredential,
} from "./credentials.js";
import { applySeed, loadSeedFile, type Seed, type SeedResult } from "./seed.js";
import { createKmsServer, type KmsServer, type KmsServerLimits } from "./server.js";
import type { ThrottleOptions } from "./throttle.js";

/** Options of {@link startKmsServer}. */
export interface StartKmsServerOptions {
  /** The local KMS's data dir (created if missing). */
  readonly dataDir: string;
  /** A credentials file path, or the credentials themselves. */
  readonly credentials: string | readonly ServerCredential[];
  /** Default 4600; 0 picks a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default us-east-1. */
  readonly region?: string;
  /** The account owning the keys. Default: the first credential's account. */
  readonly account?: string;
  readonly partition?: string;
  /** The local KMS's root key (default: the key file `<dataDir>/root.key`). */
  readonly rootKey?: LocalKmsOptions["rootKey"];
  /** A seed file path (YAML or JSON) or a seed, applied at start as the account root (or the seed's principal). */
  readonly seed?: string | Seed;
  readonly throttle?: boolean | ThrottleOptions;
  readonly allowUnsignedAs?: string;
  readonly limits?: KmsServerLimits;
}

/** A started server with the local KMS it fronts. */
export interface StartedKmsServer {
  readonly server: KmsServer;
  readonly kms: LocalKms;
  readonly url: string;
  /** What the seed did (empty lists without a seed). */
  readonly seeded: SeedResult;
  /** Graceful stop: finish requests in flight, close the local KMS. */
  close(): Promise<void>;
}

/**
 * Opens the local KMS, applies the seed, and starts the server.
 * @throws {TypeError} for malformed credentials, seed, ARN or options; the local KMS's errors when the data dir
 *   cannot be opened; the listen error (EADDRINUSE) when the port is taken. The local KMS is closed on failure.
 */
export async function startKmsServer(options: StartKmsServerOptions): Promise<StartedKmsServer> {
  const credentials: Map<string, ResolvedCredential> =
    typeof options.credentials === "string"
      ? loadCredentialsFile(options.credentials)
      : parseCredentials({ credentials: options.credentials });
  if (options.allowUnsignedAs !== undefined) principalAccount(options.allowUnsignedAs);
  const seed = typeof options.seed === "string" ? loadSeedFile(options.seed) : options.seed;
  const region = options.region ?? "us-east-1";
  const account = options.account ?? credentials.values().next().value?.account ?? "111122223333";
  const partition = options.partition ?? "aws";
  const kms = await LocalKms.open({
    dataDir: options.dataDir,
    region,
    account,
    partition,
    ...(options.rootKey !== undefined ? { rootKey: options.rootKey } : {}),
  });
  try {
    let seeded: SeedResult = { created: [], updated: [], unchanged: [] };
    if (seed !== undefined) {
      const principal = seed.principal ?? `arn:${partition}:iam::${account}:root`;
      seeded = await applySeed(
        kms,
        { principal, account: principalAccount(principal), userAgent: "sealkit-kms/seed" },
        seed,
      );
    }
    const server = createKmsServer({
      kms,
      credentials,
      region,
      ...(options.allowUnsignedAs !== undefined ? { allowUnsignedAs: options.allowUnsignedAs } : {}),
      ...(options.throttle !== undefined ? { throttle: options.throttle } : {}),
      ...(options.limits !== undefined ? { limits: options.limits } : {}),
    });
    await server.listen(options.port ?? 4600, options.host ?? "127.0.0.1");
    return { server, kms, url: server.url, seeded, close: () => server.close() };
  } catch (error) {
    await kms.close().catch(() => {});
    throw error;
  }
}
