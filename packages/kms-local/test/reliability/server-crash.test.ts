// kill -9 of the sealkit-kms server process during a stream of signed CreateKey, RotateKeyOnDemand, Encrypt and
// CreateAlias requests, restart on the same data dir, repeat; then every acknowledged operation must be there, every
// acknowledged ciphertext must decrypt, both databases must pass PRAGMA integrity_check and the audit chain verify.

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  type KMSClient,
  ListKeyRotationsCommand,
  RotateKeyOnDemandCommand,
} from "@aws-sdk/client-kms";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { LocalKms } from "../../src/local-kms.js";
import { SOAK, sdkClient, sleep, startServerChild, writeCredentials } from "./support.js";

const KILLS = SOAK ? 100 : 15;

interface Acks {
  keys: Map<string, string>; // keyId -> requestId of CreateKey
  rotations: Map<string, number>;
  aliases: Map<string, string>; // alias -> keyId
  ciphertexts: { keyId: string; blob: Uint8Array; plaintext: Uint8Array; context: Record<string, string> }[];
  requestIds: Set<string>;
  operations: number;
}

/** One worker: random operations until `stop()` says so or a request fails because the server died. */
async function worker(client: KMSClient, acks: Acks, stopped: () => boolean, id: number): Promise<void> {
  let n = 0;
  while (!stopped()) {
    const keys = [...acks.keys.keys()];
    const roll = Math.random();
    try {
      if (keys.length === 0 || roll < 0.25) {
        const r = await client.send(new CreateKeyCommand({ Description: `crash ${id}-${n}` }));
        const keyId = r.KeyMetadata?.KeyId as string;
        acks.keys.set(keyId, r.$metadata.requestId as string);
        acks.requestIds.add(r.$metadata.requestId as string);
      } else {
        const keyId = keys[Math.floor(Math.random() * keys.length)] as string;
        if (roll < 0.6) {
          const plaintext = randomBytes(1 + Math.floor(Math.random() * 200));
          const context = { worker: String(id), n: String(n) };
          const r = await client.send(
            new EncryptCommand({ KeyId: keyId, Plaintext: plaintext, EncryptionContext: context }),
          );
          acks.ciphertexts.push({ keyId, blob: r.CiphertextBlob as Uint8Array, plaintext, context });
          acks.requestIds.add(r.$metadata.requestId as string);
        } else if (roll < 0.75) {
          if ((acks.rotations.get(keyId) ?? 0) >= 5) continue;
          const r = await client.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
          acks.rotations.set(keyId, (acks.rotations.get(keyId) ?? 0) + 1);
          acks.requestIds.add(r.$metadata.requestId as string);
        } else {
          const name = `alias/crash-${id}-${n}-${randomBytes(3).toString("hex")}`;
          const r = await client.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: keyId }));
          acks.aliases.set(name, keyId);
          acks.requestIds.add(r.$metadata.requestId as string);
        }
      }
      acks.operations++;
    } catch (e) {
      // A request cut by the kill was not acknowledged. Anything else (a refusal while the server is alive) fails.
      if (!stopped()) throw e;
      return;
    }
    n++;
  }
}

describe("the KMS server process survives kill -9", () => {
  const dir = mkdtempSync(join(tmpdir(), "sealkit-rel-crash-"));
  const dataDir = join(dir, "data");
  const credentials = writeCredentials(dir);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`keeps every acknowledged operation through ${KILLS} SIGKILLs`, {
    timeout: SOAK ? 900_000 : 240_000,
  }, async () => {
    const acks: Acks = {
      keys: new Map(),
      rotations: new Map(),
      aliases: new Map(),
      ciphertexts: [],
      requestIds: new Set(),
      operations: 0,
    };
    let kills = 0;
    for (let round = 0; round < KILLS; round++) {
      const server = await startServerChild(dataDir, credentials);
      const client = sdkClient(server.url);
      let killed = false;
      const workers = [0, 1, 2].map((id) => worker(client, acks, () => killed, round * 10 + id));
      await sleep(100 + Math.random() * 500);
      killed = true;
      await server.kill();
      const outcomes = await Promise.allSettled(workers);
      for (const o of outcomes) if (o.status === "rejected") throw o.reason;
      client.destroy();
      kills++;
    }

    // Restart once more and check everything that was acknowledged.
    const server = await startServerChild(dataDir, credentials);
    const client = sdkClient(server.url);
    try {
      for (const keyId of acks.keys.keys()) {
        const r = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
        expect(r.KeyMetadata?.KeyState).toBe("Enabled");
      }
      for (const [alias, keyId] of acks.aliases) {
        const r = await client.send(new DescribeKeyCommand({ KeyId: alias }));
        expect(r.KeyMetadata?.KeyId).toBe(keyId);
      }
      for (const [keyId, count] of acks.rotations) {
        const r = await client.send(new ListKeyRotationsCommand({ KeyId: keyId }));
        expect(r.Rotations?.length ?? 0).toBeGreaterThanOrEqual(count);
      }
      for (const ct of acks.ciphertexts) {
        const r = await client.send(
          new DecryptCommand({ CiphertextBlob: ct.blob, EncryptionContext: ct.context }),
        );
        expect(r.KeyId).toMatch(ct.keyId);
        expect(Buffer.from(r.Plaintext as Uint8Array).equals(Buffer.from(ct.plaintext))).toBe(true);
      }
    } finally {
      client.destroy();
      expect(await server.stop()).toBe(0);
    }

    for (const file of ["kms.db", "audit.db"]) {
      const db = new Database(join(dataDir, file), { readonly: true, fileMustExist: true });
      try {
        expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      } finally {
        db.close();
      }
    }
    const kms = await LocalKms.open({ dataDir, region: "us-east-1", account: "111122223333" });
    try {
      const log = kms.auditLog;
      if (log === undefined) throw new Error("no audit log");
      const report = await log.verify();
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      // Every acknowledged request has its audit event: none was answered before it was durable.
      const seen = new Set<string>();
      for (let after = 0; ; ) {
        const page = log.query({ after, limit: 100_000 });
        if (page.length === 0) break;
        for (const e of page) seen.add(e.requestID);
        after = (page.at(-1) as { sequence: number }).sequence;
      }
      const missing = [...acks.requestIds].filter((id) => !seen.has(id));
      expect(missing).toEqual([]);
      console.log(
        `[reliability] server crash: ${kills} SIGKILLs survived; acknowledged: ${acks.operations} operations, ` +
          `${acks.keys.size} keys, ${[...acks.rotations.values()].reduce((a, b) => a + b, 0)} rotations, ` +
          `${acks.aliases.size} aliases, ${acks.ciphertexts.length} ciphertexts; audit events: ${report.events}`,
      );
    } finally {
      await kms.close();
    }
    expect(kills).toBe(KILLS);
    expect(acks.ciphertexts.length).toBeGreaterThan(KILLS);
  });
});
