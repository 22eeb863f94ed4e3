// startDemo when a part cannot start (a port in use): it rejects with the listen error and closes what it had
// opened, so the same data dir opens again in the same process and no server is left listening.

import { mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let taken: Server;
let port: number;
const dataDir = mkdtempSync(join(tmpdir(), "sealkit-demo-fail-"));

beforeAll(async () => {
  taken = createServer();
  await new Promise<void>((done) => taken.listen(0, "127.0.0.1", done));
  port = (taken.address() as AddressInfo).port;
});
afterAll(() => {
  taken.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("startDemo with a port in use", () => {
  for (const part of ["web", "edge"] as const) {
    it(`${part}: rejects with EADDRINUSE, and the data dir opens again afterwards`, async () => {
      const { startDemo } = (await import(
        `../dist/${"start-demo.js"}`
      )) as typeof import("../src/start-demo.js");
      const kmsPort = await freePort();
      const failed = await startDemo({
        dataDir,
        ports: { web: 0, kms: kmsPort, edge: 0, [part]: port },
      }).catch((error: unknown) => error);
      expect(failed).toMatchObject({ code: "EADDRINUSE", port });
      // The KMS endpoint of the failed start is closed: its port is free again.
      await expect(listenOnce(kmsPort)).resolves.toBeUndefined();
      const demo = await startDemo({ dataDir, ports: { web: 0, kms: 0, edge: 0 } });
      try {
        expect((await fetch(`${demo.url}/api/me`)).status).toBe(401);
      } finally {
        await demo.close();
      }
    });
  }
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

function listenOnce(p: number): Promise<void> {
  const server = createServer();
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(p, "127.0.0.1", () => server.close(() => resolve()));
  });
}
