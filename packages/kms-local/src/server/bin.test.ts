// The sealkit-kms bin (built dist/bin.js) in a child process: ready line, seed, SIGTERM shutdown. The AWS CLI, boto3
// and the AWS Encryption SDK against the same server: aws-tools.test.ts.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as K from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleForNode } from "../bundle-for-node.js";
import { openTestKms } from "./test-kms.js";
import { ALICE, call, signRequest } from "./test-support.js";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = join(pkg, "dist/bin.js");
const hasBin = existsSync(BIN);

if (!hasBin)
  console.warn(`bin.test.ts skipped: ${BIN} is missing; run \`pnpm build\` (turbo builds before testing).`);

describe.skipIf(!hasBin)("sealkit-kms bin", () => {
  let dir: string;
  let child: ChildProcess;
  let output = "";
  let url = "";

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-bin-"));
    writeFileSync(join(dir, "creds.json"), JSON.stringify({ credentials: [ALICE] }));
    child = spawn(
      process.execPath,
      [
        BIN,
        "serve",
        "--port",
        "0",
        "--data-dir",
        join(dir, "data"),
        "--credentials",
        join(dir, "creds.json"),
        "--seed",
        join(pkg, "examples/seed.yaml"),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line in 20 s: ${output}`)), 20_000);
      const check = () => {
        if (/^ready$/m.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on("data", check);
      child.once("exit", (code) => reject(new Error(`exited with ${code}: ${output}`)));
    });
    url = /listening on (http:\/\/\S+)/.exec(output)?.[1] ?? "";
  }, 30_000);

  afterAll(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints the endpoint, the seed summary and a ready line, and serves signed requests", async () => {
    expect(output).toMatch(/seed: 4 created, 0 updated, 0 unchanged/);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await call(url, "DescribeKey", { KeyId: "alias/app-data" });
    expect(res.status).toBe(200);
    expect((res.json().KeyMetadata as { Description: string }).Description).toBe(
      "Data keys of the app's envelopes",
    );
  });

  it("stops on SIGTERM after finishing, exit code 0", async () => {
    // "close", not "exit": exit can come before the last of stdout has been read.
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(output).toMatch(/SIGTERM: finishing requests in flight/);
    expect(output).toMatch(/^stopped$/m);
  }, 20_000);
});

// The bin built from the sources under test (src/bin.ts bundled by esbuild, as tsup does), not dist/: its argument
// checks and its signal handling.
describe("sealkit-kms bin from the sources: arguments and shutdown", { timeout: 60_000 }, () => {
  let bin: string;
  let dir: string;
  let creds: string;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    bin = bundleForNode("src/bin.ts", { requireShim: true });
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-bin-src-"));
    creds = join(dir, "creds.json");
    writeFileSync(creds, JSON.stringify({ credentials: [ALICE] }), { mode: 0o600 });
  });

  afterAll(() => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(bin, { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `serve` on its own data dir; resolves once it printed ready. */
  async function serve(name: string): Promise<{
    child: ChildProcess;
    url: string;
    dataDir: string;
    output(): string;
    exited: Promise<number | null>;
  }> {
    const dataDir = join(dir, name);
    const child = spawn(
      process.execPath,
      [bin, "serve", "--port", "0", "--data-dir", dataDir, "--credentials", creds],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(child);
    let out = "";
    child.stdout?.on("data", (d) => (out += d));
    child.stderr?.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    await waitFor(
      () => /^ready$/m.test(out),
      30_000,
      () => out,
    );
    const url = /listening on (http:\/\/\S+)/.exec(out)?.[1] ?? "";
    return { child, url, dataDir, output: () => out, exited };
  }

  it("refuses a port past 65535 and a zero limit as usage errors (exit code 2) before opening the data dir or seeding", () => {
    // They were found out only by listen() or createKmsServer, after the data dir was opened and the seed applied
    // (keys created and audited for a server that never ran), and exited 1 with a bare RangeError.
    for (const [i, args] of [
      ["--port", "65536"],
      ["--max-connections", "0"],
      ["--max-body-bytes", "0"],
    ].entries()) {
      const dataDir = join(dir, `bad-number-${i}`);
      const run = spawnSync(
        process.execPath,
        [
          bin,
          "serve",
          "--data-dir",
          dataDir,
          "--credentials",
          creds,
          "--seed",
          join(pkg, "examples/seed.yaml"),
          ...args,
        ],
        { encoding: "utf8", timeout: 15_000 },
      );
      expect(run.status, `${args.join(" ")}: ${run.stdout}${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(new RegExp(`^sealkit-kms: ${args[0]} expected `));
      expect(existsSync(dataDir), args.join(" ")).toBe(false);
    }
  });

  /** A signed GenerateRandom whose head and first half of the body are sent: in flight until `finish()`. */
  async function partialRequest(url: string): Promise<{ finish(): void; response(): Promise<string> }> {
    const req = await signRequest(url, "GenerateRandom", '{"NumberOfBytes":16}');
    let head = "POST / HTTP/1.1\r\n";
    for (const [k, v] of Object.entries(req.headers)) head += `${k}: ${v}\r\n`;
    head += `Content-Length: ${req.body.length}\r\n\r\n`;
    const { port, hostname } = new URL(url);
    const socket = connect(Number(port), hostname);
    socket.on("error", () => {});
    let data = "";
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => (data += d));
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(head + req.body.slice(0, 5));
    await sleep(200);
    return {
      finish: () => socket.write(req.body.slice(5)),
      response: async () => {
        await Promise.race([closed, sleep(10_000)]);
        return data;
      },
    };
  }

  it('refuses a number argument that is not digits, an empty --host and a bad --cors-origin, with exit code 2 ("" was port 0)', () => {
    for (const args of [
      ["--port", ""],
      ["--port", " "],
      ["--port", "0x10"],
      ["--port", "1e3"],
      ["--max-connections", ""],
      ["--max-body-bytes=-1"],
      ["--max-body-bytes", "1.5"],
      ["--host", ""],
      ["--cors-origin", "http://localhost:5173/"],
      ["--cors-origin", "*", "--allow-unsigned-as", "arn:aws:iam::111122223333:root"],
    ]) {
      const run = spawnSync(
        process.execPath,
        [bin, "serve", "--port", "0", "--data-dir", join(dir, "args"), "--credentials", creds, ...args],
        { encoding: "utf8", timeout: 15_000 },
      );
      expect(run.status, `${args.join(" ")}: ${run.stdout}${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(
        /expected a non-negative integer|--host expected an address|is not an origin as browsers send it|any web page/,
      );
      expect(run.stdout).not.toMatch(/listening/);
    }
  });

  it("SIGTERM: a request in flight is finished, answered with Connection: close and audited; no new connection; exit 0", async () => {
    const server = await serve("graceful");
    const pending = await partialRequest(server.url);
    server.child.kill("SIGTERM");
    await waitFor(() => /SIGTERM: finishing requests in flight/.test(server.output()), 10_000, server.output);
    // Still running, for the body still arriving; no longer accepting.
    await sleep(300);
    expect(server.child.exitCode).toBeNull();
    const { port } = new URL(server.url);
    const refused = await new Promise<string>((resolve) => {
      const s = connect(Number(port), "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve("connected");
      });
      s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(refused).toBe("ECONNREFUSED");
    pending.finish();
    const text = await pending.response();
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toMatch(/\r\nConnection: close\r\n/);
    const requestId = /x-amzn-RequestId: (\S+)/.exec(text)?.[1];
    expect(await server.exited).toBe(0);
    expect(server.output()).toMatch(/^stopped$/m);
    // The answered request's event is in the audit log the server closed.
    const kms = await openTestKms(server.dataDir);
    try {
      const events = kms.auditLog.query().filter((e) => e.requestID === requestId);
      expect(events.map((e) => [e.eventName, e.errorCode ?? null])).toEqual([["GenerateRandom", null]]);
    } finally {
      await kms.kms.close();
    }
  });

  it("SIGTERM under load from 16 SDK clients: exit 0, and every answered request has its audit event", async () => {
    const server = await serve("sdk-load");
    const client = new K.KMSClient({
      endpoint: server.url,
      region: "us-east-1",
      credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
      maxAttempts: 1,
      requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 16 }) },
    });
    const answered: string[] = [];
    const failures = new Map<string, number>();
    let stopped = false;
    const loops = Array.from({ length: 16 }, async () => {
      while (!stopped) {
        try {
          const r = await client.send(new K.GenerateRandomCommand({ NumberOfBytes: 32 }));
          answered.push(r.$metadata.requestId as string);
        } catch (e) {
          const code = (e as { code?: string }).code ?? (e as Error).name;
          failures.set(code, (failures.get(code) ?? 0) + 1);
          // Once the listener is gone, nothing more can be answered.
          if (code === "ECONNREFUSED") return;
        }
      }
    });
    try {
      await waitFor(
        () => answered.length >= 50,
        20_000,
        () => `${answered.length} answered`,
      );
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    } finally {
      stopped = true;
      await Promise.all(loops);
      client.destroy();
    }
    // Requests cut off by the stop fail with connection errors or 503, which the SDK would retry elsewhere; none of
    // them was answered 200 without its event.
    for (const code of failures.keys())
      expect(code).toMatch(
        /^(ECONNREFUSED|ECONNRESET|EPIPE|ServiceUnavailableException|Error|TimeoutError)$/,
      );
    const kms = await openTestKms(server.dataDir);
    try {
      const ids = new Set(kms.auditLog.query({ limit: 100_000 }).map((e) => e.requestID));
      expect(answered.filter((id) => !ids.has(id))).toEqual([]);
    } finally {
      await kms.kms.close();
    }
  });

  it("stops gracefully on SIGTERM when its stdout was closed (EPIPE on the next line is ignored)", async () => {
    const server = await serve("closed-stdout");
    server.child.stdout?.destroy();
    await sleep(100);
    server.child.kill("SIGTERM");
    // An uncaught EPIPE ended it with code 1 before the local KMS was closed.
    expect(await server.exited).toBe(0);
    const kms = await openTestKms(server.dataDir);
    await kms.kms.close();
  });

  it("SIGHUP (its terminal closed) stops as gracefully as SIGTERM: exit 0, the data dir closed", async () => {
    const server = await serve("hangup");
    server.child.kill("SIGHUP");
    // Node's default for SIGHUP was to die at once, by the signal.
    expect(await server.exited).toBe(0);
    expect(server.output()).toMatch(/SIGHUP: finishing requests in flight/);
    expect(server.output()).toMatch(/^stopped$/m);
    const kms = await openTestKms(server.dataDir);
    await kms.kms.close();
  });

  it("a second SIGTERM ends it at once, by that signal, instead of waiting for the requests in flight", async () => {
    const server = await serve("second-signal");
    const pending = await partialRequest(server.url);
    server.child.kill("SIGTERM");
    await waitFor(() => /SIGTERM: finishing/.test(server.output()), 10_000, server.output);
    await sleep(200);
    expect(server.child.exitCode).toBeNull();
    const t0 = Date.now();
    server.child.kill("SIGTERM");
    // Without it, the body still arriving holds the stop for 5 s.
    const code = await Promise.race([server.exited, sleep(4_000).then(() => "still running")]);
    // Killed by the signal (a shell shows 143), as the shell expects of an interrupted process.
    expect(code).toBeNull();
    expect(server.child.signalCode).toBe("SIGTERM");
    expect(Date.now() - t0).toBeLessThan(4_000);
    expect(server.output()).toMatch(/SIGTERM again: exiting now, 1 request\(s\) in flight left unanswered/);
    expect(await pending.response()).toBe("");
    // The data dir opens again (the locks went with the process), its audit log intact.
    const kms = await openTestKms(server.dataDir);
    await kms.kms.close();
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => boolean, ms: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${describe()}`);
    await sleep(20);
  }
}
