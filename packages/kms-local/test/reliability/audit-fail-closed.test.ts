// Fail-closed audit through the server: with the audit store really unwritable (an immutable WAL, a full tmpfs),
// every cryptographic operation over HTTP answers 500 KMSInternalException with no key material, and recovers after.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fillFileSystem, probeStoreFaults, tryRun } from "../../src/audit/store-faults.js";
import { LocalKms } from "../../src/local-kms.js";
import { createKmsServer, type KmsServer } from "../../src/server/server.js";
import { ALICE, call, type RawResponse } from "../../src/server/test-support.js";

const { canMount, canChattr } = probeStoreFaults();
if (!canMount || !canChattr)
  console.warn(
    `audit-fail-closed: ${canMount ? "" : "tmpfs mount "}${canChattr ? "" : "chattr +i "}unavailable (needs root): those cases are skipped`,
  );

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const SECRET = Buffer.from("fail-closed plaintext 0123456789abcdef");

/** A server on a LocalKms in `dataDir` with one key and one ciphertext made while the audit log still works. */
async function serve(
  dataDir: string,
): Promise<{ server: KmsServer; kms: LocalKms; keyId: string; blob: string }> {
  const kms = await LocalKms.open({ dataDir, region: "us-east-1", account: "111122223333" });
  const server = createKmsServer({ kms, credentials: [ALICE], region: "us-east-1", onError: () => {} });
  await server.listen(0, "127.0.0.1");
  cleanups.push(() => server.close().catch(() => undefined));
  const created = await call(server.url, "CreateKey", {});
  const keyId = (created.json().KeyMetadata as { KeyId: string }).KeyId;
  const enc = await call(server.url, "Encrypt", { KeyId: keyId, Plaintext: SECRET.toString("base64") });
  expect(enc.status).toBe(200);
  return { server, kms, keyId, blob: enc.json().CiphertextBlob as string };
}

/** Every cryptographic operation, as [target, body]. */
function cryptoRequests(keyId: string, blob: string): [string, Record<string, unknown>][] {
  return [
    ["Encrypt", { KeyId: keyId, Plaintext: SECRET.toString("base64") }],
    ["Decrypt", { CiphertextBlob: blob }],
    ["GenerateDataKey", { KeyId: keyId, KeySpec: "AES_256" }],
    ["GenerateDataKeyWithoutPlaintext", { KeyId: keyId, NumberOfBytes: 32 }],
    ["ReEncrypt", { CiphertextBlob: blob, DestinationKeyId: keyId }],
    ["GenerateRandom", { NumberOfBytes: 32 }],
  ];
}

function expectFailedClosed(op: string, res: RawResponse): void {
  expect(res.status, `${op}: ${res.text}`).toBe(500);
  const body = res.json();
  expect(body.__type).toBe("KMSInternalException");
  expect(Object.keys(body).sort()).toEqual(["__type", "message"]);
  for (const field of ["Plaintext", "CiphertextBlob", "KeyId", "SourceKeyId"])
    expect(res.text).not.toContain(field);
  expect(res.text).not.toContain(SECRET.toString("base64"));
}

async function expectAllFailClosed(url: string, keyId: string, blob: string): Promise<number> {
  let n = 0;
  for (const [op, body] of cryptoRequests(keyId, blob)) {
    expectFailedClosed(op, await call(url, op, body));
    n++;
  }
  // A refused signature cannot be audited either: it fails closed too.
  expectFailedClosed("bad signature", await call(url, "Encrypt", {}, { secretAccessKey: "wrong" }));
  return n + 1;
}

async function expectAllSucceed(url: string, keyId: string, blob: string): Promise<void> {
  for (const [op, body] of cryptoRequests(keyId, blob)) {
    const res = await call(url, op, body);
    expect(res.status, `${op}: ${res.text}`).toBe(200);
  }
}

describe("fail-closed audit through the server", { timeout: 60_000 }, () => {
  it.skipIf(!canChattr)("answers 500 without key material while audit.db-wal is immutable", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-rel-immutable-"));
    const wal = join(dir, "audit.db-wal");
    cleanups.push(() => {
      tryRun("chattr", ["-i", wal]);
      rmSync(dir, { recursive: true, force: true });
    });
    const { server, kms, keyId, blob } = await serve(dir);
    const before = kms.auditLog?.stats().lastSequence;
    execFileSync("chattr", ["+i", wal]);

    const refused = await expectAllFailClosed(server.url, keyId, blob);
    expect(refused).toBe(7);
    expect(kms.auditLog?.stats().lastSequence).toBe(before);

    execFileSync("chattr", ["-i", wal]);
    await expectAllSucceed(server.url, keyId, blob);
    expect(await kms.auditLog?.verify()).toMatchObject({ ok: true });
  });

  it.skipIf(!canMount)(
    "answers 500 without key material while the data dir's file system is full",
    async () => {
      const mountPoint = mkdtempSync(join(tmpdir(), "sealkit-rel-tmpfs-"));
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint]);
      cleanups.push(() => {
        tryRun("umount", ["-l", mountPoint]);
        rmSync(mountPoint, { recursive: true, force: true });
      });
      const { server, kms, keyId, blob } = await serve(join(mountPoint, "data"));
      const before = kms.auditLog?.stats().lastSequence;
      const filler = fillFileSystem(mountPoint);

      await expectAllFailClosed(server.url, keyId, blob);
      expect(kms.auditLog?.stats().lastSequence).toBe(before);

      unlinkSync(filler);
      await expectAllSucceed(server.url, keyId, blob);
      expect(await kms.auditLog?.verify()).toMatchObject({ ok: true });
    },
  );
});
