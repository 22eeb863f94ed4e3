// The sealkit-kms bin (built dist/bin.js) in a child process: ready line, seed, SIGTERM shutdown. The AWS CLI, boto3
// and the AWS Encryption SDK against the same server: aws-tools.test.ts.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALICE, call } from "./test-support.js";

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
