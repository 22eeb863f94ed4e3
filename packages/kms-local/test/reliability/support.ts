// Shared support for the reliability suite: the sealkit-kms bin in a child process, SDK clients, RSS sampling,
// temp dirs.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { KMSClient } from "@aws-sdk/client-kms";
import { afterAll } from "vitest";
import { bundleForNode } from "../../src/bundle-for-node.js";
import { ALICE } from "../../src/server/test-support.js";

const here = dirname(fileURLToPath(import.meta.url));
export const packageRoot = resolve(here, "../..");

/** SEALKIT_SOAK=1 runs the long versions (more kills, longer load). */
export const SOAK = process.env.SEALKIT_SOAK === "1";

let bundled: string | undefined;

/**
 * The `sealkit-kms` bin as plain node runs it: src/bin.ts bundled with esbuild (the one tsup uses, so it is what
 * `npx tsup` writes to dist/bin.js), from the sources under test rather than a dist/ that may be stale.
 * @throws Error when esbuild cannot be found or the bundle fails.
 */
export function sealkitKmsBin(): string {
  if (bundled !== undefined) return bundled;
  const outfile = bundleForNode("src/bin.ts", { requireShim: true });
  bundled = outfile;
  return outfile;
}

// Registered in the root suite of each test file that imports this module (vitest isolates modules per file):
// runs after the file's own hooks have stopped its children, so no bundle is left behind per run.
afterAll(() => {
  if (bundled !== undefined) rmSync(bundled, { force: true });
  bundled = undefined;
});

/** Writes a credentials file with ALICE (and any others) into `dir`; returns its path. */
export function writeCredentials(dir: string, extra: readonly (typeof ALICE)[] = []): string {
  const file = join(dir, "credentials.json");
  writeFileSync(file, JSON.stringify({ credentials: [ALICE, ...extra] }), { mode: 0o600 });
  return file;
}

/** A running `sealkit-kms serve` child. */
export interface ServerChild {
  readonly child: ChildProcess;
  readonly url: string;
  readonly pid: number;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

/** Starts `sealkit-kms serve --port 0` on `dataDir` and waits for its ready line. */
export function startServerChild(
  dataDir: string,
  credentials: string,
  extraArgs: readonly string[] = [],
  timeoutMs = 30_000,
  nodeArgs: readonly string[] = [],
): Promise<ServerChild> {
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      sealkitKmsBin(),
      "serve",
      "--port",
      "0",
      "--data-dir",
      dataDir,
      "--credentials",
      credentials,
      ...extraArgs,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no ready line in ${timeoutMs} ms: ${out}`));
    }, timeoutMs);
    const check = () => {
      if (!/^ready$/m.test(out)) return;
      clearTimeout(timer);
      child.stdout?.off("data", check);
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1] ?? "";
      resolvePromise({
        child,
        url,
        pid: child.pid as number,
        output: () => out,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          return exited;
        },
        kill: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
          await exited;
        },
      });
    };
    child.stdout?.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`sealkit-kms exited with ${code} before ready: ${out}`));
    });
  });
}

/** An SDK client for the server at `url`, signing as `creds` (default ALICE), no retries, keep-alive. */
export function sdkClient(
  url: string,
  creds: { accessKeyId: string; secretAccessKey: string } = ALICE,
  options: { maxSockets?: number; maxAttempts?: number } = {},
): KMSClient {
  return new KMSClient({
    endpoint: url,
    region: "us-east-1",
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey },
    maxAttempts: options.maxAttempts ?? 1,
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 16 }) },
  });
}

/**
 * Resident memory of a process in bytes (Linux /proc/<pid>/status): `VmRSS` (all of it) by default, or `RssAnon`
 * (anonymous memory only: the heap, thread arenas and buffers, without the mapped files of node and its addons).
 */
export function rssOf(pid: number, field: "VmRSS" | "RssAnon" = "VmRSS"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(status)?.[1];
  if (kb === undefined) throw new Error(`no ${field} for ${pid}`);
  return Number(kb) * 1024;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)] as number);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Returns a maker of temp dirs, `<prefix><name>-XXXXXX` (or `<prefix>XXXXXX`), all removed after the file's tests.
 * Call it at the top level of a test file.
 */
export function tempDirs(prefix: string): (name?: string) => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return (name) => {
    const dir = mkdtempSync(join(tmpdir(), name ? `${prefix}${name}-` : prefix));
    dirs.push(dir);
    return dir;
  };
}
