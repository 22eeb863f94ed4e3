// Starting and stopping a server process that prints "listening on <url>" and then a "ready" line, as the local KMS
// server (and the benchmark's own baseline servers) do; shared by the KMS, kms-aws and key-provider benchmarks.

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The built local KMS server. */
export const KMS_SERVER_BIN = fileURLToPath(
  new URL("../../../../packages/kms-local/dist/bin.js", import.meta.url),
);

/**
 * Runs `node <args>` and resolves once it has printed its URL and "ready"; rejects with its output if it exits first.
 * `stderr: "inherit"` shows the server's own messages as they come; by default they only go into that rejection.
 */
export function startServerProcess(args, { stderr = "pipe" } = {}) {
  const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", stderr] });
  return new Promise((resolve, reject) => {
    let out = "";
    proc.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m && /^ready$/m.test(out)) resolve({ proc, url: m[1] });
    });
    proc.stderr?.on("data", (d) => {
      out += d;
    });
    proc.once("exit", (code) => reject(new Error(`${args[0]} exited with ${code}: ${out.slice(0, 2000)}`)));
  });
}

/** Sends SIGTERM and waits until the process has exited (at once if it already has). */
export async function stopProcess(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill("SIGTERM");
  await exited;
}

/**
 * Starts the local KMS server on a free port with one credential and one key under `alias`, its files in `dir`
 * (credentials.json, seed.json, data/).
 */
export function startKmsServer(dir, { credential, alias, region = "us-east-1" }) {
  writeFileSync(join(dir, "credentials.json"), JSON.stringify({ credentials: [credential] }));
  writeFileSync(join(dir, "seed.json"), JSON.stringify({ keys: [{ alias, description: "benchmark" }] }));
  return startServerProcess([
    KMS_SERVER_BIN,
    "serve",
    "--port",
    "0",
    "--data-dir",
    join(dir, "data"),
    "--credentials",
    join(dir, "credentials.json"),
    "--seed",
    join(dir, "seed.json"),
    "--region",
    region,
  ]);
}
