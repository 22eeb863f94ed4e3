// The README's Node example runs as written, with the usual AWS environment variables pointing the SDK at the
// Sealkit KMS server. (The Worker example runs in test/workerd.test.ts.)

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CreateAliasCommand } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { ALICE, type LocalServer, REGION, readmeExample, startLocalServer } from "./support.js";

const root = resolve(import.meta.dirname, "..");

let server: LocalServer;
const saved = { ...process.env };
beforeAll(async () => {
  server = await startLocalServer();
  const key = await server.createKey();
  await server.client().send(new CreateAliasCommand({ AliasName: "alias/invoices", TargetKeyId: key }));
});
afterAll(async () => {
  process.env = saved;
  await server?.close();
});

it("runs the README's Node example against the local server, configured by environment variables only", async () => {
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL_KMS: server.url,
    AWS_ACCESS_KEY_ID: ALICE.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ALICE.secretAccessKey,
    KMS_KEY_ID: "alias/invoices",
  });
  delete process.env.AWS_PROFILE;
  const dir = join(root, "node_modules", ".cache", "sealkit-kms-aws");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `readme-node-${process.pid}.ts`);
  writeFileSync(file, readmeExample(0));
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  try {
    const before = await server.count("GenerateDataKey");
    await import(file);
    expect(log.mock.calls.map((c) => String(c[0]))).toEqual(["invoice 2026-118"]);
    expect(await server.count("GenerateDataKey")).toBe(before + 1);
  } finally {
    log.mockRestore();
    rmSync(file, { force: true });
  }
});
