// startKmsServer: open the local KMS in a data dir, apply a seed, and listen: what `sealkit-kms serve` and the CLI run.

import { constants } from "node:os";
import { LocalKms, type LocalKmsOptions } from "../local-kms.js";
import type { KmsServerCors } from "./cors.js";
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
  /** Browser origins allowed to call the server (see `createKmsServer`'s `cors`). */
  readonly cors?: KmsServerCors;
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
    let seeded: SeedResult = { created: [], updated: [], unchanged: [], pendingDeletion: [] };
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
      ...(options.cors !== undefined ? { cors: options.cors } : {}),
      ...(options.limits !== undefined ? { limits: options.limits } : {}),
    });
    await server.listen(options.port ?? 4600, options.host ?? "127.0.0.1");
    return { server, kms, url: server.url, seeded, close: () => server.close() };
  } catch (error) {
    await kms.close().catch(() => {});
    throw error;
  }
}

/** The signals {@link serveUntilSignal} stops on. */
export type StopSignal = "SIGTERM" | "SIGINT" | "SIGHUP";

/** Options of {@link serveUntilSignal}. */
export interface ServeUntilSignalOptions {
  /** Runs after the server and its local KMS are closed (e.g. closing an HSM session that holds the root key). */
  readonly afterClose?: () => unknown;
  /** Where the status lines go (default: process.stdout). The line of a second signal goes to process.stderr. */
  readonly write?: (line: string) => void;
}

/**
 * Runs a started server the way `sealkit-kms serve` and `sealkit kms serve` do: installs handlers for SIGTERM,
 * SIGINT and SIGHUP (a closed terminal), then writes "ready". The first signal finishes the requests in flight and
 * closes the server and its local KMS, then `afterClose`, then writes "stopped" and resolves; a second signal
 * ends the process at once by that signal (status 128 + its number in a shell), which the audit log survives (every answer
 * already sent has its event on disk; the requests cut short were never answered). The handlers are removed when
 * the stop is done.
 * @throws the error of `started.close()` or `afterClose`, after which the process is still running.
 */
export function serveUntilSignal(
  started: StartedKmsServer,
  options: ServeUntilSignalOptions = {},
): Promise<void> {
  const write =
    options.write ??
    ((line: string) => {
      process.stdout.write(line);
    });
  return new Promise<void>((resolve, reject) => {
    let stopping = false;
    const handlers = new Map<StopSignal, () => void>();
    const stop = (signal: StopSignal) => {
      if (stopping) {
        process.stderr.write(
          `${signal} again: exiting now, ${started.server.metrics.inFlight} request(s) in flight left unanswered\n`,
        );
        // Dies by the signal itself, as a shell expects of a process it interrupted (a loop stops on a child killed
        // by SIGINT, not on one that exited 130); exit(128 + n) only if the signal did not end it.
        for (const [name, handler] of handlers) process.off(name, handler);
        setTimeout(() => process.exit(128 + constants.signals[signal]), 1000);
        process.kill(process.pid, signal);
        return;
      }
      stopping = true;
      write(`${signal}: finishing requests in flight, then stopping (send it again to exit at once)\n`);
      started
        .close()
        .then(() => options.afterClose?.())
        .then(() => {
          write("stopped\n");
          resolve();
        }, reject)
        .finally(() => {
          for (const [name, handler] of handlers) process.off(name, handler);
        });
    };
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
      const handler = () => stop(signal);
      handlers.set(signal, handler);
      process.on(signal, handler);
    }
    // Only now: a supervisor that signals as soon as it reads "ready" must find the handlers installed.
    write("ready\n");
  });
}
