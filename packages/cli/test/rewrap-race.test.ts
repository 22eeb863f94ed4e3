// rewrap and an envelope file replaced while its data key is being rewrapped (an application writing a new version
// during a migration): the new file must survive, never be overwritten by the old header over the new body.

import { renameSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, run, type ServeChild, startServe, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const ALICE = {
  accessKeyId: "AKIAALICE000000000002",
  secretAccessKey: "alice-secret-key-1111111111111111111111",
  principal: "arn:aws:iam::111122223333:user/alice",
};
const env = { AWS_ACCESS_KEY_ID: ALICE.accessKeyId, AWS_SECRET_ACCESS_KEY: ALICE.secretAccessKey };
let server: ServeChild | undefined;
let proxy: Server | undefined;
const sockets: Socket[] = [];

beforeAll(async () => {
  writeFileSync(join(cwd, "creds.json"), JSON.stringify({ credentials: [ALICE] }));
  server = await startServe(["--data-dir", join(cwd, "kms"), "--credentials", "creds.json"], { cwd });
  for (const alias of ["alias/old", "alias/new"]) {
    await ok(["keys", "create", "--endpoint", server.url, "--alias", alias], { cwd, env });
  }
});
afterAll(() => {
  for (const s of sockets) s.destroy();
  proxy?.close();
  server?.child.kill("SIGKILL");
  t.cleanup();
});

/**
 * A TCP proxy to the KMS server that holds the first connection's bytes until `release` is called: the CLI is then
 * inside its first KMS call (the Decrypt of the file's data key), after it read the header.
 */
async function holdingProxy(target: number) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let held!: () => void;
  const holding = new Promise<void>((resolve) => {
    held = resolve;
  });
  let first = true;
  proxy = createServer((client) => {
    sockets.push(client);
    const wait = first ? released : Promise.resolve();
    if (first) held();
    first = false;
    client.pause();
    void wait.then(() => {
      const upstream = connect(target, "127.0.0.1");
      sockets.push(upstream);
      client.pipe(upstream).pipe(client);
      client.resume();
    });
  });
  await new Promise<void>((resolve) => proxy!.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, holding, release };
}

describe("rewrap while the file is replaced", () => {
  it("leaves the new file as it is and fails, instead of writing the old header over the new body", async () => {
    const url = server!.url;
    await ok(["encrypt", "--endpoint", url, "--key", "alias/old", "-o", "f.slkt"], {
      cwd,
      env,
      input: "version 1",
    });
    await ok(["encrypt", "--endpoint", url, "--key", "alias/old", "-o", "next.slkt"], {
      cwd,
      env,
      input: "version 2, written by the application during the migration",
    });
    const p = await holdingProxy(server!.port);
    const rewrap = run(["rewrap", "f.slkt", "--endpoint", p.url, "--to-key", "alias/new"], { cwd, env });
    await p.holding;
    // The application replaces the file the way careful writers do: a new file renamed over it.
    renameSync(join(cwd, "next.slkt"), join(cwd, "f.slkt"));
    p.release();
    const r = await rewrap;
    // It said it rewrapped f.slkt (exit 0), and f.slkt no longer decrypted (exit 3): version 2 was lost.
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/f\.slkt changed while it was being rewrapped/);
    const dec = await ok(["decrypt", "f.slkt", "--endpoint", url], { cwd, env });
    expect(dec.out).toBe("version 2, written by the application during the migration");
    // Run again, it rewraps the new version.
    await ok(["rewrap", "f.slkt", "--endpoint", url, "--to-key", "alias/new"], { cwd, env });
    expect((await ok(["decrypt", "f.slkt", "--endpoint", url, "--key", "alias/new"], { cwd, env })).out).toBe(
      "version 2, written by the application during the migration",
    );
  });
});
