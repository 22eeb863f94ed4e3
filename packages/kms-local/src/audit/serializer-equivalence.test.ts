// The fast serializers (prepareEvent's text, EventBatchBuilder's bytes and hashes) checked against the reference
// path (canonicalEventJson, chainHash, Buffer.from per column) on thousands of generated events.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import {
  aliasParams,
  auditCaller,
  auditMetadata,
  cryptoParams,
  dataKeyParams,
  dropUndefined,
  keyParams,
  pick,
} from "../audit-params.js";
import type { Caller, KeyMetadata } from "../types.js";
import { AuditLog } from "./audit-log.js";
import { EventBatchBuilder } from "./audit-writer.js";
import { prepareEvent } from "./build-event.js";
import { canonicalEventJson } from "./canonical-json.js";
import type { AuditEvent, AuditEventInput } from "./types.js";
import { chainHash, GENESIS_HASH } from "./verify-log.js";

/** A small seeded PRNG (mulberry32), so a failure names a reproducible seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Characters JSON.stringify escapes or UTF-8 encodes in 2, 3 or 4 bytes, lone surrogates included. */
const SPECIAL = [
  '"',
  "\\",
  "\n",
  "\t",
  "\r",
  "\b",
  "\f",
  "\u0000",
  "\u0001",
  "\u001f",
  "\u007f",
  "\u0080",
  "é",
  "ß",
  "漢",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\ufffd",
  "\ud83d\ude00",
  "\ud800",
  "\udfff",
  "\udc00\ud800",
  "/",
  "<",
  "'",
];

class Gen {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = rng(seed);
  }
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }
  chance(p: number): boolean {
    return this.#next() < p;
  }
  pickOne<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** Mostly plain ASCII (the common case), sometimes special characters, sometimes longer than 256. */
  string(maxLength = 24): string {
    const kind = this.int(10);
    const length = kind === 0 ? 250 + this.int(300) : this.int(maxLength + 1);
    let out = "";
    for (let i = 0; i < length; i++) {
      if (kind >= 6 && this.chance(0.2)) out += this.pickOne(SPECIAL);
      else out += String.fromCharCode(0x20 + this.int(95));
    }
    return out;
  }
  nonEmpty(maxLength = 24): string {
    const s = this.string(maxLength);
    return s.length === 0 ? "x" : s;
  }
  /** A JSON-ish value, with what JSON.stringify drops or changes (undefined, -0, NaN, Dates, toJSON). */
  value(depth: number): unknown {
    const kind = this.int(depth >= 3 ? 6 : 9);
    switch (kind) {
      case 0:
        return this.string();
      case 1:
        return this.pickOne([0, -0, 1, -1, 1.5, 1e21, 1e-7, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]);
      case 2:
        return this.chance(0.5);
      case 3:
        return null;
      case 4:
        return this.chance(0.5) ? undefined : new Date(this.int(2 ** 40));
      case 5:
        return this.int(20);
      case 6:
        return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      case 7:
        return this.chance(0.1) ? { toJSON: () => this.string() } : this.record(depth + 1);
      default:
        return this.record(depth + 1);
    }
  }
  record(depth: number): Record<string, unknown> {
    if (this.chance(0.05)) return JSON.parse('{"__proto__":{"x":1},"1":"one"}') as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    const n = this.int(4);
    for (let i = 0; i < n; i++)
      out[this.chance(0.2) ? String(this.int(5)) : this.string(8)] = this.value(depth);
    return out;
  }
  /** A request as the operations of LocalKms receive it (blobs included, which the audit helpers drop). */
  request(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const maybe = (name: string, make: () => unknown) => {
      if (this.chance(0.6)) out[name] = make();
    };
    maybe("KeyId", () =>
      this.chance(0.7) ? `arn:aws:kms:us-east-1:111122223333:key/${crypto.randomUUID()}` : this.string(),
    );
    maybe("EncryptionContext", () => this.record(1));
    maybe("EncryptionAlgorithm", () =>
      this.pickOne(["SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_256", this.string()]),
    );
    maybe("GrantTokens", () => Array.from({ length: this.int(3) }, () => this.string()));
    maybe("KeySpec", () => this.pickOne(["AES_256", "AES_128", this.string()]));
    maybe("NumberOfBytes", () => this.int(1025));
    maybe("Limit", () => this.int(1000));
    maybe("Marker", () => this.string());
    maybe("AliasName", () => `alias/${this.string(10)}`);
    maybe("TargetKeyId", () => this.string());
    maybe("GrantId", () => this.string());
    maybe("GranteePrincipal", () => this.string());
    maybe("Tags", () => [{ TagKey: this.string(), TagValue: this.string() }]);
    maybe("TagKeys", () => [this.string()]);
    maybe("Plaintext", () => new Uint8Array(32));
    maybe("CiphertextBlob", () => new Uint8Array(64));
    return out;
  }
  /** requestParameters built the way LocalKms builds them, for every helper an operation uses. */
  requestParameters(): Record<string, unknown> | undefined {
    const r = this.request();
    switch (this.int(10)) {
      case 0:
        return undefined;
      case 1:
        return dropUndefined(keyParams(r));
      case 2:
        return dropUndefined(aliasParams(r));
      case 3:
        return dropUndefined(cryptoParams(r));
      case 4:
        return dropUndefined(dataKeyParams(r));
      case 5:
        return dropUndefined({
          ...keyParams(r),
          ...pick(r, ["Limit", "Marker", "GrantId", "GranteePrincipal"]),
        });
      case 6:
        return dropUndefined({ ...keyParams(r), ...pick(r, ["Tags"]), description: this.string() });
      case 7:
        return dropUndefined({ ...keyParams(r), description: this.chance(0.5) ? undefined : this.string() });
      case 8:
        return pick(r, ["NumberOfBytes", "TagKeys"]);
      default:
        return this.record(0);
    }
  }
  metadata(): KeyMetadata {
    return {
      KeyId: crypto.randomUUID(),
      Arn: `arn:aws:kms:us-east-1:111122223333:key/${this.string(8)}`,
      KeyState: "Enabled",
      KeyManager: "CUSTOMER",
      KeySpec: "SYMMETRIC_DEFAULT",
      KeyUsage: "ENCRYPT_DECRYPT",
      CreationDate: new Date(this.int(2 ** 41)),
    } as unknown as KeyMetadata;
  }
  input(): AuditEventInput {
    const account = this.chance(0.8) ? "111122223333" : this.nonEmpty(12);
    const principal = this.pickOne([
      `arn:aws:iam::${account}:root`,
      `arn:aws:iam::${account}:user/${this.nonEmpty(10)}`,
      `arn:aws:sts::${account}:assumed-role/r/${this.nonEmpty(6)}:x`,
      "s3.amazonaws.com",
      "arn:a:b:c:d:",
      this.nonEmpty(),
    ]);
    const caller: Partial<Caller> = { principal, account };
    if (this.chance(0.5)) caller.accessKeyId = this.string(20);
    if (this.chance(0.7)) caller.sourceIp = this.chance(0.8) ? "127.0.0.1" : this.string();
    if (this.chance(0.7)) caller.userAgent = this.string(40);
    if (this.chance(0.2)) caller.viaService = this.pickOne(["s3.amazonaws.com", this.string()]);
    const input: AuditEventInput = {
      eventName: this.pickOne([
        "GenerateDataKey",
        "Decrypt",
        "CreateKey",
        "ListAliases",
        "Getaway",
        this.nonEmpty(20),
      ]),
      caller: auditCaller(caller as Caller),
    };
    const params = this.requestParameters();
    if (params !== undefined) input.requestParameters = params;
    if (this.chance(0.5)) {
      input.responseElements = this.chance(0.3)
        ? null
        : this.chance(0.5)
          ? { keyMetadata: auditMetadata(this.metadata()) }
          : this.record(0);
    }
    if (this.chance(0.3)) {
      input.errorCode = this.pickOne(["AccessDeniedException", "NotFoundException", this.string()]);
      input.errorMessage = this.string(80);
    }
    if (this.chance(0.8)) {
      input.resources = Array.from({ length: this.int(4) }, () => {
        const resource: { ARN: string; type?: string; accountId?: string } = { ARN: this.nonEmpty(60) };
        if (this.chance(0.7)) resource.type = this.chance(0.8) ? "AWS::KMS::Key" : this.string();
        if (this.chance(0.7)) resource.accountId = this.chance(0.8) ? account : this.string();
        return resource;
      });
    }
    if (this.chance(0.7)) input.keyId = input.resources?.[0]?.ARN ?? this.nonEmpty(60);
    if (this.chance(0.7)) input.requestId = this.chance(0.7) ? crypto.randomUUID() : this.string();
    if (this.chance(0.3)) input.readOnly = this.chance(0.5);
    if (this.chance(0.5))
      input.eventTime = new Date(this.pickOne([0, 1, 951868799999, this.int(2 ** 42), -1]));
    return input;
  }
}

/** The columns of a row as the writer thread receives them, in order. */
function columns(event: AuditEvent, json: string): (string | null)[] {
  return [
    event.eventTime,
    event.eventName,
    event.userIdentity.arn,
    event.keyId ?? null,
    event.errorCode ?? null,
    event.prevHash,
    json,
    event.hash,
  ];
}

/**
 * The input with well-formed strings in the indexed columns: prepareEvent refuses a lone surrogate there (the
 * column would store U+FFFD where the JSON keeps the escape, and verify() would report the row as edited).
 */
function wellFormedColumns(input: AuditEventInput): AuditEventInput {
  const fix = (s: string) =>
    s.replace(/[\ud800-\udfff]/g, (c, at: number, all: string) => {
      const code = c.charCodeAt(0);
      const pairedHigh = code < 0xdc00 && /[\udc00-\udfff]/.test(all[at + 1] ?? "");
      const pairedLow = code >= 0xdc00 && /[\ud800-\udbff]/.test(all[at - 1] ?? "");
      return pairedHigh || pairedLow ? c : "?";
    });
  const out: AuditEventInput = {
    ...input,
    eventName: fix(input.eventName),
    caller: { ...input.caller, principal: fix(input.caller.principal) },
  };
  if (input.keyId !== undefined) out.keyId = fix(input.keyId);
  if (input.errorCode !== undefined) out.errorCode = fix(input.errorCode);
  return out;
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("fast serializers against the reference path", () => {
  it("prepareEvent's text is canonicalEventJson of its body for generated events", () => {
    for (let seed = 1; seed <= 4000; seed++) {
      const gen = new Gen(seed);
      const input = wellFormedColumns(gen.input());
      const region = gen.chance(0.3) ? gen.pickOne(["us-east-1", gen.string()]) : undefined;
      const eventSource = gen.chance(0.9) ? "kms.amazonaws.com" : gen.nonEmpty();
      const { body, prefix } = prepareEvent(input, { now: new Date(seed * 1000), eventSource, region });
      const text = `${prefix}}`;
      if (text !== canonicalEventJson(body as AuditEvent) || text !== JSON.stringify(body)) {
        expect.fail(`seed ${seed}: ${text} !== ${canonicalEventJson(body as AuditEvent)}`);
      }
    }
  });

  it("EventBatchBuilder refuses a row past its capacity rather than dropping its lengths", () => {
    const builder = new EventBatchBuilder(1, GENESIS_HASH, 1);
    builder.add("t", "Encrypt", "arn", null, null, GENESIS_HASH, "{}");
    expect(() => builder.add("t", "Encrypt", "arn", null, null, GENESIS_HASH, "{}")).toThrow(RangeError);
    expect(builder.finish().lengths.length).toBe(8);
  });

  it("EventBatchBuilder writes each column's UTF-8 bytes and the chain hash of the canonical text", () => {
    let prevHash = GENESIS_HASH;
    let sequence = 0;
    for (let batchSeed = 1; batchSeed <= 60; batchSeed++) {
      const gen = new Gen(100_000 + batchSeed);
      const size = 1 + gen.int(80);
      // Long strings make the byte buffer grow midway through some batches.
      const builder = new EventBatchBuilder(sequence + 1, prevHash, size);
      const expected: (string | null)[] = [];
      for (let i = 0; i < size; i++) {
        const { body, prefix } = prepareEvent(wellFormedColumns(gen.input()), {
          now: new Date(),
          eventSource: "kms.amazonaws.com",
          region: undefined,
        });
        const event = body as AuditEvent;
        sequence++;
        event.sequence = sequence;
        event.prevHash = prevHash;
        const json = `${prefix},"sequence":${sequence},"prevHash":"${prevHash}"}`;
        expect(json).toBe(canonicalEventJson(event));
        const hash = builder.add(
          event.eventTime,
          event.eventName,
          event.userIdentity.arn,
          event.keyId ?? null,
          event.errorCode ?? null,
          prevHash,
          json,
        );
        expect(hash).toBe(chainHash(prevHash, canonicalEventJson(event)));
        event.hash = hash;
        prevHash = hash;
        expected.push(...columns(event, json));
      }
      const batch = builder.finish();
      const parts = expected.map((value) => (value === null ? null : Buffer.from(value, "utf8")));
      expect(Array.from(batch.lengths)).toEqual(parts.map((part) => (part === null ? -1 : part.length)));
      const bytes = Buffer.concat(parts.filter((part) => part !== null));
      const got = Buffer.from(batch.bytes);
      if (!got.equals(bytes)) {
        let at = 0;
        while (got[at] === bytes[at]) at++;
        expect.fail(
          `batch ${batchSeed}: bytes differ at ${at} of ${bytes.length}/${got.length}: ${got.subarray(Math.max(0, at - 20), at + 20).toString("hex")} vs ${bytes.subarray(Math.max(0, at - 20), at + 20).toString("hex")}`,
        );
      }
      expect(batch.ascii).toBe(bytes.every((byte) => byte < 0x80));
    }
  });

  it("an AuditLog stores exactly the reference text, hash and columns of generated events", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-audit-equiv-"));
    dirs.push(dir);
    const log = await AuditLog.open(dir, { digestEvery: 97, region: "eu-west-1" });
    const stored: AuditEvent[] = [];
    try {
      for (let round = 0; round < 8; round++) {
        const gen = new Gen(200_000 + round);
        // Appended in one turn, so they share group commits.
        const events = await Promise.all(
          Array.from({ length: 150 }, () => log.append(wellFormedColumns(gen.input()))),
        );
        stored.push(...events);
      }
      const report = await log.verify();
      expect(report.problems.slice(0, 3)).toEqual([]);
    } finally {
      await log.close();
    }
    const db = new Database(join(dir, "audit.db"), { readonly: true });
    try {
      const rows = db.prepare("SELECT * FROM audit_events ORDER BY sequence").all() as Record<
        string,
        unknown
      >[];
      expect(rows).toHaveLength(stored.length);
      let prevHash = GENESIS_HASH;
      for (let i = 0; i < rows.length; i++) {
        const event = stored[i]!;
        const { hash, ...withoutHash } = event;
        const reference = canonicalEventJson(withoutHash);
        expect(event.sequence).toBe(i + 1);
        expect(event.prevHash).toBe(prevHash);
        expect(hash).toBe(chainHash(prevHash, reference));
        expect(rows[i]).toEqual({
          sequence: i + 1,
          event_time: Buffer.from(event.eventTime, "utf8").toString("utf8"),
          event_name: Buffer.from(event.eventName, "utf8").toString("utf8"),
          principal: Buffer.from(event.userIdentity.arn, "utf8").toString("utf8"),
          key_id: event.keyId === undefined ? null : Buffer.from(event.keyId, "utf8").toString("utf8"),
          error_code:
            event.errorCode === undefined ? null : Buffer.from(event.errorCode, "utf8").toString("utf8"),
          event_json: reference,
          hash,
        });
        prevHash = hash;
      }
    } finally {
      db.close();
    }
  });
});
