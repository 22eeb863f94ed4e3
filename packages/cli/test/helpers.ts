// Test helpers: run the BUILT sealkit binary (dist/bin.js) as a child process, in a temp dir.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";

export const CLI_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const BIN = join(CLI_DIR, "dist", "bin.js");
export const REPO_ROOT = resolve(CLI_DIR, "../..");

if (!existsSync(BIN)) {
  throw new Error(
    `${BIN} is missing: build the CLI first (npx tsup in packages/cli, or pnpm build at the root)`,
  );
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
  /** stdout as UTF-8. */
  readonly out: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: Record<string, string | undefined>;
  readonly input?: Uint8Array | string;
}

/** A clean environment: no config file, no SEALKIT_* or AWS_* settings from the machine running the tests. */
export function baseEnv(home: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith("SEALKIT_") || k.startsWith("AWS_") || k.startsWith("npm_")) continue;
    if (k === "FORCE_COLOR" || k === "INIT_CWD") continue;
    env[k] = v;
  }
  env.HOME = home;
  env.NO_COLOR = "1";
  return env;
}

/**
 * Runs `node dist/bin.js ...args` and collects its output. A start that fails because another package's dist/ is
 * being rebuilt at that moment (ERR_MODULE_NOT_FOUND at import, before the command ran) is retried: that happens
 * only in a shared dev checkout, never after `pnpm build`.
 */
export async function run(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  for (let attempt = 0; ; attempt++) {
    const r = await runOnce(args, options);
    if (attempt >= 20 || r.code !== 1 || !/ERR_MODULE_NOT_FOUND|could not find declaration/.test(r.stderr))
      return r;
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

function runOnce(args: readonly string[], options: RunOptions): Promise<RunResult> {
  const cwd = options.cwd ?? process.cwd();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...baseEnv(cwd), ...options.env } as NodeJS.ProcessEnv,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", fail);
    child.stdin.on("error", () => {});
    child.stdin.end(options.input ?? "");
    child.on("close", (code) => {
      const stdout = Buffer.concat(out);
      done({ code, stdout, out: stdout.toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}

/** Runs and expects exit code 0, returning the result (with stderr in the failure message otherwise). */
export async function ok(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const r = await run(args, options);
  if (r.code !== 0) throw new Error(`sealkit ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
}

/** A fresh temp dir, removed by the returned function. */
export function tempDir(prefix = "sealkit-cli-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A running `sealkit kms serve` child (see {@link startServe}). */
export interface ServeChild {
  readonly child: ChildProcess;
  /** The endpoint it printed it listens on (`http://127.0.0.1:<port>`), and its port. */
  readonly url: string;
  readonly port: number;
  /** Its exit code or signal, once its output is fully read. */
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Its stdout so far. */
  output(): string;
  /** Its stderr so far. */
  errors(): string;
}

/**
 * Starts `sealkit kms serve --port 0 ...args` (the built binary) and resolves once it printed its ready line, or
 * rejects if it exits before.
 */
export async function startServe(
  args: readonly string[],
  options: { readonly cwd: string; readonly env?: Record<string, string | undefined> },
): Promise<ServeChild> {
  const child = spawn(process.execPath, [BIN, "kms", "serve", "--port", "0", ...args], {
    cwd: options.cwd,
    env: { ...baseEnv(options.cwd), ...options.env } as NodeJS.ProcessEnv,
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (b: Buffer) => {
    err += b.toString();
  });
  // "close", not "exit": exit can come before the last of stdout has been read.
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (/^ready$/m.test(out)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`sealkit kms serve exited ${code} before ready: ${err}`)));
  });
  const url = /listening on (http:\/\/\S+)/.exec(out)?.[1] ?? "";
  return { child, url, port: Number(new URL(url).port), closed, output: () => out, errors: () => err };
}

/** How many signed digests an audit.db holds, read directly (read-only), to show a command wrote none. */
export function auditDigestCount(auditDb: string): number {
  const db = new Database(auditDb, { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM audit_digests").get() as { n: number }).n;
  } finally {
    db.close();
  }
}
