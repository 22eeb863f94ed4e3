// queryAuditFile reads a log read-only beside the service that holds it, and never writes; a key filter takes a key
// ARN, a key id, an alias name or an alias ARN, in AuditLog.query too.

import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { AuditLog, AuditUnreadableError, queryAuditFile } from "./index.js";
import type { AuditEventInput } from "./types.js";

const ACCOUNT = "111122223333";
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
const ID_A = "aaaaaaaa-0000-4000-8000-000000000001";
const ID_B = "bbbbbbbb-0000-4000-8000-000000000002";
const KEY_A = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${ID_A}`;
const KEY_B = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${ID_B}`;
/** The same key id under another region: a data dir once opened with another location. */
const KEY_A_WEST = `arn:aws:kms:us-west-2:${ACCOUNT}:key/${ID_A}`;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-query-"));
  dirs.push(dir);
  return dir;
}

function call(
  eventName: string,
  keyId: string | undefined,
  extra: Partial<AuditEventInput> = {},
): AuditEventInput {
  return {
    eventName,
    caller: { principal: ALICE, account: ACCOUNT },
    ...(keyId === undefined ? {} : { keyId, requestParameters: { keyId } }),
    ...extra,
  };
}

function digestCount(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM audit_digests").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe("queryAuditFile", { timeout: 30_000 }, () => {
  it("reads a log held by a running AuditLog, as its own query does, and writes nothing", async () => {
    const dir = tempDir();
    const path = join(dir, "audit.db");
    const log = await AuditLog.open(dir);
    for (let i = 0; i < 5; i++) await log.append(call("Decrypt", i % 2 ? KEY_A : KEY_B));
    await log.writeDigest();
    await log.append(call("Encrypt", KEY_A));
    // The running log holds audit.db.lock: a second AuditLog is refused, a read-only query is not.
    await expect(AuditLog.open(dir)).rejects.toThrow(/AuditLog/);
    for (const filter of [
      {},
      { keyId: KEY_A },
      { keyId: ID_A },
      { eventName: "Encrypt" },
      { after: 2, limit: 2 },
    ]) {
      expect(queryAuditFile(path, filter)).toEqual(log.query(filter));
    }
    expect(queryAuditFile(path, { keyId: KEY_A }).map((e) => e.sequence)).toEqual([2, 4, 6]);
    await log.close();
    // The close signed up to event 6. An event after the last digest, as a crashed service leaves it, read while
    // the service runs: it stays unsigned (an AuditLog opened to read it would sign it when closed).
    const again = await AuditLog.open(dir, { digestIntervalMs: 3_600_000 });
    await again.append(call("Decrypt", KEY_B));
    const digests = digestCount(path);
    const size = statSync(path).size;
    const wal = readFileSync(`${path}-wal`);
    expect(queryAuditFile(path, { limit: 1 })[0]?.sequence).toBe(7);
    expect(queryAuditFile(path, { keyId: ID_B }).map((e) => e.sequence)).toEqual([1, 3, 5, 7]);
    expect(digestCount(path)).toBe(digests);
    expect(statSync(path).size).toBe(size);
    expect(readFileSync(`${path}-wal`).equals(wal)).toBe(true);
    await again.close();
  });

  it("takes a key ARN, a key id (every region's ARN of it), an alias name or an alias ARN", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir);
    const alias = (eventName: string, aliasName: string, target?: string, errorCode?: string) =>
      log.append(
        call(eventName, target === undefined ? undefined : target.startsWith("arn:") ? target : KEY_A, {
          requestParameters: { aliasName, ...(target === undefined ? {} : { targetKeyId: target }) },
          ...(errorCode === undefined ? {} : { errorCode }),
        }),
      );
    await log.append(call("Decrypt", KEY_A)); // 1
    await log.append(call("Decrypt", KEY_B)); // 2
    await log.append(call("Decrypt", KEY_A_WEST)); // 3
    await log.append(call("ListKeys", undefined)); // 4
    await alias("CreateAlias", "alias/orders", ID_A); // 5: a key id as target
    await alias("UpdateAlias", "alias/orders", KEY_B, "AccessDeniedException"); // 6: refused, changes nothing
    await log.append(call("Encrypt", KEY_B)); // 7
    const seqs = (keyId: string) => log.query({ keyId }).map((e) => e.sequence);
    expect(seqs(KEY_A)).toEqual([1, 5]);
    expect(seqs(ID_A)).toEqual([1, 3, 5]);
    expect(seqs(ID_B)).toEqual([2, 6, 7]);
    expect(seqs("alias/orders")).toEqual([1, 3, 5]);
    expect(seqs(`arn:aws:kms:us-east-1:${ACCOUNT}:alias/orders`)).toEqual([1, 3, 5]);
    await alias("UpdateAlias", "alias/orders", KEY_B); // 8: now names B, by ARN
    expect(seqs("alias/orders")).toEqual([2, 6, 7, 8]);
    await alias("DeleteAlias", "alias/orders"); // 9
    expect(seqs("alias/orders")).toEqual([]);
    expect(seqs("alias/never")).toEqual([]);
    expect(seqs("cccccccc-0000-4000-8000-000000000003")).toEqual([]);
    // Characters LIKE or GLOB would treat as patterns match only themselves.
    expect(seqs("%")).toEqual([]);
    expect(seqs("*")).toEqual([]);
    expect(queryAuditFile(join(dir, "audit.db"), { keyId: "alias/never" })).toEqual([]);
    await log.close();
  });

  it("rejects a missing file or one that is not an audit log, and malformed filters", async () => {
    const dir = tempDir();
    const missing = (() => {
      try {
        queryAuditFile(join(dir, "audit.db"));
      } catch (error) {
        return error;
      }
    })();
    expect(missing).toBeInstanceOf(AuditUnreadableError);
    expect((missing as AuditUnreadableError).reason).toBe("missing");
    // A missing directory too (better-sqlite3 throws a TypeError without a code for it).
    expect(() => queryAuditFile(join(dir, "nothing", "audit.db"))).toThrow(
      expect.objectContaining({ reason: "missing" }),
    );
    new Database(join(dir, "other.db")).exec("CREATE TABLE t (x)");
    expect(() => queryAuditFile(join(dir, "other.db"))).toThrow(/not a Sealkit audit log/);
    const log = await AuditLog.open(dir);
    await log.close();
    expect(() => queryAuditFile(join(dir, "audit.db"), { limit: 0 })).toThrow(RangeError);
    expect(() => queryAuditFile(join(dir, "audit.db"), { keyId: 7 as unknown as string })).toThrow(TypeError);
  });
});
