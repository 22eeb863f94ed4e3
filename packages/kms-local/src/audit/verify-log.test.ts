// Tamper tests: each attack is done directly in SQLite through a separate connection, then verify() must find it.

import { generateKeyPairSync, sign } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AuditEvent,
  AuditLog,
  canonicalEventJson,
  chainHash,
  digestSigningInput,
  readAuditDigests,
  verifyAuditFile,
} from "./index.js";

const ACCOUNT = "111122223333";
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
const KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/aaaaaaaa-0000-4000-8000-000000000001`;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A closed log of 35 events with digests after 10, 20 and 30 events and a final one at 35 (from close). */
async function makeLog(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-tamper-"));
  dirs.push(dir);
  const log = await AuditLog.open(dir, { digestEvery: 10 });
  for (let i = 1; i <= 35; i++) {
    await log.append({
      eventName: i % 3 === 0 ? "Encrypt" : "Decrypt",
      caller: { principal: ALICE, account: ACCOUNT },
      requestParameters: { keyId: KEY, n: i },
      keyId: KEY,
    });
  }
  await log.close();
  return dir;
}

/** Runs an attack through its own connection, as someone with write access to the file would. */
function attack(dir: string, run: (db: Database.Database) => void): void {
  const db = new Database(join(dir, "audit.db"));
  try {
    db.transaction(() => run(db))();
  } finally {
    db.close();
  }
}

async function verifyDir(dir: string) {
  const log = await AuditLog.open(dir, { digestEvery: 10 });
  try {
    return await log.verify();
  } finally {
    await log.close();
  }
}

function eventAt(db: Database.Database, sequence: number): AuditEvent {
  const row = db.prepare("SELECT event_json, hash FROM audit_events WHERE sequence = ?").get(sequence) as {
    event_json: string;
    hash: string;
  };
  return { ...JSON.parse(row.event_json), hash: row.hash } as AuditEvent;
}

/** Rewrites events from `from` on with new sequences and a recomputed chain, as an attacker without the key can. */
function rechain(db: Database.Database, events: Omit<AuditEvent, "hash">[], from: number): void {
  db.prepare("DELETE FROM audit_events WHERE sequence >= ?").run(from);
  let prevHash = from === 1 ? "0".repeat(64) : eventAt(db, from - 1).hash;
  const insert = db.prepare(
    "INSERT INTO audit_events (sequence, event_time, event_name, principal, key_id, error_code, event_json, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  events.forEach((original, i) => {
    const event = { ...original, sequence: from + i, prevHash };
    const json = canonicalEventJson(event);
    const hash = chainHash(prevHash, json);
    insert.run(
      event.sequence,
      event.eventTime,
      event.eventName,
      event.userIdentity.arn,
      event.keyId ?? null,
      null,
      json,
      hash,
    );
    prevHash = hash;
  });
}

function kinds(report: { problems: { kind: string; sequence: number }[] }): string[] {
  return report.problems.map((p) => `${p.kind}@${p.sequence}`);
}

describe("verify", { timeout: 30_000 }, () => {
  it("passes an untouched log and counts its digests", async () => {
    const report = await verifyDir(await makeLog());
    expect(report).toEqual({
      ok: true,
      events: 35,
      digests: 4,
      problems: [],
      lastDigestSequence: 35,
      eventsAfterLastDigest: 0,
    });
  });

  it("catches an edited field of an event and says where", async () => {
    const dir = await makeLog();
    attack(dir, (db) =>
      db
        .prepare(
          "UPDATE audit_events SET event_json = replace(event_json, '\"n\":15', '\"n\":99') WHERE sequence = 15",
        )
        .run(),
    );
    const report = await verifyDir(dir);
    expect(report.ok).toBe(false);
    expect(report.firstBadSequence).toBe(15);
    expect(kinds(report)).toEqual(["edited@15"]);
  });

  it("catches an edited indexed column (hiding an event from queries)", async () => {
    const dir = await makeLog();
    attack(dir, (db) =>
      db.prepare("UPDATE audit_events SET principal = 'someone-else' WHERE sequence = 7").run(),
    );
    expect(kinds(await verifyDir(dir))).toEqual(["edited@7"]);
  });

  it("catches an event edited and re-hashed on its own (the next link breaks)", async () => {
    const dir = await makeLog();
    attack(dir, (db) => {
      const event = eventAt(db, 12);
      const { hash: _old, ...rest } = { ...event, eventName: "ListKeys" };
      const json = canonicalEventJson(rest);
      db.prepare("UPDATE audit_events SET event_json = ?, event_name = ?, hash = ? WHERE sequence = 12").run(
        json,
        "ListKeys",
        chainHash(rest.prevHash, json),
      );
    });
    const report = await verifyDir(dir);
    expect(report.firstBadSequence).toBe(12);
    expect(kinds(report)[0]).toBe("edited@12");
  });

  it("catches an event deleted in the middle", async () => {
    const dir = await makeLog();
    attack(dir, (db) => db.prepare("DELETE FROM audit_events WHERE sequence = 15").run());
    const report = await verifyDir(dir);
    expect(kinds(report)).toEqual(["deleted@15"]);
    expect(report.problems[0]?.detail).toContain("event 15 is missing");
  });

  it("catches the last events deleted before the last digest", async () => {
    const dir = await makeLog();
    attack(dir, (db) => db.prepare("DELETE FROM audit_events WHERE sequence >= 33").run());
    const report = await verifyDir(dir);
    expect(kinds(report)).toEqual(["truncated-after-digest@33"]);
    expect(report.problems[0]?.detail).toContain("up to 35 but the log ends at 32");
  });

  it("catches two events whose sequence numbers were swapped", async () => {
    const dir = await makeLog();
    attack(dir, (db) => {
      db.prepare("UPDATE audit_events SET sequence = -1 WHERE sequence = 15").run();
      db.prepare("UPDATE audit_events SET sequence = 15 WHERE sequence = 16").run();
      db.prepare("UPDATE audit_events SET sequence = 16 WHERE sequence = -1").run();
    });
    const report = await verifyDir(dir);
    expect(kinds(report)).toEqual(["reordered@15", "reordered@16"]);
  });

  it("catches events deleted with the rest renumbered and re-chained (digest shows the shift)", async () => {
    const dir = await makeLog();
    attack(dir, (db) => {
      const later = [];
      for (let s = 16; s <= 35; s++) later.push(eventAt(db, s));
      rechain(db, later, 15);
    });
    const report = await verifyDir(dir);
    expect(report.ok).toBe(false);
    expect(kinds(report)).toContain("deleted@11");
  });

  it("catches a forged event inserted with a recomputed chain, and the attacker's fixed-up digest", async () => {
    const dir = await makeLog();
    attack(dir, (db) => {
      const later: Omit<AuditEvent, "hash">[] = [];
      for (let s = 15; s <= 35; s++) later.push(eventAt(db, s));
      const forged = {
        ...later[0]!,
        eventName: "ScheduleKeyDeletion",
        eventID: "00000000-0000-4000-8000-000000000000",
      };
      rechain(db, [forged, ...later], 15);
    });
    const report = await verifyDir(dir);
    expect(report.ok).toBe(false);
    expect(kinds(report)).toEqual(["inserted@11"]);
    expect(report.problems[0]?.detail).toContain("1 event(s) were inserted between 11 and 20");

    // The attacker now points the digests at the new chain; without the signing key the signatures fail.
    attack(dir, (db) => {
      for (const d of db.prepare("SELECT digest_number, last_sequence FROM audit_digests").all() as {
        digest_number: number;
        last_sequence: number;
      }[]) {
        const event = eventAt(db, d.last_sequence);
        db.prepare("UPDATE audit_digests SET last_hash = ?, last_event_id = ? WHERE digest_number = ?").run(
          event.hash,
          event.eventID,
          d.digest_number,
        );
      }
    });
    const fixedUp = await verifyDir(dir);
    expect(fixedUp.ok).toBe(false);
    expect(kinds(fixedUp)).toEqual(
      expect.arrayContaining([
        "bad-digest-signature@20",
        "bad-digest-signature@30",
        "bad-digest-signature@35",
      ]),
    );
  });

  it("catches a changed digest", async () => {
    const dir = await makeLog();
    attack(dir, (db) =>
      db
        .prepare("UPDATE audit_digests SET digest_time = '2020-01-01T00:00:00.000Z' WHERE digest_number = 2")
        .run(),
    );
    const report = await verifyDir(dir);
    expect(kinds(report)).toEqual(["bad-digest-signature@20"]);
  });

  it("catches a deleted digest in the middle of the digest chain", async () => {
    const dir = await makeLog();
    attack(dir, (db) => db.prepare("DELETE FROM audit_digests WHERE digest_number = 2").run());
    const report = await verifyDir(dir);
    expect(report.ok).toBe(false);
    expect(kinds(report)[0]).toBe("deleted@21");
  });

  it("rejects digests re-signed with the attacker's own key", async () => {
    const dir = await makeLog();
    const { privateKey } = generateKeyPairSync("ed25519");
    attack(dir, (db) => {
      const row = db.prepare("SELECT * FROM audit_digests WHERE digest_number = 1").get() as {
        digest_number: number;
        first_sequence: number;
        last_sequence: number;
        last_hash: string;
        last_event_id: string;
        digest_time: string;
        previous_signature: string;
        public_key_fingerprint: string;
      };
      const fields = {
        digestNumber: row.digest_number,
        firstSequence: row.first_sequence,
        lastSequence: row.last_sequence,
        lastHash: row.last_hash,
        lastEventId: row.last_event_id,
        digestTime: row.digest_time,
        previousSignature: row.previous_signature,
        publicKeyFingerprint: row.public_key_fingerprint,
      };
      const signature = sign(null, digestSigningInput(fields), privateKey).toString("base64");
      db.prepare("UPDATE audit_digests SET signature = ? WHERE digest_number = 1").run(signature);
    });
    const report = await verifyDir(dir);
    expect(kinds(report)).toContain("bad-digest-signature@10");
  });

  it("catches stored text changed without changing what JSON.parse reads (duplicate member, number form, spaces)", async () => {
    const dir = await makeLog();
    attack(dir, (db) => {
      const edit = db.prepare("UPDATE audit_events SET event_json = ? WHERE sequence = ?");
      const text = (sequence: number) =>
        (
          db.prepare("SELECT event_json FROM audit_events WHERE sequence = ?").get(sequence) as {
            event_json: string;
          }
        ).event_json;
      // JSON.parse keeps the last "eventName" (Decrypt, which the hash covers); SQLite's json_extract, jq and
      // other readers of the file may take the first: an Encrypt that never happened.
      edit.run(text(5).replace('{"eventVersion"', '{"eventName":"Encrypt","eventVersion"'), 5);
      edit.run(text(12).replace('"sequence":12,', '"sequence":12.0,'), 12);
      edit.run(text(25).replace('{"eventVersion"', '{ "eventVersion"'), 25);
    });
    const db = new Database(join(dir, "audit.db"), { readonly: true });
    expect(
      db
        .prepare(
          "SELECT json_extract(event_json, '$.eventName') AS name FROM audit_events WHERE sequence = 5",
        )
        .get(),
    ).toEqual({ name: "Encrypt" });
    db.close();
    const report = await verifyDir(dir);
    expect(report.ok).toBe(false);
    expect(kinds(report)).toEqual(["edited@5", "edited@12", "edited@25"]);
    expect(report.problems[0]?.detail).toContain("not the canonical JSON");
  });

  it("reports an event nested too deeply to re-serialize as edited, at its sequence, instead of rejecting", async () => {
    const dir = await makeLog();
    attack(dir, (db) => {
      const row = db.prepare("SELECT event_json FROM audit_events WHERE sequence = 9").get() as {
        event_json: string;
      };
      const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
      db.prepare("UPDATE audit_events SET event_json = ? WHERE sequence = 9").run(
        row.event_json.replace('"n":9}', `"n":${deep}}`),
      );
    });
    const report = await verifyDir(dir);
    expect(report.ok).toBe(false);
    expect(kinds(report)).toEqual(["edited@9"]);
  });

  it("lists the earliest problems when there are more than 1,000, digests' included, and the true first bad event", {
    timeout: 90_000,
  }, async () => {
    // On tmpfs where there is one: 1,100 commits.
    const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "sealkit-audit-tamper-"));
    dirs.push(dir);
    // A digest per event, as a lightly used log gets one a minute: 1,100 digests.
    const log = await AuditLog.open(dir, { digestEvery: 1 });
    for (let i = 1; i <= 1100; i++) {
      await log.append({
        eventName: "Decrypt",
        caller: { principal: ALICE, account: ACCOUNT },
        requestParameters: { n: i },
      });
    }
    await log.close();
    attack(dir, (db) => {
      db.prepare("UPDATE audit_digests SET digest_time = 'changed' WHERE digest_number >= 10").run();
      db.prepare(
        "UPDATE audit_events SET event_json = replace(event_json, '\"n\":3}', '\"n\":4}') WHERE sequence = 3",
      ).run();
    });
    const report = await verifyDir(dir);
    expect(report.ok).toBe(false);
    expect(report.firstBadSequence).toBe(3);
    expect(report.problems).toHaveLength(1000);
    expect(kinds(report).slice(0, 2)).toEqual(["edited@3", "bad-digest-signature@10"]);
    expect(report.problems.at(-1)?.sequence).toBe(1008);
  });

  it("after a restart on a log truncated below its last digest, signs no digest of a range that runs backwards", async () => {
    const dir = await makeLog();
    attack(dir, (db) => db.prepare("DELETE FROM audit_events WHERE sequence > 30").run());
    const log = await AuditLog.open(dir, { digestEvery: 10, digestIntervalMs: 1 });
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await log.append({ eventName: "Decrypt", caller: { principal: ALICE, account: ACCOUNT } });
    }
    await log.writeDigest();
    const digests = log.digests();
    await log.close();
    // Digest #4 said events 31..35; the log now ends at 33: a digest #5 "from 36 to 33" would be signed nonsense.
    expect(digests.map((d) => [d.digestNumber, d.firstSequence, d.lastSequence])).toEqual([
      [1, 1, 10],
      [2, 11, 20],
      [3, 21, 30],
      [4, 31, 35],
    ]);
    const report = await verifyDir(dir);
    expect(kinds(report)).toEqual(["truncated-after-digest@34"]);
  });

  it("uses the service's key, not a public key planted in the data dir", async () => {
    const dir = await makeLog();
    const { publicKey } = generateKeyPairSync("ed25519");
    writeFileSync(join(dir, "audit-signing.key.pub"), publicKey.export({ type: "spki", format: "pem" }));
    expect((await verifyDir(dir)).ok).toBe(true);
  });

  it("with digests kept outside the log, catches truncation after the log's own last digest", async () => {
    const dir = await makeLog();
    const log = await AuditLog.open(dir);
    const kept = log.digests();
    await log.close();
    expect(kept).toHaveLength(4);
    // Delete the last digest and the events it alone covered: the log by itself still looks fine.
    attack(dir, (db) => {
      db.prepare("DELETE FROM audit_digests WHERE digest_number = 4").run();
      db.prepare("DELETE FROM audit_events WHERE sequence > 30").run();
    });
    expect((await verifyDir(dir)).ok).toBe(true);
    const reopened = await AuditLog.open(dir, { digestEvery: 10 });
    const report = await reopened.verify({ knownDigests: kept });
    await reopened.close();
    expect(report.ok).toBe(false);
    expect(kinds(report)).toEqual(["truncated-after-digest@31", "truncated-after-digest@31"]);
  });

  it("verifies a copy of the file with only the public key", async () => {
    const dir = await makeLog();
    const pem = readFileSync(join(dir, "audit-signing.key.pub"), "utf8");
    expect(await verifyAuditFile(join(dir, "audit.db"), pem)).toMatchObject({
      ok: true,
      events: 35,
      digests: 4,
    });
    const other = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }) as string;
    const wrongKey = await verifyAuditFile(join(dir, "audit.db"), other);
    expect(wrongKey.ok).toBe(false);
    expect(wrongKey.problems.filter((p) => p.kind === "bad-digest-signature")).toHaveLength(4);
    expect(wrongKey.problems[0]?.detail).toMatch(
      /names the key [0-9a-f]{16}: the signing key was replaced or regenerated since, or this is not the log's public key/,
    );
  });

  it("reads the digests of a running log without its lock (readAuditDigests), the same as the log's own list", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-digests-"));
    dirs.push(dir);
    const log = await AuditLog.open(dir, { digestEvery: 5 });
    try {
      for (let i = 0; i < 12; i++)
        await log.append({
          eventName: "Encrypt",
          caller: { principal: ALICE, account: ACCOUNT },
          keyId: KEY,
        });
      const read = readAuditDigests(join(dir, "audit.db"));
      expect(read).toEqual(log.digests());
      expect(read.map((d) => d.lastSequence)).toEqual([5, 10]);
    } finally {
      await log.close();
    }
    expect(() => readAuditDigests(join(dir, "missing.db"))).toThrow(
      expect.objectContaining({ code: "SEALKIT_AUDIT_UNREADABLE", reason: "missing" }),
    );
    writeFileSync(join(dir, "not.db"), "not sqlite at all, just text");
    expect(() => readAuditDigests(join(dir, "not.db"))).toThrow(
      expect.objectContaining({ code: "SEALKIT_AUDIT_UNREADABLE" }),
    );
  });
});
