// LocalKms: AWS KMS's operations in process, on SQLite, with key policies, grants and a fail-closed audit log.

import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { join, resolve as resolvePath } from "node:path";
import {
  concatBytes,
  type EncryptionContext,
  equalBytes,
  type KeyWrapper,
  SealkitError,
  utf8,
  wipe,
} from "@sealkit/core";
import type Database from "better-sqlite3";
import { hasLoneSurrogate } from "./audit/build-event.js";
import { AuditLog } from "./audit/index.js";
import type { AuditEventInput, AuditLogOptions } from "./audit/types.js";
import {
  aliasParams,
  auditCaller,
  auditMetadata,
  cryptoParams,
  dataKeyParams,
  dropUndefined,
  keyParams,
  pick,
} from "./audit-params.js";
import { openBlob, readBlobHeader, sealBlob } from "./ciphertext-blob.js";
import { explainOpenFailure, lostDatabaseProblem, prepareDataDir } from "./data-dir.js";
import { accessDenied, invalidState, KmsError, keyNotFound, notFound, validation } from "./errors.js";
import {
  aliasArn,
  checkAliasName,
  type KmsLocation,
  keyArn,
  keyMaterialId,
  parseKeyId,
  RESERVED_ALIAS_PREFIX,
  serviceOfAlias,
  uuidToBytes,
} from "./key-id.js";
import { GranteeIndex } from "./policy/grants.js";
import {
  CONTEXT_OPERATIONS,
  canListRetirableGrants,
  canRetireGrant,
  checkLockout,
  conditionKeysFor,
  decodeGrantToken,
  decodeGrantTokens,
  defaultKeyPolicy,
  encodeGrantToken,
  evaluatePolicy,
  GRANT_FOR_AWS_RESOURCE_OPERATIONS,
  grantAllows,
  grantAllowsCreateGrant,
  type KeyProperties,
  MAX_POLICY_LENGTH,
  newGrantId,
  type Policy,
  parsePolicy,
  policyUsesConditionKey,
  policyUsesConditionKeyPrefix,
  requestAliasOf,
  SYMMETRIC_GRANT_OPERATIONS,
  validateGrantConstraints,
  validateGrantName,
  validateGrantOperations,
  validateGrantPrincipal,
} from "./policy/index.js";
import { randomBytesFast } from "./random.js";
import {
  checkAlgorithm,
  checkBytes,
  checkContext,
  checkCustomKeyStoreIdMember,
  checkEnum,
  checkGrantId,
  checkGrantIdMember,
  checkGrantTokenList,
  checkGrantTokenMember,
  checkInt,
  checkKeyIdMember,
  checkLimit,
  checkMarkerMember,
  checkPolicyName,
  checkPolicyNameMember,
  checkPolicyText,
  checkPrincipalMember,
  checkString,
  checkTagKeys,
  checkTags,
  checkXksKeyIdMember,
  decodeMarker,
  dryRun,
  isDryRun,
  MAX_TAGS,
  objectRequest,
  optionalString,
  pageOf,
  Violations,
} from "./request-checks.js";
import {
  loadRootKeyFile,
  newArgon2Parameters,
  parseArgon2Parameters,
  passphraseWrapper,
} from "./root-key.js";
import {
  type AliasRow,
  type GrantRow,
  type KeyRow,
  type KeyVersionRow,
  openStore,
  type UsageRow,
} from "./store.js";
import type {
  AliasListEntry,
  Caller,
  CreateGrantRequest,
  CreateKeyRequest,
  DecryptRequest,
  DecryptResponse,
  EncryptRequest,
  EncryptResponse,
  GenerateDataKeyRequest,
  GenerateDataKeyResponse,
  GenerateDataKeyWithoutPlaintextResponse,
  GetKeyLastUsageResponse,
  GrantConstraints,
  GrantListEntry,
  KeyMetadata,
  KeyOperationUsage,
  ListResponse,
  ReEncryptRequest,
  ReEncryptResponse,
  RotationsListEntry,
  Tag,
} from "./types.js";
import { buildUsageReport, REENCRYPT_TO, type UsageReport } from "./usage-report.js";

/** Where audit events go: the built-in AuditLog, or anything with its `append`. */
export interface AuditSink {
  /** Resolves when the event is durable; rejects when it cannot be written (the operation then fails). */
  append(event: AuditEventInput): Promise<unknown>;
  close?(): Promise<void>;
}

/** Options of {@link LocalKms.open}. */
export interface LocalKmsOptions {
  /**
   * The data directory (created with mode 0700): kms.db, root.key, the audit log. It must belong to the process's
   * user (or root) and not be writable by group or others: whoever can write to it can replace the root key.
   */
  dataDir: string;
  /**
   * The root key every backing key is wrapped by: a KeyWrapper (e.g. a PKCS#11 one), a key file
   * (`{ file }`, default `<dataDir>/root.key`, created with mode 0600 on first start), or a passphrase
   * (Argon2id; its parameters and salt are stored in kms.db).
   */
  rootKey?:
    | KeyWrapper
    | { file?: string }
    | { passphrase: string; argon2?: { memorySize?: number; iterations?: number; parallelism?: number } };
  /** Default "us-east-1". */
  region?: string;
  /** The account that owns the keys. Default "111122223333". */
  account?: string;
  /** Default "aws". */
  partition?: string;
  /** The clock for creation dates, deletion and rotation schedules (tests). */
  clock?: () => Date;
  /** Options for the built-in audit log in the data dir, or a sink of your own. */
  audit?: AuditLogOptions | AuditSink;
}

/** Usage counts of one month in the shape of AWS KMS pricing; see {@link LocalKms.usageReport}. */
export type { UsageReport };

const DAY = 86_400_000;
const ROOT_CHECK_AAD = utf8("sealkit-kms-local/root-check/v1");
const ROOT_CHECK_VALUE = utf8("sealkit-kms-local root key check");
const BACKING_KEY_DOMAIN = utf8("sealkit-kms-local/backing-key/v1");
const SERVICE_PRINCIPAL = "kms.amazonaws.com";
/** The shape of a service principal name such as `logs.amazonaws.com` (not an ARN). */
const SERVICE_PRINCIPAL_NAME = /^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)+$/;
/** RotateKeyOnDemand's quota per key (AWS KMS API reference: "a maximum of 25 times per KMS key"; not adjustable). */
const MAX_ON_DEMAND_ROTATIONS = 25;
/** Customer managed keys per account and Region, in any key state (AWS KMS resource quota "AWS KMS keys"). */
const MAX_CUSTOMER_KEYS = 100_000;
/** Aliases per KMS key (AWS KMS resource quota "Aliases per KMS key"): CreateAlias and UpdateAlias beyond it refuse. */
const MAX_ALIASES_PER_KEY = 50;
/** Grants per KMS key (AWS KMS resource quota, developer guide "Resource quotas"): CreateGrant beyond is LimitExceededException. */
const MAX_GRANTS_PER_KEY = 50_000;
/** GenerateDataKey's KeySpec values (the model's DataKeySpec, in its order) and the data key length of each. */
const DATA_KEY_SPECS = ["AES_256", "AES_128"] as const;
const DATA_KEY_LENGTHS: Readonly<Record<(typeof DATA_KEY_SPECS)[number], number>> = {
  AES_256: 32,
  AES_128: 16,
};

/** Every key here is a symmetric encryption key made by AWS KMS: its properties as policy condition keys. */
const SYMMETRIC_KEY_PROPERTIES: KeyProperties = Object.freeze({
  keySpec: "SYMMETRIC_DEFAULT",
  keyUsage: "ENCRYPT_DECRYPT",
  origin: "AWS_KMS",
  multiRegion: false,
});
/** ListKeyRotations' IncludeKeyMaterial values (the model's enum, in its order). */
const INCLUDE_KEY_MATERIAL = ["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"] as const;
const CACHE_LIMIT = 1024;
/** The most grants the grant indexes of all keys hold together (four keys at the grants-per-key quota). */
const MAX_INDEXED_GRANTS = 200_000;
/** Rows, aliases and grants read outside transactions, kept until a transaction ends (at most this many). */
const READ_CACHE_LIMIT = 10_000;
/** How long after a failed key deletion or automatic rotation the next attempt waits (ms). */
const SWEEP_RETRY_MS = 1000;
/** How often usage counters kept in memory are written to the database (ms). */
const USAGE_FLUSH_MS = 1000;

/** Operations that use key material: what GetKeyLastUsage reports as the last use. */
const CRYPTO_OPERATIONS = new Set([
  "Encrypt",
  "Decrypt",
  "ReEncrypt",
  REENCRYPT_TO,
  "GenerateDataKey",
  "GenerateDataKeyWithoutPlaintext",
]);

interface CallContext {
  /** Key ARNs the call touched, first the one it is about. */
  readonly arns: string[];
  readonly keyIds: string[];
  /** Data to wipe when the response cannot be returned. */
  readonly secrets: Uint8Array[];
  /** ReEncrypt's destination key, when it is not the source: the call is a use of it too (GetKeyLastUsage). */
  destinationKeyId?: string;
  /** The call's request id and its audit event's eventID (GetKeyLastUsage reports those of a key's last use). */
  readonly requestId: string;
  readonly eventId: string;
  /**
   * Set on the lock-free path of read-only calls: the body must not write; where it would (an AWS managed key
   * created on first use) it throws {@link RETRY_LOCKED} and the call runs again under the lock.
   */
  readonly fast?: boolean;
}

/** A call's request id (the caller's, such as the server's x-amzn-RequestId, or a new one) and audit eventID. */
function callIds(caller: Caller): { requestId: string; eventId: string } {
  const given = caller?.requestId;
  return { requestId: typeof given === "string" && given ? given : randomUUID(), eventId: randomUUID() };
}

/** GetKeyLastUsage's KeyLastUsage from the usage row of a key's last cryptographic use. */
function lastUsage(
  row: Pick<UsageRow, "operation" | "last_used" | "last_request_id" | "last_event_id">,
): GetKeyLastUsageResponse["KeyLastUsage"] {
  const usage: GetKeyLastUsageResponse["KeyLastUsage"] = {
    Operation: row.operation === REENCRYPT_TO ? "ReEncrypt" : row.operation,
    Timestamp: new Date(row.last_used),
  };
  if (row.last_request_id !== null) usage.KmsRequestId = row.last_request_id;
  if (row.last_event_id !== null) usage.CloudTrailEventId = row.last_event_id;
  return usage;
}

/** Thrown by a body on the lock-free path when it needs the lock (a write); never escapes {@link LocalKms}. */
const RETRY_LOCKED: unique symbol = Symbol("retry under the lock");

interface CallSpec<Req, Res> {
  readonly readOnly: boolean;
  /** The audit record's requestParameters (camelCase, never plaintext, keys or blobs). */
  readonly params?: (request: Req) => Record<string, unknown>;
  readonly response?: (response: Res) => Record<string, unknown> | null;
}

/**
 * The local KMS. Open one per data dir with {@link LocalKms.open}; every method takes the caller and an
 * AWS-shaped request and resolves to the AWS-shaped response. Changes are serialized: each runs in one SQLite
 * transaction that commits only after its audit event is durable. Read-only calls (cryptography, Describe, Get,
 * List) run without the lock on committed state, retrying under it if a transaction began meanwhile; every call's
 * response still waits until its audit event is durable.
 */
export class LocalKms {
  /** Partition, region and account of every ARN this KMS issues. */
  readonly location: KmsLocation;
  readonly dataDir: string;
  readonly #db: Database.Database;
  /** Prepared statements by SQL text: preparing costs more than running, and every call runs several. */
  readonly #statements = new Map<string, Database.Statement>();
  /** When the next key deletion or automatic rotation falls due (ms); 0 forces the next call to look. */
  #nextSweepAt = 0;
  /**
   * After a sweep that could not destroy or rotate a due key (kms.db full, the audit log unavailable), no new attempt
   * before this time (ms): each attempt writes an audit event and its failure, and every call would make one.
   */
  #sweepRetryAt = 0;
  readonly #root: KeyWrapper;
  readonly #ownsRoot: boolean;
  readonly #audit: AuditSink;
  readonly #auditLog: AuditLog | undefined;
  readonly #clock: () => Date;
  readonly #cache = new Map<string, Uint8Array>();
  readonly #policies = new Map<string, Policy>();
  /**
   * Each key's grants by grantee (see {@link LocalKms.#grantIndex}), kept across transactions like parsed policies:
   * dropped when the key's grants change, when its key is deleted, and on every rollback.
   */
  readonly #grantIndexes = new Map<string, GranteeIndex<GrantRow>>();
  /** Keys whose grants the open transaction changed: their indexes may hold uncommitted grants until it ends. */
  readonly #grantsTouched = new Set<string>();
  /** Committed rows read outside any transaction (see #cached), dropped whenever a transaction begins or ends. */
  readonly #reads = new Map<string, unknown>();
  /** Bumped when a transaction begins or ends: a lock-free call that saw it change retries under the lock. */
  #generation = 0;
  /** Usage counts not yet in the database, by key id, operation and month (see #countUsage). */
  readonly #usage = new Map<
    string,
    {
      keyId: string;
      operation: string;
      month: string;
      count: number;
      lastUsed: number;
      requestId: string;
      eventId: string;
    }
  >();
  readonly #usageTimer: NodeJS.Timeout;
  /** The UTC month of the last counted call and its bounds (ms), so counting does not format a date per call. */
  #month = { name: "", from: 0, to: 0 };
  /** How many customer managed keys kms.db holds (the CreateKey quota), counted on first need; undefined when unsure. */
  #customerKeys: number | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  /** Set when the open transaction changed keys or key material, so its commit must be durable. */
  #mustSync = true;
  /** Audit appends of read-only calls in flight, awaited by close. */
  readonly #appending = new Set<Promise<unknown>>();
  /** Read-only calls on the lock-free path (with their retry under the lock), awaited by close. */
  readonly #unlocked = new Set<Promise<unknown>>();
  /** Set when close() is called: calls made from then on are refused; the ones made before still answer. */
  #closing: Promise<void> | undefined;
  #closed = false;

  private constructor(init: {
    location: KmsLocation;
    dataDir: string;
    db: Database.Database;
    root: KeyWrapper;
    ownsRoot: boolean;
    audit: AuditSink;
    auditLog: AuditLog | undefined;
    clock: () => Date;
  }) {
    this.location = init.location;
    this.dataDir = init.dataDir;
    this.#db = init.db;
    this.#root = init.root;
    this.#ownsRoot = init.ownsRoot;
    this.#audit = init.audit;
    this.#auditLog = init.auditLog;
    this.#clock = init.clock;
    this.#usageTimer = setInterval(() => {
      // A failed write keeps the counts in memory for the next attempt.
      if (this.#usage.size > 0 && !this.#closed)
        this.#exclusive(async () => this.#flushUsage()).catch(() => {});
    }, USAGE_FLUSH_MS);
    this.#usageTimer.unref();
  }

  /**
   * Opens (creating on first start) the KMS in `options.dataDir`, checks that the root key opens it, then
   * destroys keys past their deletion date and rotates keys whose rotation is due.
   * @throws {TypeError} for malformed options
   * @throws {KmsError} KMSInternalException when the root key is missing or is not the one the data dir was
   * created with, or the database is newer than this code; when the data dir is not a usable directory (a file, a
   * dangling symlink, a path over 489 bytes, writable by group or others, owned by another user, files the process
   * cannot read and write), is full or read-only, is held by another LocalKms, or has lost its kms.db while its
   * audit log records keys; each message says what to fix
   */
  static async open(options: LocalKmsOptions): Promise<LocalKms> {
    if (typeof options !== "object" || options === null) throw new TypeError(`"options" expected an object`);
    const { dataDir } = options;
    if (typeof dataDir !== "string" || dataDir.length === 0)
      throw new TypeError(`"dataDir" expected a non-empty string`);
    const location: KmsLocation = {
      partition: options.partition ?? "aws",
      region: options.region ?? "us-east-1",
      account: options.account ?? "111122223333",
    };
    if (!/^aws(-[a-z]+)*$/.test(location.partition))
      throw new TypeError(`"partition" expected a partition such as "aws"`);
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(location.region))
      throw new TypeError(`"region" expected a region such as "us-east-1"`);
    if (!/^\d{12}$/.test(location.account)) throw new TypeError(`"account" expected a 12-digit account id`);
    const clock = options.clock ?? (() => new Date());
    try {
      prepareDataDir(dataDir);
    } catch (cause) {
      throw new KmsError("KMSInternalException", (cause as Error).message, { cause });
    }
    const lost = lostDatabaseProblem(dataDir);
    if (lost !== undefined) throw new KmsError("KMSInternalException", lost);
    const db = openKmsDb(dataDir);
    let root: KeyWrapper | undefined;
    let ownsRoot = true;
    let auditLog: AuditLog | undefined;
    try {
      ({ root, ownsRoot } = await openRootKey(db, dataDir, options.rootKey));
      let audit: AuditSink;
      if (options.audit && typeof (options.audit as AuditSink).append === "function") {
        audit = options.audit as AuditSink;
      } else {
        auditLog = await AuditLog.open(dataDir, {
          region: location.region,
          clock,
          ...(options.audit as AuditLogOptions),
        });
        audit = auditLog;
      }
      const kms = new LocalKms({ location, dataDir, db, root, ownsRoot, audit, auditLog, clock });
      await kms.#exclusive(() => kms.#sweep());
      return kms;
    } catch (error) {
      await auditLog?.close().catch(() => {});
      if (ownsRoot) await root?.close?.().catch(() => {});
      db.close();
      if (error instanceof TypeError || error instanceof RangeError) throw error;
      // The audit log's database, or kms.db read and written at start (the root check, the sweep): SQLite's words
      // name no file and no remedy.
      const code = sqliteCode(error) || sqliteCode((error as { cause?: unknown }).cause);
      const explained = code ? explainOpenFailure(dataDir, code) : undefined;
      if (explained !== undefined) {
        throw new KmsError("KMSInternalException", `cannot open the data dir ${dataDir}: ${explained}`, {
          cause: error,
        });
      }
      if (KmsError.isInstance(error)) throw error;
      if (SealkitError.isInstance(error)) {
        throw new KmsError("KMSInternalException", error.message, { cause: error });
      }
      if (storeProblem(error) !== undefined) {
        throw new KmsError(
          "KMSInternalException",
          `cannot open the data dir ${dataDir}: ${(error as Error).message} (${code})`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /**
   * Re-wraps every backing key of a closed data dir under a new root key, in one transaction: from a key file
   * to a passphrase or an HSM KeyWrapper, from one passphrase to another, or to a new key file (`{ file }`, created
   * with mode 0600 if missing; it must not be the current file). Backing keys and ciphertexts are unchanged.
   * Afterwards the old root key no longer opens the data dir; delete an old key file yourself once backed up.
   * @throws {KmsError} KMSInternalException when `from` does not open the data dir
   * @throws {TypeError} for malformed options or a `to` file that is the current one
   */
  static async changeRootKey(options: {
    dataDir: string;
    from?: LocalKmsOptions["rootKey"];
    to: NonNullable<LocalKmsOptions["rootKey"]>;
  }): Promise<{ rewrapped: number }> {
    if (typeof options !== "object" || options === null) throw new TypeError(`"options" expected an object`);
    const { dataDir } = options;
    if (typeof dataDir !== "string" || !existsSync(join(dataDir, "kms.db"))) {
      throw new TypeError(`"dataDir" expected an existing data dir with a kms.db`);
    }
    if (typeof options.to !== "object" || options.to === null)
      throw new TypeError(`"to" expected a root key option`);
    const db = openKmsDb(dataDir, "The root key could not be changed: ");
    let old: { root: KeyWrapper; ownsRoot: boolean } | undefined;
    let next: { root: KeyWrapper; ownsRoot: boolean; kind: string; argon2?: string } | undefined;
    try {
      old = await openRootKey(db, dataDir, options.from);
      const storedFile = (
        db.prepare("SELECT value FROM meta WHERE name = 'root_file'").get() as { value: string } | undefined
      )?.value;
      const currentFile =
        (options.from as { file?: string } | undefined)?.file ?? storedFile ?? join(dataDir, "root.key");
      next = await newRootKey(options.to, currentFile);
      const versions = db.prepare("SELECT key_id, version, wrapped FROM key_versions").all() as {
        key_id: string;
        version: number;
        wrapped: Uint8Array;
      }[];
      const rewrapped: { key_id: string; version: number; wrapped: Uint8Array }[] = [];
      for (const v of versions) {
        const aad = backingKeyAad(v.key_id, v.version);
        const material = await old.root.unwrap(new Uint8Array(v.wrapped), aad);
        try {
          rewrapped.push({
            key_id: v.key_id,
            version: v.version,
            wrapped: await next.root.wrap(material, aad),
          });
        } finally {
          wipe(material);
        }
      }
      const check = await next.root.wrap(ROOT_CHECK_VALUE, ROOT_CHECK_AAD);
      const root = next;
      db.transaction(() => {
        const update = db.prepare("UPDATE key_versions SET wrapped = ? WHERE key_id = ? AND version = ?");
        for (const r of rewrapped) update.run(r.wrapped, r.key_id, r.version);
        const set = db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)");
        set.run("root_kind", root.kind);
        set.run("root_description", root.root.description);
        set.run("root_check", btoa(String.fromCharCode(...check)));
        if (root.argon2) set.run("argon2", root.argon2);
        else db.prepare("DELETE FROM meta WHERE name = 'argon2'").run();
        const file = (options.to as { file?: string }).file;
        if (root.kind === "file" && file !== undefined) set.run("root_file", file);
        else db.prepare("DELETE FROM meta WHERE name = 'root_file'").run();
      }).immediate();
      return { rewrapped: rewrapped.length };
    } catch (error) {
      if (KmsError.isInstance(error) || error instanceof TypeError || error instanceof RangeError)
        throw error;
      throw new KmsError(
        "KMSInternalException",
        `The root key could not be changed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    } finally {
      if (old?.ownsRoot) await old.root.close?.();
      if (next?.ownsRoot) await next.root.close?.();
      db.close();
    }
  }

  /** The built-in audit log (query, verify), or undefined when a custom sink was given. */
  get auditLog(): AuditLog | undefined {
    return this.#auditLog;
  }

  /**
   * Waits for calls in progress (every call made before close() answers as it would have; calls made after it are
   * refused with KMSInternalException), wipes cached backing keys and closes the database, the audit log and the
   * root key. Everything is released even when one of them fails to close; the first failure is then thrown (to the
   * first close() only: a second one waits for the first and returns).
   * @throws {KmsError} KMSInternalException when the audit log cannot write its final digest (a full disk); the
   * data dir is closed anyway, and the next open signs the events the digest would have covered
   */
  async close(): Promise<void> {
    if (this.#closing !== undefined) {
      await this.#closing.catch(() => {});
      return;
    }
    this.#closing = this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    // Lock-free calls made before close() finish first, retrying under the lock if they must; no new ones start.
    while (this.#unlocked.size > 0) await Promise.allSettled([...this.#unlocked]);
    await this.#exclusive(async () => {
      this.#closed = true;
    });
    await Promise.allSettled([...this.#appending]);
    clearInterval(this.#usageTimer);
    try {
      this.#flushUsage();
    } catch {
      // Usage counts are statistics: a store that fails now must not keep close from releasing the rest.
    }
    for (const key of this.#cache.values()) wipe(key);
    this.#cache.clear();
    // The audit log's close writes a final digest, which a full disk refuses: the root key and kms.db (and with it
    // the data dir's lock) are released all the same, or the data dir would stay locked until the process ends.
    try {
      await this.#audit.close?.();
    } finally {
      try {
        if (this.#ownsRoot) await this.#root.close?.();
      } finally {
        this.#db.close();
      }
    }
  }

  /**
   * The key ARN a key id, key ARN, alias name or alias ARN names now, without a policy check or an audit event
   * (for in-process providers deciding which keys they may open). Undefined when it names no usable key.
   */
  resolveKeyArn(keyId: string): string | undefined {
    try {
      const parsed = parseKeyId(keyId, this.location, true);
      const id = parsed.kind === "key" ? parsed.id : this.#aliasRow(parsed.name)?.key_id;
      if (!id) return undefined;
      const row = this.#keyRow(id);
      return row && row.kind !== "owned" ? keyArn(this.location, row.id) : undefined;
    } catch {
      return undefined;
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Keys

  /**
   * CreateKey: a customer managed symmetric key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT, origin AWS_KMS).
   * @throws {KmsError} MalformedPolicyDocumentException (bad policy, or one locking the caller out),
   * UnsupportedOperationException (other key specs, usages, origins, multi-Region), TagException, ValidationException,
   * LimitExceededException (100,000 customer managed keys, pending deletion included, AWS KMS's quota)
   */
  async createKey(caller: Caller, request: CreateKeyRequest = {}): Promise<{ KeyMetadata: KeyMetadata }> {
    return this.#call(
      "CreateKey",
      caller,
      request,
      {
        readOnly: false,
        params: (r) =>
          pick(r, [
            "Description",
            "KeyUsage",
            "KeySpec",
            "Origin",
            "BypassPolicyLockoutSafetyCheck",
            "Tags",
            "MultiRegion",
          ]),
        response: (r) => ({ keyMetadata: auditMetadata(r.KeyMetadata) }),
      },
      async (ctx) => {
        const req = objectRequest(request);
        // Every failed model constraint, in the model's member order; then the service's rules.
        const v = new Violations();
        if (req.Policy !== undefined && req.Policy !== null) v.check(() => checkPolicyText(req.Policy));
        const description = v.check(() => optionalString(req.Description, "Description", 0, 8192) ?? "");
        v.check(() =>
          checkEnum(
            req.KeyUsage,
            "KeyUsage",
            ["ENCRYPT_DECRYPT"],
            ["SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"],
          ),
        );
        v.check(() =>
          checkEnum(req.CustomerMasterKeySpec, "CustomerMasterKeySpec", ["SYMMETRIC_DEFAULT"], KEY_SPECS),
        );
        v.check(() => checkEnum(req.KeySpec, "KeySpec", ["SYMMETRIC_DEFAULT"], KEY_SPECS));
        v.check(() =>
          checkEnum(req.Origin, "Origin", ["AWS_KMS"], ["EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"]),
        );
        v.check(() => checkCustomKeyStoreIdMember(req.CustomKeyStoreId));
        const tags = v.check(() => checkTags(req.Tags));
        v.check(() => checkXksKeyIdMember(req.XksKeyId));
        v.throwIfAny();
        // Ignoring them would make a key in the default key store the caller did not ask for.
        if (req.CustomKeyStoreId != null || req.XksKeyId != null)
          throw new KmsError(
            "UnsupportedOperationException",
            "Custom key stores are not supported by this KMS.",
          );
        if (req.MultiRegion === true)
          throw new KmsError(
            "UnsupportedOperationException",
            "Multi-Region keys are not supported by this KMS.",
          );
        this.#checkAccountCaller(caller, "kms:CreateKey");
        const keys = this.#customerKeyCount();
        if (keys >= MAX_CUSTOMER_KEYS)
          throw new KmsError(
            "LimitExceededException",
            `The account has ${MAX_CUSTOMER_KEYS.toLocaleString("en-US")} customer managed keys (keys pending deletion included), the most it may have: delete keys first.`,
          );
        const id = randomUUID();
        const arn = keyArn(this.location, id);
        let policyJson: string;
        if (req.Policy !== undefined) {
          policyJson = checkPolicyText(req.Policy);
          const policy = parsePolicy(policyJson);
          if (
            req.BypassPolicyLockoutSafetyCheck !== true &&
            !checkLockout(policy, caller.principal, caller.account, { keyArn: arn })
          ) {
            throw lockoutError();
          }
        } else {
          policyJson = defaultKeyPolicy(this.location.account, this.location.partition);
        }
        const row = await this.#insertKey(id, "customer", null, description, policyJson);
        this.#customerKeys = keys + 1;
        for (const tag of tags)
          this.#sql("INSERT INTO tags (key_id, tag_key, tag_value) VALUES (?, ?, ?)").run(
            id,
            tag.TagKey,
            tag.TagValue,
          );
        ctx.arns.push(arn);
        ctx.keyIds.push(id);
        return { KeyMetadata: this.#metadata(row) };
      },
    );
  }

  /**
   * The AWS managed key of `service` (alias `alias/aws/<service>`), created on first use. Users may use it (through
   * the service, see README) and describe it, but not change its policy, rotation or state.
   * @throws {KmsError} ValidationException for a malformed service name, AccessDeniedException
   */
  async serviceKey(caller: Caller, service: string): Promise<{ KeyMetadata: KeyMetadata }> {
    return this.#call(
      "DescribeKey",
      caller,
      { service },
      { readOnly: true, params: () => ({ keyId: `${RESERVED_ALIAS_PREFIX}${String(service)}` }) },
      async (ctx) => {
        if (typeof service !== "string" || !/^[a-z0-9-]{1,64}$/.test(service)) {
          throw validation("service must be 1 to 64 lower-case letters, digits or hyphens");
        }
        const row = await this.#resolve(`${RESERVED_ALIAS_PREFIX}${service}`, ctx, {
          allowAlias: true,
          createServiceKey: true,
        });
        this.#authorize(caller, row, "DescribeKey", {});
        return { KeyMetadata: this.#metadata(row) };
      },
    );
  }

  /**
   * DescribeKey. Accepts every key identifier form; an `alias/aws/<service>` alias creates its AWS managed key.
   * @throws {KmsError} NotFoundException, AccessDeniedException
   */
  async describeKey(
    caller: Caller,
    request: { KeyId: string; GrantTokens?: string[] },
  ): Promise<{ KeyMetadata: KeyMetadata }> {
    return this.#call("DescribeKey", caller, request, { readOnly: true, params: keyParams }, async (ctx) => {
      const req = objectRequest(request);
      // The model's constraints before the key is looked up, every failed one reported (AWS's order).
      const v = new Violations();
      v.check(() => checkKeyIdMember(req.KeyId));
      v.check(() => checkGrantTokenList(req.GrantTokens));
      v.throwIfAny();
      const row = await this.#resolve(req.KeyId, ctx, {
        allowAlias: true,
        createServiceKey: true,
      });
      this.#authorize(caller, row, "DescribeKey", {
        grantTokens: request.GrantTokens,
        requestAlias: requestAliasOf(request.KeyId),
      });
      return { KeyMetadata: this.#metadata(row) };
    });
  }

  /**
   * ListKeys: customer and AWS managed keys of the account (service owned keys are never listed), by creation.
   * @throws {KmsError} InvalidMarkerException, ValidationException, AccessDeniedException (caller of another account)
   */
  async listKeys(
    caller: Caller,
    request: { Limit?: number; Marker?: string } = {},
  ): Promise<{ Keys: { KeyId: string; KeyArn: string }[] } & ListResponse> {
    return this.#call(
      "ListKeys",
      caller,
      request,
      { readOnly: true, params: (r) => pick(r, ["Limit", "Marker"]) },
      async () => {
        const req = objectRequest(request);
        const limit = checkLimit(req.Limit, 1000, 100);
        const after = decodeMarker(req.Marker, "ListKeys", ["n", "s"]) ?? [-1, ""];
        this.#checkAccountCaller(caller, "kms:ListKeys");
        const rows = this.#sql(
          "SELECT id, created_at FROM keys WHERE kind != 'owned' AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?",
        ).all(after[0], after[1], limit + 1) as { id: string; created_at: number }[];
        const { page, ...info } = pageOf(rows, limit, "ListKeys", (r) => [r.created_at, r.id]);
        return { Keys: page.map((r) => ({ KeyId: r.id, KeyArn: keyArn(this.location, r.id) })), ...info };
      },
    );
  }

  /**
   * UpdateKeyDescription.
   * @throws {KmsError} NotFoundException, KMSInvalidStateException (pending deletion), AccessDeniedException
   */
  async updateKeyDescription(
    caller: Caller,
    request: { KeyId: string; Description: string },
  ): Promise<Record<string, never>> {
    return this.#call(
      "UpdateKeyDescription",
      caller,
      request,
      {
        readOnly: false,
        params: (r) => ({ ...keyParams(r), description: (r as { Description?: unknown }).Description }),
      },
      async (ctx) => {
        // The model's constraints are checked before the key is looked up, as AWS validates its model first, and
        // every failed one is reported, in member order.
        const req = objectRequest(request);
        const v = new Violations();
        v.check(() => checkKeyIdMember(req.KeyId));
        const description = v.check(() => checkString(req.Description, "Description", 0, 8192));
        v.throwIfAny();
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "UpdateKeyDescription", {});
        this.#checkCustomerManaged(row);
        this.#checkNotPendingDeletion(row);
        this.#sql("UPDATE keys SET description = ? WHERE id = ?").run(description, row.id);
        return {};
      },
    );
  }

  /**
   * EnableKey: Disabled → Enabled (Enabled stays Enabled).
   * @throws {KmsError} KMSInvalidStateException when pending deletion, NotFoundException, AccessDeniedException
   */
  async enableKey(caller: Caller, request: { KeyId: string }): Promise<Record<string, never>> {
    return this.#stateChange("EnableKey", caller, request, (row) => {
      this.#checkNotPendingDeletion(row);
      this.#sql("UPDATE keys SET state = 'Enabled' WHERE id = ?").run(row.id);
    });
  }

  /**
   * DisableKey: Enabled → Disabled (Disabled stays Disabled).
   * @throws {KmsError} KMSInvalidStateException when pending deletion, NotFoundException, AccessDeniedException
   */
  async disableKey(caller: Caller, request: { KeyId: string }): Promise<Record<string, never>> {
    return this.#stateChange("DisableKey", caller, request, (row) => {
      this.#checkNotPendingDeletion(row);
      this.#sql("UPDATE keys SET state = 'Disabled' WHERE id = ?").run(row.id);
    });
  }

  /**
   * ScheduleKeyDeletion: Enabled or Disabled → PendingDeletion, for 7 to 30 days (default 30). At the deletion
   * date the key, its aliases, grants, tags and every backing-key version are destroyed.
   * @throws {KmsError} KMSInvalidStateException when already pending deletion, ValidationException, NotFoundException
   */
  async scheduleKeyDeletion(
    caller: Caller,
    request: { KeyId: string; PendingWindowInDays?: number },
  ): Promise<{
    KeyId: string;
    DeletionDate: Date;
    KeyState: "PendingDeletion";
    PendingWindowInDays: number;
  }> {
    return this.#call(
      "ScheduleKeyDeletion",
      caller,
      request,
      {
        readOnly: false,
        params: (r) => ({
          ...keyParams(r),
          pendingWindowInDays: (r as { PendingWindowInDays?: unknown }).PendingWindowInDays,
        }),
        response: (r) => ({
          keyId: r.KeyId,
          deletionDate: r.DeletionDate.toISOString(),
          keyState: r.KeyState,
          pendingWindowInDays: r.PendingWindowInDays,
        }),
      },
      async (ctx) => {
        // The model's range (1 to 365) before the key is looked up, as AWS validates its model first; the service's
        // 7 to 30 days after.
        const req = objectRequest(request);
        const pendingDays = req.PendingWindowInDays;
        const v = new Violations();
        v.check(() => checkKeyIdMember(req.KeyId));
        if (pendingDays !== undefined) v.check(() => checkInt(pendingDays, "PendingWindowInDays", 1, 365));
        v.throwIfAny();
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "ScheduleKeyDeletion", {
          ...(typeof pendingDays === "number"
            ? { extra: { "kms:ScheduleKeyDeletionPendingWindowInDays": String(pendingDays) } }
            : {}),
        });
        this.#checkCustomerManaged(row);
        const days = pendingDays === undefined ? 30 : (pendingDays as number);
        // AWS KMS's words for a window the model allows and the service does not (observed on AWS).
        if (days < 7 || days > 30) throw validation("PendingWindowInDays must be between 7 and 30");
        this.#checkNotPendingDeletion(row);
        const deletionDate = this.#now() + days * DAY;
        this.#sql(
          "UPDATE keys SET state = 'PendingDeletion', deletion_date = ?, pending_window_days = ? WHERE id = ?",
        ).run(deletionDate, days, row.id);
        return {
          KeyId: keyArn(this.location, row.id),
          DeletionDate: new Date(deletionDate),
          KeyState: "PendingDeletion",
          PendingWindowInDays: days,
        };
      },
    );
  }

  /**
   * CancelKeyDeletion: PendingDeletion → Disabled.
   * @throws {KmsError} KMSInvalidStateException when the key is not pending deletion, NotFoundException
   */
  async cancelKeyDeletion(caller: Caller, request: { KeyId: string }): Promise<{ KeyId: string }> {
    return this.#call(
      "CancelKeyDeletion",
      caller,
      request,
      { readOnly: false, params: keyParams },
      async (ctx) => {
        const row = await this.#resolve(objectRequest(request).KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "CancelKeyDeletion", {});
        this.#checkCustomerManaged(row);
        if (row.state !== "PendingDeletion")
          throw invalidState(keyArn(this.location, row.id), "not pending deletion");
        this.#sql(
          "UPDATE keys SET state = 'Disabled', deletion_date = NULL, pending_window_days = NULL WHERE id = ?",
        ).run(row.id);
        return { KeyId: keyArn(this.location, row.id) };
      },
    );
  }

  // ---------------------------------------------------------------------------------------------------------
  // Aliases

  /**
   * CreateAlias: `alias/` followed by letters, digits, `/`, `_` or `-`; `alias/aws/` is reserved.
   * @throws {KmsError} InvalidAliasNameException, AlreadyExistsException, NotFoundException, KMSInvalidStateException,
   * LimitExceededException (the key has 50 aliases, AWS KMS's quota)
   */
  async createAlias(
    caller: Caller,
    request: { AliasName: string; TargetKeyId: string },
  ): Promise<Record<string, never>> {
    return this.#call(
      "CreateAlias",
      caller,
      request,
      { readOnly: false, params: aliasParams },
      async (ctx) => {
        const req = objectRequest(request);
        // Every failed model constraint, in member order; the alias name's own rules after them.
        const v = new Violations();
        const name = v.check(() => checkAliasName(req.AliasName));
        v.check(() => checkKeyIdMember(req.TargetKeyId, "TargetKeyId"));
        v.throwIfAny();
        const row = await this.#resolve(req.TargetKeyId, ctx, { allowAlias: false, field: "TargetKeyId" });
        this.#authorize(caller, row, "CreateAlias", {});
        this.#checkCustomerManaged(row);
        this.#checkNotPendingDeletion(row);
        if (this.#aliasRow(name))
          throw new KmsError(
            "AlreadyExistsException",
            `An alias with the name ${aliasArn(this.location, name)} already exists`,
          );
        this.#checkAliasQuota(row);
        const now = this.#now();
        this.#sql("INSERT INTO aliases (name, key_id, created_at, updated_at) VALUES (?, ?, ?, ?)").run(
          name,
          row.id,
          now,
          now,
        );
        return {};
      },
    );
  }

  /**
   * UpdateAlias: points an existing alias at another customer managed key.
   * @throws {KmsError} NotFoundException (alias or key), InvalidAliasNameException, KMSInvalidStateException,
   * LimitExceededException (the key has 50 aliases)
   */
  async updateAlias(
    caller: Caller,
    request: { AliasName: string; TargetKeyId: string },
  ): Promise<Record<string, never>> {
    return this.#call(
      "UpdateAlias",
      caller,
      request,
      { readOnly: false, params: aliasParams },
      async (ctx) => {
        const req = objectRequest(request);
        // Every failed model constraint, in member order; the alias name's own rules after them.
        const v = new Violations();
        const name = v.check(() => checkAliasName(req.AliasName));
        v.check(() => checkKeyIdMember(req.TargetKeyId, "TargetKeyId"));
        v.throwIfAny();
        const alias = this.#aliasRow(name);
        if (!alias) throw notFound(`Alias ${aliasArn(this.location, name)}`);
        const target = await this.#resolve(req.TargetKeyId, ctx, { allowAlias: false, field: "TargetKeyId" });
        const current = this.#keyRow(alias.key_id)!;
        ctx.arns.push(keyArn(this.location, current.id));
        this.#authorize(caller, target, "UpdateAlias", {});
        this.#authorize(caller, current, "UpdateAlias", {});
        this.#checkCustomerManaged(target);
        this.#checkNotPendingDeletion(target);
        if (alias.key_id !== target.id) this.#checkAliasQuota(target);
        this.#sql("UPDATE aliases SET key_id = ?, updated_at = ? WHERE name = ?").run(
          target.id,
          this.#now(),
          name,
        );
        return {};
      },
    );
  }

  /**
   * DeleteAlias (the key is unaffected).
   * @throws {KmsError} NotFoundException, InvalidAliasNameException for reserved aliases, AccessDeniedException
   */
  async deleteAlias(caller: Caller, request: { AliasName: string }): Promise<Record<string, never>> {
    return this.#call(
      "DeleteAlias",
      caller,
      request,
      { readOnly: false, params: aliasParams },
      async (ctx) => {
        const name = checkAliasName(objectRequest(request).AliasName);
        const alias = this.#aliasRow(name);
        if (!alias) throw notFound(`Alias ${aliasArn(this.location, name)}`);
        const row = this.#keyRow(alias.key_id)!;
        ctx.arns.push(keyArn(this.location, row.id));
        ctx.keyIds.push(row.id);
        this.#authorize(caller, row, "DeleteAlias", {});
        this.#sql("DELETE FROM aliases WHERE name = ?").run(name);
        return {};
      },
    );
  }

  /**
   * ListAliases, optionally of one key (KeyId: key id or ARN), sorted by name.
   * @throws {KmsError} NotFoundException, InvalidMarkerException, ValidationException
   */
  async listAliases(
    caller: Caller,
    request: { KeyId?: string; Limit?: number; Marker?: string } = {},
  ): Promise<{ Aliases: AliasListEntry[] } & ListResponse> {
    return this.#call(
      "ListAliases",
      caller,
      request,
      { readOnly: true, params: (r) => pick(r, ["KeyId", "Limit", "Marker"]) },
      async (ctx) => {
        const req = objectRequest(request);
        const limit = checkLimit(req.Limit, 100, 50);
        const [after] = decodeMarker(req.Marker, "ListAliases", ["s"]) ?? [""];
        let rows: AliasRow[];
        if (req.KeyId !== undefined) {
          const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
          this.#authorize(caller, row, "ListAliases", {});
          rows = this.#sql("SELECT * FROM aliases WHERE key_id = ? AND name > ? ORDER BY name LIMIT ?").all(
            row.id,
            after,
            limit + 1,
          ) as AliasRow[];
        } else {
          this.#checkAccountCaller(caller, "kms:ListAliases");
          rows = this.#sql(
            "SELECT a.* FROM aliases a JOIN keys k ON k.id = a.key_id WHERE k.kind != 'owned' AND a.name > ? ORDER BY a.name LIMIT ?",
          ).all(after, limit + 1) as AliasRow[];
        }
        const { page, ...info } = pageOf(rows, limit, "ListAliases", (a) => [a.name]);
        return {
          Aliases: page.map((a) => ({
            AliasName: a.name,
            AliasArn: aliasArn(this.location, a.name),
            TargetKeyId: a.key_id,
            CreationDate: new Date(a.created_at),
            LastUpdatedDate: new Date(a.updated_at),
          })),
          ...info,
        };
      },
    );
  }

  // ---------------------------------------------------------------------------------------------------------
  // Rotation

  /**
   * EnableKeyRotation with a period of 90 to 2,560 days (default 365); the next rotation is that long from now.
   * @throws {KmsError} DisabledException, KMSInvalidStateException, UnsupportedOperationException (AWS managed keys)
   */
  async enableKeyRotation(
    caller: Caller,
    request: { KeyId: string; RotationPeriodInDays?: number },
  ): Promise<Record<string, never>> {
    return this.#call(
      "EnableKeyRotation",
      caller,
      request,
      {
        readOnly: false,
        params: (r) => ({
          ...keyParams(r),
          rotationPeriodInDays: (r as { RotationPeriodInDays?: unknown }).RotationPeriodInDays,
        }),
      },
      async (ctx) => {
        // 90 to 2,560 is the model's range: checked before the key is looked up, as AWS validates its model first
        // (with the KeyId's, every failed constraint reported).
        const req = objectRequest(request);
        const days = req.RotationPeriodInDays;
        const v = new Violations();
        v.check(() => checkKeyIdMember(req.KeyId));
        const period =
          days === undefined ? 365 : v.check(() => checkInt(days, "RotationPeriodInDays", 90, 2560));
        v.throwIfAny();
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "EnableKeyRotation", {
          ...(typeof days === "number" ? { extra: { "kms:RotationPeriodInDays": String(days) } } : {}),
        });
        this.#checkCustomerManaged(row);
        this.#checkUsable(row);
        this.#sql(
          "UPDATE keys SET rotation_enabled = 1, rotation_period_days = ?, next_rotation_at = ? WHERE id = ?",
        ).run(period, this.#now() + period * DAY, row.id);
        return {};
      },
    );
  }

  /**
   * DisableKeyRotation.
   * @throws {KmsError} DisabledException, KMSInvalidStateException, UnsupportedOperationException (AWS managed keys)
   */
  async disableKeyRotation(caller: Caller, request: { KeyId: string }): Promise<Record<string, never>> {
    return this.#call(
      "DisableKeyRotation",
      caller,
      request,
      { readOnly: false, params: keyParams },
      async (ctx) => {
        const row = await this.#resolve(objectRequest(request).KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "DisableKeyRotation", {});
        this.#checkCustomerManaged(row);
        this.#checkUsable(row);
        this.#sql("UPDATE keys SET rotation_enabled = 0, next_rotation_at = NULL WHERE id = ?").run(row.id);
        return {};
      },
    );
  }

  /**
   * GetKeyRotationStatus. As AWS KMS, a key pending deletion reports `KeyRotationEnabled: false` (and is not
   * rotated); CancelKeyDeletion brings its rotation settings back. A disabled key keeps its status.
   * @throws {KmsError} NotFoundException, AccessDeniedException
   */
  async getKeyRotationStatus(
    caller: Caller,
    request: { KeyId: string },
  ): Promise<{
    KeyId: string;
    KeyRotationEnabled: boolean;
    RotationPeriodInDays?: number;
    NextRotationDate?: Date;
  }> {
    return this.#call(
      "GetKeyRotationStatus",
      caller,
      request,
      { readOnly: true, params: keyParams },
      async (ctx) => {
        const row = await this.#resolve(objectRequest(request).KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "GetKeyRotationStatus", {});
        const enabled = row.rotation_enabled === 1 && row.state !== "PendingDeletion";
        return {
          KeyId: keyArn(this.location, row.id),
          KeyRotationEnabled: enabled,
          ...(enabled
            ? {
                RotationPeriodInDays: row.rotation_period_days!,
                NextRotationDate: new Date(row.next_rotation_at!),
              }
            : {}),
        };
      },
    );
  }

  /**
   * RotateKeyOnDemand: adds a backing-key version now (at most 25 on-demand rotations per key, as AWS).
   * @throws {KmsError} LimitExceededException, DisabledException, KMSInvalidStateException, UnsupportedOperationException
   */
  async rotateKeyOnDemand(caller: Caller, request: { KeyId: string }): Promise<{ KeyId: string }> {
    return this.#call(
      "RotateKeyOnDemand",
      caller,
      request,
      { readOnly: false, params: keyParams },
      async (ctx) => {
        const row = await this.#resolve(objectRequest(request).KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "RotateKeyOnDemand", {});
        this.#checkCustomerManaged(row);
        this.#checkUsable(row);
        if (row.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS) {
          throw new KmsError(
            "LimitExceededException",
            `${keyArn(this.location, row.id)} has reached the limit of ${MAX_ON_DEMAND_ROTATIONS} on-demand rotations.`,
          );
        }
        await this.#addVersion(row, "ON_DEMAND");
        this.#sql("UPDATE keys SET on_demand_rotations = on_demand_rotations + 1 WHERE id = ?").run(row.id);
        return { KeyId: keyArn(this.location, row.id) };
      },
    );
  }

  /**
   * ListKeyRotations: every rotation, oldest first, each with its key material's id and state (CURRENT or
   * NON_CURRENT); with `IncludeKeyMaterial: "ALL_KEY_MATERIAL"` the first key material too (no RotationDate or
   * RotationType), as AWS KMS lists them.
   * @throws {KmsError} NotFoundException, InvalidMarkerException, AccessDeniedException, ValidationException
   */
  async listKeyRotations(
    caller: Caller,
    request: {
      KeyId: string;
      IncludeKeyMaterial?: "ROTATIONS_ONLY" | "ALL_KEY_MATERIAL";
      Limit?: number;
      Marker?: string;
    },
  ): Promise<{ Rotations: RotationsListEntry[] } & ListResponse> {
    return this.#call(
      "ListKeyRotations",
      caller,
      request,
      {
        readOnly: true,
        params: (r) => ({ ...keyParams(r), ...pick(r, ["IncludeKeyMaterial", "Limit", "Marker"]) }),
      },
      async (ctx) => {
        const req = objectRequest(request);
        // The model's constraints before the key is looked up, every failed one reported (AWS's order).
        const v = new Violations();
        v.check(() => checkKeyIdMember(req.KeyId));
        v.check(() => checkEnum(req.IncludeKeyMaterial, "IncludeKeyMaterial", INCLUDE_KEY_MATERIAL, []));
        if (req.Limit !== undefined) v.check(() => checkInt(req.Limit, "Limit", 1, 1000));
        v.check(() => checkMarkerMember(req.Marker));
        v.throwIfAny();
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "ListKeyRotations", {});
        const limit = checkLimit(req.Limit, 1000, 100);
        const first = req.IncludeKeyMaterial === "ALL_KEY_MATERIAL" ? 1 : 2;
        const [after] = decodeMarker(req.Marker, "ListKeyRotations", ["n"]) ?? [0];
        const rows = this.#sql(
          "SELECT * FROM key_versions WHERE key_id = ? AND version >= ? AND version > ? ORDER BY version LIMIT ?",
        ).all(row.id, first, after, limit + 1) as KeyVersionRow[];
        const { page, ...info } = pageOf(rows, limit, "ListKeyRotations", (v) => [v.version]);
        return {
          Rotations: page.map((v) => ({
            KeyId: keyArn(this.location, row.id),
            KeyMaterialId: keyMaterialId(row.id, v.version),
            KeyMaterialState: v.version === row.current_version ? "CURRENT" : "NON_CURRENT",
            ...(v.version > 1
              ? {
                  RotationDate: new Date(v.created_at),
                  RotationType: v.rotation_type as "AUTOMATIC" | "ON_DEMAND",
                }
              : {}),
          })),
          ...info,
        };
      },
    );
  }

  // ---------------------------------------------------------------------------------------------------------
  // Key policies

  /**
   * GetKeyPolicy (PolicyName "default", the only one).
   * @throws {KmsError} NotFoundException, AccessDeniedException
   */
  async getKeyPolicy(
    caller: Caller,
    request: { KeyId: string; PolicyName?: string },
  ): Promise<{ Policy: string; PolicyName: "default" }> {
    return this.#call(
      "GetKeyPolicy",
      caller,
      request,
      {
        readOnly: true,
        params: (r) => ({ ...keyParams(r), policyName: (r as { PolicyName?: unknown }).PolicyName }),
      },
      async (ctx) => {
        const req = objectRequest(request);
        // The model's constraints before the key is looked up, every failed one reported (AWS's order).
        const v = new Violations();
        v.check(() => checkKeyIdMember(req.KeyId));
        v.check(() => checkPolicyNameMember(req.PolicyName));
        v.throwIfAny();
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "GetKeyPolicy", {});
        checkPolicyName(request.PolicyName);
        return { Policy: this.#policyJson(row.id), PolicyName: "default" };
      },
    );
  }

  /**
   * PutKeyPolicy, refusing a policy under which the caller could no longer change it unless
   * BypassPolicyLockoutSafetyCheck is true (which the request then carries as kms:BypassPolicyLockoutSafetyCheck).
   * Allowed in every key state, as AWS KMS.
   * @throws {KmsError} MalformedPolicyDocumentException, UnsupportedOperationException (AWS managed keys),
   * NotFoundException, AccessDeniedException
   */
  async putKeyPolicy(
    caller: Caller,
    request: { KeyId: string; Policy: string; PolicyName?: string; BypassPolicyLockoutSafetyCheck?: boolean },
  ): Promise<Record<string, never>> {
    return this.#call(
      "PutKeyPolicy",
      caller,
      request,
      {
        readOnly: false,
        params: (r) => ({
          ...keyParams(r),
          ...pick(r, ["PolicyName", "BypassPolicyLockoutSafetyCheck"]),
          // A document over the size quota is refused and never stored: its text (up to 131,072 characters,
          // six times that as escaped JSON) would overflow the audit event and fail the call closed.
          ...(typeof (r as { Policy?: unknown }).Policy === "string" &&
          Buffer.byteLength((r as { Policy: string }).Policy) <= MAX_POLICY_LENGTH
            ? pick(r, ["Policy"])
            : {}),
        }),
      },
      async (ctx) => {
        const req = objectRequest(request);
        // The model's constraints first, all of them, in member order (the policy's text included), then the key.
        const v = new Violations();
        v.check(() => checkKeyIdMember(req.KeyId));
        v.check(() => checkPolicyNameMember(req.PolicyName));
        const json = v.check(() => checkPolicyText(req.Policy));
        v.throwIfAny();
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        const bypass = req.BypassPolicyLockoutSafetyCheck;
        // kms:BypassPolicyLockoutSafetyCheck is set only when the request has the parameter (AWS's Null example).
        this.#authorize(caller, row, "PutKeyPolicy", {
          ...(typeof bypass === "boolean"
            ? { extra: { "kms:BypassPolicyLockoutSafetyCheck": String(bypass) } }
            : {}),
        });
        this.#checkCustomerManaged(row);
        checkPolicyName(req.PolicyName);
        const policy = parsePolicy(json);
        if (
          req.BypassPolicyLockoutSafetyCheck !== true &&
          !checkLockout(policy, caller.principal, caller.account, { keyArn: keyArn(this.location, row.id) })
        ) {
          throw lockoutError();
        }
        // Allowed in every key state, PendingDeletion included (AWS's key state table).
        this.#sql("UPDATE policies SET document = ? WHERE key_id = ? AND name = 'default'").run(json, row.id);
        this.#policies.delete(row.id);
        return {};
      },
    );
  }

  /**
   * ListKeyPolicies: always `["default"]`.
   * @throws {KmsError} NotFoundException, AccessDeniedException
   */
  async listKeyPolicies(
    caller: Caller,
    request: { KeyId: string; Limit?: number; Marker?: string },
  ): Promise<{ PolicyNames: string[] } & ListResponse> {
    return this.#call(
      "ListKeyPolicies",
      caller,
      request,
      { readOnly: true, params: keyParams },
      async (ctx) => {
        const req = objectRequest(request);
        // The model's constraints before the key is looked up, every failed one reported (AWS's order).
        const v = new Violations();
        v.check(() => checkKeyIdMember(req.KeyId));
        if (req.Limit !== undefined) v.check(() => checkInt(req.Limit, "Limit", 1, 1000));
        v.check(() => checkMarkerMember(req.Marker));
        v.throwIfAny();
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "ListKeyPolicies", {});
        checkLimit(req.Limit, 1000, 100);
        // One policy, one page: this KMS never issues a ListKeyPolicies marker. AWS's model gives ListKeyPolicies no
        // InvalidMarkerException, so a marker it did not issue is a ValidationException (the common error).
        try {
          decodeMarker(req.Marker, "ListKeyPolicies", ["s"]);
        } catch (e) {
          if (KmsError.isInstance(e, "InvalidMarkerException")) throw validation("The marker is not valid.");
          throw e;
        }
        return { PolicyNames: ["default"], Truncated: false };
      },
    );
  }

  // ---------------------------------------------------------------------------------------------------------
  // Grants

  /**
   * CreateGrant. A grant with the same Name and the same parameters is returned again rather than duplicated.
   * At most 50,000 grants per key, AWS KMS's quota.
   * @throws {KmsError} ValidationException, NotFoundException, DisabledException (disabled key),
   * KMSInvalidStateException (pending deletion), AccessDeniedException, InvalidGrantTokenException,
   * LimitExceededException (the key has 50,000 grants),
   * DryRunOperationException (`DryRun: true` and every check passed; no grant is made)
   */
  async createGrant(
    caller: Caller,
    request: CreateGrantRequest,
  ): Promise<{ GrantToken: string; GrantId: string }> {
    return this.#call(
      "CreateGrant",
      caller,
      request,
      {
        readOnly: false,
        params: (r) => ({
          ...keyParams(r),
          ...pick(r, ["GranteePrincipal", "RetiringPrincipal", "Operations", "Constraints", "Name"]),
        }),
        response: (r) => ({ grantId: r.GrantId }),
      },
      async (ctx) => {
        const req = objectRequest(request);
        // The request's members are validated before the key is looked up, as AWS validates its model first:
        // every failed constraint, in the model's member order; then the service's rules (principal ARNs,
        // operations for the key's usage, constraints against operations).
        const v = new Violations();
        v.check(() => checkKeyIdMember(req.KeyId));
        const grantee = v.check(() => validateGrantPrincipal(req.GranteePrincipal, "GranteePrincipal"));
        const retiring =
          req.RetiringPrincipal === undefined || req.RetiringPrincipal === null
            ? undefined
            : v.check(() => validateGrantPrincipal(req.RetiringPrincipal, "RetiringPrincipal"));
        const operations = v.check(() => validateGrantOperations(req.Operations));
        v.check(() => checkGrantTokenList(req.GrantTokens));
        const name =
          req.Name === undefined || req.Name === null
            ? undefined
            : v.check(() => validateGrantName(req.Name));
        const dry = v.check(() => isDryRun(req.DryRun));
        v.throwIfAny();
        const constraints = validateGrantConstraints(req.Constraints, operations);
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "CreateGrant", {
          // kms:EncryptionContext:<key> and kms:EncryptionContextKeys of a CreateGrant request are those of its
          // grant constraint (AWS KMS condition keys: both list CreateGrant among their operations).
          ...(constraints
            ? { context: constraints.EncryptionContextEquals ?? constraints.EncryptionContextSubset }
            : {}),
          grantTokens: req.GrantTokens,
          newGrant: constraints ? { operations, constraints } : { operations },
          extra: {
            "kms:GrantOperations": operations,
            "kms:GranteePrincipal": grantee,
            ...(retiring ? { "kms:RetiringPrincipal": retiring } : {}),
            ...(constraints
              ? {
                  "kms:GrantConstraintType": constraints.EncryptionContextEquals
                    ? "EncryptionContextEquals"
                    : "EncryptionContextSubset",
                }
              : {}),
          },
        });
        // Disabled → DisabledException, PendingDeletion → KMSInvalidStateException (AWS's key state table).
        this.#checkUsable(row);
        const operationsJson = JSON.stringify([...operations].sort());
        const constraintsJson = constraints ? JSON.stringify(constraints) : null;
        const same =
          name === undefined
            ? undefined
            : (this.#sql(
                "SELECT * FROM grants WHERE key_id = ? AND name = ? AND grantee = ? AND retiring IS ? AND operations = ? AND constraints IS ?",
              ).get(row.id, name, grantee, retiring ?? null, operationsJson, constraintsJson) as
                | GrantRow
                | undefined);
        // AWS KMS's resource quota; it also bounds the grants every authorization of the key may have to read.
        if (same === undefined) {
          const { n } = this.#sql("SELECT count(*) AS n FROM grants WHERE key_id = ?").get(row.id) as {
            n: number;
          };
          if (n >= MAX_GRANTS_PER_KEY)
            throw new KmsError(
              "LimitExceededException",
              `${keyArn(this.location, row.id)} has ${MAX_GRANTS_PER_KEY.toLocaleString("en-US")} grants, the most a key may have: retire or revoke grants first.`,
            );
        }
        if (dry) throw dryRun();
        // A retry returns the same grant with a new token, as AWS KMS does.
        if (same) return { GrantToken: encodeGrantToken(same.grant_id), GrantId: same.grant_id };
        const grantId = newGrantId();
        const token = encodeGrantToken(grantId);
        const created: GrantRow = {
          grant_id: grantId,
          key_id: row.id,
          name: name ?? null,
          grantee,
          retiring: retiring ?? null,
          operations: operationsJson,
          constraints: constraintsJson,
          issuing_account: caller.account,
          created_at: this.#now(),
          token,
        };
        this.#sql(
          `INSERT INTO grants (grant_id, key_id, name, grantee, retiring, operations, constraints, issuing_account, created_at, token)
             VALUES (@grant_id, @key_id, @name, @grantee, @retiring, @operations, @constraints, @issuing_account, @created_at, @token)`,
        ).run(created);
        this.#grantsChanged(row.id, (index) => index.add(created));
        return { GrantToken: token, GrantId: grantId };
      },
    );
  }

  /**
   * ListGrants of a key, optionally filtered by GrantId or GranteePrincipal.
   * @throws {KmsError} NotFoundException, InvalidMarkerException, InvalidGrantIdException, AccessDeniedException
   */
  async listGrants(
    caller: Caller,
    request: { KeyId: string; Limit?: number; Marker?: string; GrantId?: string; GranteePrincipal?: string },
  ): Promise<{ Grants: GrantListEntry[] } & ListResponse> {
    return this.#call(
      "ListGrants",
      caller,
      request,
      {
        readOnly: true,
        params: (r) => ({ ...keyParams(r), ...pick(r, ["Limit", "Marker", "GrantId", "GranteePrincipal"]) }),
      },
      async (ctx) => {
        const req = objectRequest(request);
        // The model's constraints before the key is looked up (Limit's model range is 1 to 1,000; ListGrants'
        // own 100 is the service's, checked after), every failed one reported.
        const v = new Violations();
        if (req.Limit !== undefined) v.check(() => checkInt(req.Limit, "Limit", 1, 1000));
        v.check(() => checkMarkerMember(req.Marker));
        v.check(() => checkKeyIdMember(req.KeyId));
        v.check(() => checkGrantIdMember(req.GrantId));
        v.check(() => checkPrincipalMember(req.GranteePrincipal, "GranteePrincipal"));
        v.throwIfAny();
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "ListGrants", {});
        const limit = checkLimit(req.Limit, 100, 50);
        const after = decodeMarker(req.Marker, "ListGrants", ["n", "s"]) ?? [-1, ""];
        if (req.GrantId !== undefined) checkGrantId(req.GrantId);
        const grantee = optionalString(req.GranteePrincipal, "GranteePrincipal", 1, 256);
        const rows = this.#sql(
          `SELECT * FROM grants WHERE key_id = ? AND (? IS NULL OR grant_id = ?) AND (? IS NULL OR grantee = ?)
             AND (created_at, grant_id) > (?, ?) ORDER BY created_at, grant_id LIMIT ?`,
        ).all(
          row.id,
          req.GrantId ?? null,
          req.GrantId ?? null,
          grantee ?? null,
          grantee ?? null,
          after[0],
          after[1],
          limit + 1,
        ) as GrantRow[];
        const { page, ...info } = pageOf(rows, limit, "ListGrants", (g) => [g.created_at, g.grant_id]);
        return { Grants: page.map((g) => this.#grantEntry(g)), ...info };
      },
    );
  }

  /**
   * ListRetirableGrants: the grants on every key of this KMS whose retiring principal is exactly `RetiringPrincipal`
   * (or `RetiringServicePrincipal`; give one of them, not both), oldest first, paged by `Limit` (1 to 100, default
   * 50) and `Marker` (a position: grants retired meanwhile do not make the next page skip any).
   *
   * AWS KMS authorizes it by the IAM permission kms:ListRetirableGrants in the caller's account, for "a principal in
   * your AWS account", and lists grants on keys of any account. There is no IAM here, so, as for ListKeys, every
   * principal of an account may call it for a retiring principal ARN of that account; a retiring principal of
   * another account is AccessDeniedException, and a service principal may list only its own grants. Key policies
   * are not consulted (they do not govern this operation in AWS either).
   * @throws {KmsError} ValidationException (neither or both principals, a malformed member, Limit outside 1 to 100),
   *   InvalidArnException (a RetiringPrincipal that is not a principal ARN or service principal),
   *   InvalidMarkerException, AccessDeniedException
   */
  async listRetirableGrants(
    caller: Caller,
    request: {
      RetiringPrincipal?: string;
      RetiringServicePrincipal?: string;
      Limit?: number;
      Marker?: string;
    },
  ): Promise<{ Grants: GrantListEntry[] } & ListResponse> {
    return this.#call(
      "ListRetirableGrants",
      caller,
      request,
      {
        readOnly: true,
        params: (r) => pick(r, ["RetiringPrincipal", "RetiringServicePrincipal", "Limit", "Marker"]),
      },
      async () => {
        const req = objectRequest(request);
        // The model's constraints first (Limit's model range is 1 to 1,000; the service's is 1 to 100), every
        // failed one reported; then the rule between the two principal members.
        const v = new Violations();
        if (req.Limit !== undefined) v.check(() => checkInt(req.Limit, "Limit", 1, 1000));
        v.check(() => optionalString(req.Marker, "Marker", 1, 1024));
        const absent = (x: unknown) => x === undefined || x === null;
        const principal = absent(req.RetiringPrincipal)
          ? undefined
          : v.check(() => validateGrantPrincipal(req.RetiringPrincipal, "RetiringPrincipal"));
        const service = absent(req.RetiringServicePrincipal)
          ? undefined
          : v.check(() => optionalString(req.RetiringServicePrincipal, "RetiringServicePrincipal", 1, 256));
        v.throwIfAny();
        if ((principal === undefined) === (service === undefined))
          throw validation(
            "You must specify either RetiringPrincipal or RetiringServicePrincipal, but not both.",
          );
        if (service !== undefined && !SERVICE_PRINCIPAL_NAME.test(service))
          throw validation(
            `RetiringServicePrincipal ${service} is not a service principal such as ec2.amazonaws.com`,
          );
        const retiring = (principal ?? service)!;
        if (!canListRetirableGrants(retiring, caller.principal, caller.account)) {
          throw new KmsError(
            "AccessDeniedException",
            `User: ${caller.principal} is not authorized to perform: kms:ListRetirableGrants for the retiring principal ${retiring}: it is not a principal of the caller's account`,
          );
        }
        const limit = checkLimit(req.Limit, 100, 50);
        const after = decodeMarker(req.Marker, "ListRetirableGrants", ["n", "s"]) ?? [-1, ""];
        const rows = this.#sql(
          `SELECT * FROM grants WHERE retiring = ? AND (created_at, grant_id) > (?, ?)
             ORDER BY created_at, grant_id LIMIT ?`,
        ).all(retiring, after[0], after[1], limit + 1) as GrantRow[];
        const { page, ...info } = pageOf(rows, limit, "ListRetirableGrants", (g) => [
          g.created_at,
          g.grant_id,
        ]);
        return { Grants: page.map((g) => this.#grantEntry(g)), ...info };
      },
    );
  }

  /**
   * RetireGrant, by GrantToken or by KeyId and GrantId. Allowed for the retiring principal, the grantee when the
   * grant includes RetireGrant, and principals of the account that issued the grant.
   * @throws {KmsError} InvalidGrantTokenException, InvalidGrantIdException, NotFoundException, AccessDeniedException,
   * DryRunOperationException (`DryRun: true` and the grant could be retired; it is kept)
   */
  async retireGrant(
    caller: Caller,
    request: { GrantToken?: string; KeyId?: string; GrantId?: string; DryRun?: boolean },
  ): Promise<Record<string, never>> {
    return this.#call(
      "RetireGrant",
      caller,
      request,
      { readOnly: false, params: (r) => pick(r, ["KeyId", "GrantId"]) },
      async (ctx) => {
        const req = objectRequest(request);
        const v = new Violations();
        v.check(() => checkGrantTokenMember(req.GrantToken));
        if (req.KeyId != null) v.check(() => checkKeyIdMember(req.KeyId));
        v.check(() => checkGrantIdMember(req.GrantId));
        v.throwIfAny();
        const dry = isDryRun(req.DryRun);
        let grant: GrantRow | undefined;
        if (req.GrantToken !== undefined) {
          const grantId = decodeGrantToken(req.GrantToken);
          grant = this.#sql("SELECT * FROM grants WHERE grant_id = ?").get(grantId) as GrantRow | undefined;
          if (!grant) throw new KmsError("InvalidGrantTokenException", "The grant token is not valid.");
        } else {
          if (req.KeyId === undefined || req.GrantId === undefined)
            throw validation("Specify either GrantToken or both KeyId and GrantId");
          const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
          checkGrantId(req.GrantId);
          grant = this.#sql("SELECT * FROM grants WHERE key_id = ? AND grant_id = ?").get(
            row.id,
            req.GrantId,
          ) as GrantRow | undefined;
          if (!grant) throw notFound(`Grant ${req.GrantId}`);
        }
        const arn = keyArn(this.location, grant.key_id);
        if (!ctx.arns.includes(arn)) ctx.arns.push(arn);
        ctx.keyIds.push(grant.key_id);
        if (!canRetireGrant(this.#grantEntry(grant), caller.principal, caller.account))
          throw accessDenied(caller.principal, "kms:RetireGrant", arn);
        if (dry) throw dryRun();
        this.#sql("DELETE FROM grants WHERE grant_id = ?").run(grant.grant_id);
        const { grant_id: retired, grantee: retiredGrantee } = grant;
        this.#grantsChanged(grant.key_id, (index) =>
          index.delete(retiredGrantee, (g) => g.grant_id === retired),
        );
        return {};
      },
    );
  }

  /**
   * RevokeGrant (key policy action kms:RevokeGrant).
   * @throws {KmsError} NotFoundException, InvalidGrantIdException, AccessDeniedException, DryRunOperationException
   * (`DryRun: true` and the grant could be revoked; it is kept)
   */
  async revokeGrant(
    caller: Caller,
    request: { KeyId: string; GrantId: string; DryRun?: boolean },
  ): Promise<Record<string, never>> {
    return this.#call(
      "RevokeGrant",
      caller,
      request,
      { readOnly: false, params: (r) => pick(r, ["KeyId", "GrantId"]) },
      async (ctx) => {
        const req = objectRequest(request);
        // The model's constraints before the key is looked up, every failed one reported (AWS's order).
        const v = new Violations();
        v.check(() => checkKeyIdMember(req.KeyId));
        v.check(() => checkGrantIdMember(req.GrantId));
        v.throwIfAny();
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        const dry = isDryRun(req.DryRun);
        this.#authorize(caller, row, "RevokeGrant", {});
        checkGrantId(req.GrantId);
        const revoked = this.#sql("SELECT grantee FROM grants WHERE key_id = ? AND grant_id = ?").get(
          row.id,
          req.GrantId,
        ) as { grantee: string } | undefined;
        if (!revoked) throw notFound(`Grant ${req.GrantId}`);
        // The grant exists and could be revoked: a dry run stops here, the grant kept.
        if (dry) throw dryRun();
        this.#sql("DELETE FROM grants WHERE key_id = ? AND grant_id = ?").run(row.id, req.GrantId);
        this.#grantsChanged(row.id, (index) =>
          index.delete(revoked.grantee, (g) => g.grant_id === req.GrantId),
        );
        return {};
      },
    );
  }

  // ---------------------------------------------------------------------------------------------------------
  // Tags

  /**
   * TagResource: adds or replaces tags (at most 50 per key; `aws:` keys are reserved).
   * @throws {KmsError} TagException, LimitExceededException, KMSInvalidStateException, NotFoundException
   */
  async tagResource(caller: Caller, request: { KeyId: string; Tags: Tag[] }): Promise<Record<string, never>> {
    return this.#call(
      "TagResource",
      caller,
      request,
      { readOnly: false, params: (r) => ({ ...keyParams(r), ...pick(r, ["Tags"]) }) },
      async (ctx) => {
        const req = objectRequest(request);
        const v = new Violations();
        v.check(() => checkKeyIdMember(req.KeyId));
        const tags = v.check(() => checkTags(req.Tags, true));
        v.throwIfAny();
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "TagResource", { requestTags: tags });
        this.#checkCustomerManaged(row);
        this.#checkNotPendingDeletion(row);
        const upsert = this.#sql(
          "INSERT INTO tags (key_id, tag_key, tag_value) VALUES (?, ?, ?) ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
        );
        for (const tag of tags) upsert.run(row.id, tag.TagKey, tag.TagValue);
        const count = (
          this.#sql("SELECT count(*) AS n FROM tags WHERE key_id = ?").get(row.id) as { n: number }
        ).n;
        if (count > MAX_TAGS)
          throw new KmsError("LimitExceededException", `A key can have at most ${MAX_TAGS} tags.`);
        return {};
      },
    );
  }

  /**
   * UntagResource.
   * @throws {KmsError} TagException, KMSInvalidStateException, NotFoundException, AccessDeniedException
   */
  async untagResource(
    caller: Caller,
    request: { KeyId: string; TagKeys: string[] },
  ): Promise<Record<string, never>> {
    return this.#call(
      "UntagResource",
      caller,
      request,
      { readOnly: false, params: (r) => ({ ...keyParams(r), ...pick(r, ["TagKeys"]) }) },
      async (ctx) => {
        const req = objectRequest(request);
        const v = new Violations();
        v.check(() => checkKeyIdMember(req.KeyId));
        v.check(() => checkTagKeys(req.TagKeys));
        v.throwIfAny();
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "UntagResource", { tagKeys: req.TagKeys as string[] });
        this.#checkCustomerManaged(row);
        this.#checkNotPendingDeletion(row);
        const del = this.#sql("DELETE FROM tags WHERE key_id = ? AND tag_key = ?");
        for (const k of req.TagKeys as string[]) del.run(row.id, k);
        return {};
      },
    );
  }

  /**
   * ListResourceTags, sorted by tag key.
   * @throws {KmsError} NotFoundException, InvalidMarkerException, AccessDeniedException
   */
  async listResourceTags(
    caller: Caller,
    request: { KeyId: string; Limit?: number; Marker?: string },
  ): Promise<{ Tags: Tag[] } & ListResponse> {
    return this.#call(
      "ListResourceTags",
      caller,
      request,
      { readOnly: true, params: (r) => ({ ...keyParams(r), ...pick(r, ["Limit", "Marker"]) }) },
      async (ctx) => {
        const req = objectRequest(request);
        // The model's constraints before the key is looked up, every failed one reported (AWS's order).
        const v = new Violations();
        v.check(() => checkKeyIdMember(req.KeyId));
        if (req.Limit !== undefined) v.check(() => checkInt(req.Limit, "Limit", 1, 1000));
        v.check(() => checkMarkerMember(req.Marker));
        v.throwIfAny();
        const row = await this.#resolve(req.KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "ListResourceTags", {});
        const limit = checkLimit(req.Limit, 50, 50);
        const [after] = decodeMarker(req.Marker, "ListResourceTags", ["s"]) ?? [""];
        const rows = this.#sql(
          "SELECT tag_key, tag_value FROM tags WHERE key_id = ? AND tag_key > ? ORDER BY tag_key LIMIT ?",
        ).all(row.id, after, limit + 1) as { tag_key: string; tag_value: string }[];
        const { page, ...info } = pageOf(rows, limit, "ListResourceTags", (t) => [t.tag_key]);
        return { Tags: page.map((t) => ({ TagKey: t.tag_key, TagValue: t.tag_value })), ...info };
      },
    );
  }

  // ---------------------------------------------------------------------------------------------------------
  // Cryptographic operations

  /**
   * Encrypt 1 to 4,096 bytes under the key's newest backing-key version, binding the encryption context.
   * @throws {KmsError} DisabledException, KMSInvalidStateException, NotFoundException, AccessDeniedException,
   * ValidationException, DryRunOperationException (`DryRun: true` and every check passed; nothing is encrypted)
   */
  async encrypt(caller: Caller, request: EncryptRequest): Promise<EncryptResponse> {
    return this.#call("Encrypt", caller, request, { readOnly: true, params: cryptoParams }, async (ctx) => {
      const req = objectRequest(request);
      // The request's members are validated before the key is looked up, as AWS validates its model first, and
      // every failed constraint is reported, in the model's member order.
      const v = new Violations();
      v.check(() => checkKeyIdMember(req.KeyId));
      const plaintext = v.check(() => checkBytes(req.Plaintext, "Plaintext", 1, 4096));
      const context = v.check(() => checkContext(req.EncryptionContext, "EncryptionContext"));
      v.check(() => checkGrantTokenList(req.GrantTokens));
      v.check(() => checkAlgorithm(req.EncryptionAlgorithm));
      const dry = v.check(() => isDryRun(req.DryRun));
      v.throwIfAny();
      const row = await this.#resolve(req.KeyId, ctx, { allowAlias: true, createServiceKey: true });
      this.#authorize(caller, row, "Encrypt", {
        context,
        grantTokens: req.GrantTokens,
        requestAlias: requestAliasOf(req.KeyId),
      });
      this.#checkUsable(row);
      if (dry) throw dryRun();
      const blob = await this.#seal(row, plaintext, context);
      return {
        CiphertextBlob: blob,
        KeyId: keyArn(this.location, row.id),
        EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
      };
    });
  }

  /**
   * Decrypt: the blob names its key and backing-key version; an explicit KeyId must name the same key.
   * @throws {KmsError} InvalidCiphertextException (tampered, wrong context, not a blob of this KMS), IncorrectKeyException,
   * NotFoundException (the key was deleted), DisabledException, KMSInvalidStateException, AccessDeniedException,
   * DryRunOperationException (`DryRun: true` and the blob opens; no plaintext is returned)
   */
  async decrypt(caller: Caller, request: DecryptRequest): Promise<DecryptResponse> {
    return this.#call("Decrypt", caller, request, { readOnly: true, params: cryptoParams }, async (ctx) => {
      const req = objectRequest(request);
      // Every failed model constraint, in the model's member order (see encrypt).
      const v = new Violations();
      const blob = v.check(() => checkBytes(req.CiphertextBlob, "CiphertextBlob", 1, 6144));
      const context = v.check(() => checkContext(req.EncryptionContext, "EncryptionContext"));
      v.check(() => checkGrantTokenList(req.GrantTokens));
      if (req.KeyId !== undefined && req.KeyId !== null) v.check(() => checkKeyIdMember(req.KeyId));
      v.check(() => checkAlgorithm(req.EncryptionAlgorithm));
      const dry = v.check(() => isDryRun(req.DryRun));
      v.throwIfAny();
      if (req.Recipient !== undefined)
        throw new KmsError(
          "UnsupportedOperationException",
          "Recipient (Nitro Enclaves attestation) is not supported.",
        );
      const header = readBlobHeader(blob);
      // With a KeyId, that key is the one looked up, authorized and used, as in AWS KMS: a blob of any other key,
      // existing or not, is IncorrectKeyException.
      const row = await this.#sourceKey(header.keyId, req.KeyId, ctx, "KeyId");
      this.#authorize(caller, row, "Decrypt", {
        context,
        grantTokens: req.GrantTokens,
        requestAlias: requestAliasOf(req.KeyId),
      });
      if (row.id !== header.keyId) throw incorrectKey();
      this.#checkUsable(row);
      const plaintext = await this.#open(row, blob, context);
      ctx.secrets.push(plaintext);
      // A dry run also proves the ciphertext opens under this context; the plaintext is wiped with ctx.secrets.
      if (dry) throw dryRun();
      return {
        KeyId: keyArn(this.location, row.id),
        Plaintext: plaintext,
        EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
      };
    });
  }

  /**
   * ReEncrypt: decrypts under the source key and encrypts under the destination key without returning plaintext.
   * Authorized as kms:ReEncryptFrom on the source and kms:ReEncryptTo on the destination.
   * @throws {KmsError} as decrypt and encrypt
   */
  async reEncrypt(caller: Caller, request: ReEncryptRequest): Promise<ReEncryptResponse> {
    return this.#call(
      "ReEncrypt",
      caller,
      request,
      {
        readOnly: true,
        params: (r) => {
          const q = r as Partial<ReEncryptRequest>;
          return {
            sourceKeyId: q.SourceKeyId,
            destinationKeyId: q.DestinationKeyId,
            sourceEncryptionContext: q.SourceEncryptionContext,
            destinationEncryptionContext: q.DestinationEncryptionContext,
            sourceEncryptionAlgorithm: q.SourceEncryptionAlgorithm,
            destinationEncryptionAlgorithm: q.DestinationEncryptionAlgorithm,
          };
        },
      },
      async (ctx) => {
        const req = objectRequest(request);
        // Every failed model constraint, in the model's member order (see encrypt).
        const v = new Violations();
        const blob = v.check(() => checkBytes(req.CiphertextBlob, "CiphertextBlob", 1, 6144));
        const sourceContext = v.check(() =>
          checkContext(req.SourceEncryptionContext, "SourceEncryptionContext"),
        );
        if (req.SourceKeyId !== undefined && req.SourceKeyId !== null)
          v.check(() => checkKeyIdMember(req.SourceKeyId, "SourceKeyId"));
        v.check(() => checkKeyIdMember(req.DestinationKeyId, "DestinationKeyId"));
        const destinationContext = v.check(() =>
          checkContext(req.DestinationEncryptionContext, "DestinationEncryptionContext"),
        );
        v.check(() => checkAlgorithm(req.SourceEncryptionAlgorithm, "SourceEncryptionAlgorithm"));
        v.check(() => checkAlgorithm(req.DestinationEncryptionAlgorithm, "DestinationEncryptionAlgorithm"));
        v.check(() => checkGrantTokenList(req.GrantTokens));
        const dry = v.check(() => isDryRun(req.DryRun));
        v.throwIfAny();
        const header = readBlobHeader(blob);
        const source = await this.#sourceKey(header.keyId, req.SourceKeyId, ctx, "SourceKeyId");
        const destination = await this.#resolve(req.DestinationKeyId, ctx, {
          allowAlias: true,
          createServiceKey: true,
          field: "DestinationKeyId",
        });
        const sameKey = { "kms:ReEncryptOnSameKey": String(source.id === destination.id) };
        this.#authorize(caller, source, "ReEncryptFrom", {
          context: sourceContext,
          grantTokens: req.GrantTokens,
          extra: sameKey,
          requestAlias: requestAliasOf(req.SourceKeyId),
        });
        this.#authorize(caller, destination, "ReEncryptTo", {
          context: destinationContext,
          grantTokens: req.GrantTokens,
          extra: sameKey,
          requestAlias: requestAliasOf(req.DestinationKeyId),
        });
        if (source.id !== header.keyId) throw incorrectKey();
        this.#checkUsable(source);
        this.#checkUsable(destination);
        const plaintext = await this.#open(source, blob, sourceContext);
        try {
          if (dry) throw dryRun();
          const out = await this.#seal(destination, plaintext, destinationContext);
          if (destination.id !== source.id) ctx.destinationKeyId = destination.id;
          return {
            CiphertextBlob: out,
            SourceKeyId: keyArn(this.location, source.id),
            KeyId: keyArn(this.location, destination.id),
            SourceEncryptionAlgorithm: "SYMMETRIC_DEFAULT",
            DestinationEncryptionAlgorithm: "SYMMETRIC_DEFAULT",
          };
        } finally {
          wipe(plaintext);
        }
      },
    );
  }

  /**
   * GenerateDataKey: a fresh random data key (KeySpec AES_256 / AES_128, or NumberOfBytes 1 to 1,024), in
   * plaintext and encrypted under the key. Data keys are never stored.
   * @throws {KmsError} ValidationException (neither or both of KeySpec and NumberOfBytes), and as encrypt
   */
  async generateDataKey(caller: Caller, request: GenerateDataKeyRequest): Promise<GenerateDataKeyResponse> {
    return this.#call(
      "GenerateDataKey",
      caller,
      request,
      { readOnly: true, params: dataKeyParams },
      async (ctx) => {
        const { row, blob, plaintext } = await this.#generateDataKey(caller, request, ctx, "GenerateDataKey");
        ctx.secrets.push(plaintext);
        return { CiphertextBlob: blob, Plaintext: plaintext, KeyId: keyArn(this.location, row.id) };
      },
    );
  }

  /**
   * GenerateDataKeyWithoutPlaintext: as generateDataKey, returning only the encrypted data key.
   * @throws {KmsError} as generateDataKey
   */
  async generateDataKeyWithoutPlaintext(
    caller: Caller,
    request: GenerateDataKeyRequest,
  ): Promise<GenerateDataKeyWithoutPlaintextResponse> {
    return this.#call(
      "GenerateDataKeyWithoutPlaintext",
      caller,
      request,
      { readOnly: true, params: dataKeyParams },
      async (ctx) => {
        const { row, blob, plaintext } = await this.#generateDataKey(
          caller,
          request,
          ctx,
          "GenerateDataKeyWithoutPlaintext",
        );
        wipe(plaintext);
        return { CiphertextBlob: blob, KeyId: keyArn(this.location, row.id) };
      },
    );
  }

  /**
   * GenerateRandom: 1 to 1,024 random bytes (node:crypto's CSPRNG).
   * @throws {KmsError} ValidationException, UnsupportedOperationException (CustomKeyStoreId, Recipient)
   */
  async generateRandom(
    caller: Caller,
    request: { NumberOfBytes?: number; CustomKeyStoreId?: string } = {},
  ): Promise<{ Plaintext: Uint8Array }> {
    return this.#call(
      "GenerateRandom",
      caller,
      request,
      { readOnly: true, params: (r) => pick(r, ["NumberOfBytes"]) },
      async (ctx) => {
        const req = objectRequest(request);
        // AWS's wording: its GenerateRandom shares the data key check (the model marks NumberOfBytes optional).
        if (req.NumberOfBytes === undefined)
          throw validation("Please specify either number of bytes or key spec.");
        const n = checkInt(req.NumberOfBytes, "NumberOfBytes", 1, 1024);
        checkCustomKeyStoreIdMember(req.CustomKeyStoreId);
        if (req.CustomKeyStoreId !== undefined || req.Recipient !== undefined) {
          throw new KmsError(
            "UnsupportedOperationException",
            "Custom key stores and Recipient are not supported.",
          );
        }
        this.#checkAccountCaller(caller, "kms:GenerateRandom");
        const plaintext = randomBytesFast(n);
        ctx.secrets.push(plaintext);
        return { Plaintext: plaintext };
      },
    );
  }

  /**
   * GetKeyLastUsage: the last successful cryptographic use of a key (Encrypt, Decrypt, ReEncrypt as source or
   * destination, GenerateDataKey*) since its creation, as AWS KMS answers it; and, this KMS's addition, the request
   * count and last use of every operation called on the key. A key id or key ARN (AWS: alias names are not supported).
   * @throws {KmsError} NotFoundException, AccessDeniedException
   */
  async getKeyLastUsage(caller: Caller, request: { KeyId: string }): Promise<GetKeyLastUsageResponse> {
    return this.#call(
      "GetKeyLastUsage",
      caller,
      request,
      { readOnly: true, params: keyParams },
      async (ctx) => {
        // It writes the pending counts before reading them: not on the lock-free path.
        if (ctx.fast) throw RETRY_LOCKED;
        const row = await this.#resolve(objectRequest(request).KeyId, ctx, { allowAlias: false });
        this.#authorize(caller, row, "GetKeyLastUsage", {});
        this.#flushUsage();
        const rows = this.#sql(
          // With one max() aggregate, SQLite takes the bare columns from the row holding the maximum.
          "SELECT operation, sum(count) AS count, max(last_used) AS last_used, last_request_id, last_event_id FROM usage WHERE key_id = ? GROUP BY operation ORDER BY operation",
        ).all(row.id) as Pick<
          UsageRow,
          "operation" | "count" | "last_used" | "last_request_id" | "last_event_id"
        >[];
        const operations: KeyOperationUsage[] = rows.map((r) => ({
          Operation: r.operation,
          RequestCount: r.count,
          LastUsedDate: new Date(r.last_used),
        }));
        let last: (typeof rows)[number] | undefined;
        for (const r of rows) {
          if (CRYPTO_OPERATIONS.has(r.operation) && (last === undefined || r.last_used > last.last_used))
            last = r;
        }
        return {
          KeyId: keyArn(this.location, row.id),
          KeyLastUsage: last ? lastUsage(last) : {},
          TrackingStartDate: new Date(row.created_at),
          KeyCreationDate: new Date(row.created_at),
          Operations: operations,
        };
      },
    );
  }

  /**
   * A month's usage in the shape of AWS KMS pricing: key-months (customer managed, with rotations, and AWS managed),
   * requests by class, and the estimated USD at AWS's published list prices. Not an AWS operation; not audited.
   * @throws {RangeError} when `month` is not `YYYY-MM`
   * @throws {KmsError} KMSInternalException once close() was called
   */
  async usageReport(options: { month: string }): Promise<UsageReport> {
    this.#checkNotClosing();
    return this.#exclusive(async () => {
      this.#checkOpen();
      this.#flushUsage();
      return buildUsageReport(this.#db, options?.month, this.#now(), this.location.region);
    });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Service owned keys

  /**
   * Encrypts data the service keeps for itself under a service owned key of `purpose` (created on first use):
   * a key that is never listed and that no AWS operation can address. The blob has the usual format; only
   * {@link LocalKms.openOwned} with the same purpose and context opens it. Not an AWS operation; not audited.
   * @throws {RangeError} for a purpose that is not 1 to 64 of `a-z 0-9 -`, or plaintext outside 1 to 4,096 bytes
   * @throws {KmsError} KMSInternalException once close() was called
   */
  async sealOwned(
    purpose: string,
    plaintext: Uint8Array,
    context: EncryptionContext = {},
  ): Promise<Uint8Array> {
    this.#checkNotClosing();
    checkPurpose(purpose);
    if (!(plaintext instanceof Uint8Array) || plaintext.length < 1 || plaintext.length > 4096) {
      throw new RangeError(`"plaintext" expected 1 to 4,096 bytes`);
    }
    return this.#exclusive(async () => {
      this.#checkOpen();
      this.#begin();
      try {
        const row = await this.#ownedKey(purpose);
        const blob = await this.#seal(row, plaintext, context);
        this.#commit();
        return blob;
      } catch (e) {
        this.#rollback();
        throw e;
      }
    });
  }

  /**
   * Opens a blob of {@link LocalKms.sealOwned}.
   * @throws {KmsError} InvalidCiphertextException when the blob is not one of this purpose's key, was altered,
   * or the context differs; KMSInternalException once close() was called
   */
  async openOwned(purpose: string, blob: Uint8Array, context: EncryptionContext = {}): Promise<Uint8Array> {
    this.#checkNotClosing();
    checkPurpose(purpose);
    return this.#exclusive(async () => {
      this.#checkOpen();
      const row = this.#sql("SELECT * FROM keys WHERE kind = 'owned' AND service = ?").get(purpose) as
        | KeyRow
        | undefined;
      const header = readBlobHeader(checkBytes(blob, "blob", 1, 6144));
      if (!row || header.keyId !== row.id) throw invalidCiphertextError();
      return this.#open(row, blob, context);
    });
  }

  async #ownedKey(purpose: string): Promise<KeyRow> {
    const existing = this.#sql("SELECT * FROM keys WHERE kind = 'owned' AND service = ?").get(purpose) as
      | KeyRow
      | undefined;
    if (existing) return existing;
    // Owned keys have a policy that allows nobody: they are used only through sealOwned and openOwned.
    const policy = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Sid: "service-owned", Effect: "Deny", Principal: "*", Action: "kms:*", Resource: "*" }],
    });
    return this.#insertKey(randomUUID(), "owned", purpose, `Service owned key for ${purpose}`, policy);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Internals

  #now(): number {
    return this.#clock().getTime();
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError();
  }

  /** A call made after close() was called is refused, even while close() still waits for earlier calls. */
  #checkNotClosing(): void {
    if (this.#closing !== undefined) throw closedError();
  }

  /** Runs `fn` after every call before it has finished: one call at a time touches the database. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * One audited call. A read-only call first tries the lock-free path ({@link LocalKms.#callUnlocked}); every
   * other call, and a read-only one that needs the lock, runs under the lock ({@link LocalKms.#callLocked}).
   */
  #call<Req, Res>(
    eventName: string,
    caller: Caller,
    request: Req,
    spec: CallSpec<Req, Res>,
    body: (ctx: CallContext) => Promise<Res>,
  ): Promise<Res> {
    if (this.#closing !== undefined) return Promise.reject(closedError());
    if (spec.readOnly && !this.#db.inTransaction) {
      const eventTime = this.#clock();
      if (eventTime.getTime() < this.#nextSweepAt) {
        const call = this.#callUnlocked(eventName, caller, request, spec, body, eventTime);
        // close() waits for it: a call made before close() answers as it would have.
        this.#unlocked.add(call);
        const done = () => this.#unlocked.delete(call);
        call.then(done, done);
        return call;
      }
    }
    return this.#callLocked(eventName, caller, request, spec, body);
  }

  /**
   * A read-only call without the lock or a transaction: the body reads committed state (cached rows, see
   * {@link LocalKms.#cached}), alongside whatever call holds the lock. If a transaction began or ended while it
   * ran, what it read may be uncommitted or mixed, so its result is discarded (secrets wiped) and the call runs
   * again under the lock; likewise when the body needs to write. Then the audit event is appended and the
   * response waits until it is durable, exactly as under the lock.
   */
  async #callUnlocked<Req, Res>(
    eventName: string,
    caller: Caller,
    request: Req,
    spec: CallSpec<Req, Res>,
    body: (ctx: CallContext) => Promise<Res>,
    eventTime: Date,
  ): Promise<Res> {
    const generation = this.#generation;
    const ctx: CallContext = { ...callIds(caller), arns: [], keyIds: [], secrets: [], fast: true };
    let result: Res | undefined;
    let error: KmsError | undefined;
    let retry = false;
    try {
      checkCaller(caller);
      result = await body(ctx);
    } catch (e) {
      retry = e === RETRY_LOCKED;
      if (!retry) error = toKmsError(e);
      result = undefined;
      wipe(...ctx.secrets);
    }
    if (retry || this.#generation !== generation || this.#closed) {
      wipe(...ctx.secrets);
      return this.#callLocked(eventName, caller, request, spec, body);
    }
    // Only calls that succeeded count as uses of the key, as under the lock (a refused or dry-run call does not).
    if (!error) this.#countUses(ctx, eventName, eventTime.getTime());
    await this.#auditOutside(
      this.#event(eventName, caller, request, spec, ctx, eventTime, result, error),
      ctx,
    );
    if (error) throw error;
    return result as Res;
  }

  /**
   * Appends the event of a call that holds no transaction and waits until it is durable; concurrent calls share
   * the audit log's group commits. When it cannot be written, the call's secrets are wiped and it fails.
   */
  async #auditOutside(event: AuditEventInput, ctx: CallContext): Promise<void> {
    const append = this.#audit.append(event);
    this.#appending.add(append);
    try {
      await append;
    } catch (cause) {
      throw failClosed(ctx, cause);
    } finally {
      this.#appending.delete(append);
    }
  }

  /**
   * One audited call under the lock: sweep due deletions and rotations, then run `body` in a transaction, append
   * the audit event (allowed or refused, succeeded or failed), and commit only when the event is durable. When the
   * event cannot be written, the transaction rolls back, secrets are wiped and the call fails with
   * KMSInternalException.
   */
  #callLocked<Req, Res>(
    eventName: string,
    caller: Caller,
    request: Req,
    spec: CallSpec<Req, Res>,
    body: (ctx: CallContext) => Promise<Res>,
  ): Promise<Res> {
    const ctx: CallContext = { ...callIds(caller), arns: [], keyIds: [], secrets: [] };
    const locked = this.#exclusive(async () => {
      this.#checkOpen();
      const eventTime = this.#clock();
      let result: Res | undefined;
      let error: KmsError | undefined;
      let relaxed = false;
      try {
        checkCaller(caller);
        await this.#sweep();
        if (spec.readOnly) {
          // Reads and cryptography write only usage counters: their commit need not wait for an fsync.
          this.#db.pragma("synchronous = NORMAL");
          relaxed = true;
        }
        this.#begin();
        this.#mustSync = false;
        result = await body(ctx);
        // A change (or a first-use key created by a read) may schedule a deletion or a rotation.
        if (!spec.readOnly || this.#mustSync) this.#nextSweepAt = 0;
        this.#countUses(ctx, eventName, eventTime.getTime());
        if (spec.readOnly) this.#commit();
      } catch (e) {
        error = toKmsError(e);
        result = undefined;
        wipe(...ctx.secrets);
        this.#rollback();
      } finally {
        if (relaxed) this.#db.pragma("synchronous = FULL");
      }
      const event = this.#event(eventName, caller, request, spec, ctx, eventTime, result, error);
      if (spec.readOnly) {
        // Committed above; the audit event is awaited outside the lock so that concurrent calls share the
        // audit log's group commits. The response still waits for the event.
        return { result, error, event, pending: true };
      }
      // A change commits only after its audit event is durable; if the event cannot be written, it rolls back.
      try {
        await this.#audit.append(event);
      } catch (cause) {
        this.#rollback();
        throw failClosed(ctx, cause);
      }
      if (!error) await this.#commitAfterAudit(event, ctx);
      return { result, error, event, pending: false };
    });
    return locked.then(async ({ result, error, event, pending }) => {
      if (pending) await this.#auditOutside(event, ctx);
      if (error) throw error;
      return result as Res;
    });
  }

  /** Begins a write transaction; lock-free calls running meanwhile will retry under the lock. */
  #begin(): void {
    this.#db.exec("BEGIN IMMEDIATE");
    this.#transactionEdge();
  }

  /** A transaction began or ended: cached reads may be stale, and lock-free calls in progress must retry. */
  #transactionEdge(): void {
    this.#generation++;
    this.#reads.clear();
  }

  /**
   * A committed-state read: outside a transaction it is cached until the next transaction begins (so lock-free
   * calls mostly skip SQLite); inside one it goes to the database, and is not cached (it may be uncommitted).
   */
  #cached<T>(key: string, read: () => T): T {
    if (this.#db.inTransaction) return read();
    if (this.#reads.has(key)) return this.#reads.get(key) as T;
    const value = read();
    if (this.#reads.size >= READ_CACHE_LIMIT) this.#reads.clear();
    this.#reads.set(key, value);
    return value;
  }

  /** The statement for `sql`, prepared on first use. */
  #sql(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Commits the open transaction. Under synchronous=NORMAL (read-only calls) a commit that created keys or key
   * material (an AWS managed key on first use) is made durable by a checkpoint, which fsyncs the WAL first.
   */
  #commit(): void {
    if (!this.#db.inTransaction) return;
    this.#db.exec("COMMIT");
    this.#grantsTouched.clear();
    this.#transactionEdge();
    if (this.#mustSync && this.#db.pragma("synchronous", { simple: true }) !== 2) {
      this.#db.pragma("wal_checkpoint(PASSIVE)");
    }
  }

  /**
   * Commits a change whose audit event is already durable. In WAL mode a transaction's pages reach the disk only at
   * COMMIT, so a full disk (or an I/O error) shows here, after the event said the change was made: the change is
   * rolled back, the call's secrets are wiped, and a second event with the same requestID records that it did not
   * take effect, so the audit log never claims a change kms.db does not hold.
   * @throws {KmsError} KMSInternalException naming the reason (disk full, read-only, I/O error)
   */
  async #commitAfterAudit(event: AuditEventInput, ctx?: CallContext): Promise<void> {
    try {
      this.#commit();
    } catch (cause) {
      if (ctx) wipe(...ctx.secrets);
      try {
        this.#rollback();
      } catch {
        // SQLite rolls a transaction back itself when its commit fails for a full disk or an I/O error.
      }
      const failure = storeFailure(cause);
      // Same requestID, a new eventID.
      const { eventId: _attemptEventId, ...attempt } = event as AuditEventInput & { eventId?: string };
      await this.#audit
        .append({
          ...attempt,
          responseElements: null,
          errorCode: failure.awsName,
          errorMessage: `${failure.message} The event before with this requestID recorded the change before it was committed; it did not take effect.`,
        })
        .catch(() => {
          // The audit log is unavailable too: the caller still learns that the change was not made.
        });
      throw failure;
    }
  }

  #event<Req, Res>(
    eventName: string,
    caller: Caller,
    request: Req,
    spec: CallSpec<Req, Res>,
    ctx: CallContext,
    eventTime: Date,
    result: Res | undefined,
    error: KmsError | undefined,
  ): AuditEventInput {
    let params: Record<string, unknown> | undefined;
    try {
      params = spec.params ? dropUndefined(spec.params(request)) : undefined;
    } catch {
      params = undefined;
    }
    let responseElements: Record<string, unknown> | null = null;
    if (result !== undefined && spec.response) {
      try {
        responseElements = spec.response(result);
      } catch {
        responseElements = null;
      }
    }
    const resources = new Array<{ ARN: string; type: string; accountId: string }>(ctx.arns.length);
    for (let i = 0; i < ctx.arns.length; i++) {
      resources[i] = { ARN: ctx.arns[i]!, type: "AWS::KMS::Key", accountId: this.location.account };
    }
    // Built member by member rather than with spreads: this runs once per call.
    const event: { -readonly [K in keyof AuditEventInput]: AuditEventInput[K] } = {
      eventName,
      eventTime,
      caller: auditCaller(caller),
      responseElements,
      resources,
      readOnly: spec.readOnly,
      requestId: ctx.requestId,
      eventId: ctx.eventId,
    };
    if (params) event.requestParameters = params;
    if (error) {
      event.errorCode = error.awsName;
      event.errorMessage = error.message;
    }
    if (ctx.arns[0]) event.keyId = ctx.arns[0];
    return event;
  }

  #rollback(): void {
    if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
    this.#transactionEdge();
    this.#customerKeys = undefined;
    // A rolled-back change may have replaced a policy, created a key or a key version (whose material a call may
    // have unwrapped meanwhile): drop parsed policies and unwrapped keys, keep nothing stale.
    this.#policies.clear();
    // Only the grant indexes the transaction could have changed: a refused call rolls back too, and rebuilding a
    // key's index reads all of its grants.
    for (const keyId of this.#grantsTouched) this.#grantIndexes.delete(keyId);
    this.#grantsTouched.clear();
    for (const key of this.#cache.values()) wipe(key);
    this.#cache.clear();
  }

  /** Destroys keys past their deletion date and rotates keys whose rotation is due, each in its own transaction. */
  async #sweep(): Promise<void> {
    const now = this.#now();
    // Nothing falls due before #nextSweepAt; any change resets it (see #call), so this skips two queries a call.
    if (now < this.#nextSweepAt || now < this.#sweepRetryAt) return;
    let failed = false;
    const due = this.#sql("SELECT * FROM keys WHERE state = 'PendingDeletion' AND deletion_date <= ?").all(
      now,
    ) as KeyRow[];
    for (const row of due) {
      const arn = keyArn(this.location, row.id);
      this.#begin();
      try {
        this.#grantsChanged(row.id);
        this.#sql("DELETE FROM keys WHERE id = ?").run(row.id);
        // Destroyed as of its deletion date, though no call came to sweep it then (or the data dir was closed): the
        // usage report bills a key until it is destroyed.
        this.#sql("UPDATE key_history SET destroyed_at = ? WHERE key_id = ?").run(
          Math.min(row.deletion_date ?? now, now),
          row.id,
        );
        const event = this.#serviceEvent("DeleteKey", arn, now);
        await this.#audit.append(event);
        await this.#commitAfterAudit(event);
        this.#forget(row.id);
        this.#customerKeys = undefined;
      } catch {
        failed = true;
        this.#rollback();
      }
    }
    const rotations = this.#sql(
      "SELECT * FROM keys WHERE rotation_enabled = 1 AND state = 'Enabled' AND next_rotation_at <= ?",
    ).all(now) as KeyRow[];
    for (const row of rotations) {
      this.#begin();
      try {
        await this.#addVersion(row, "AUTOMATIC");
        this.#sql("UPDATE keys SET next_rotation_at = ? WHERE id = ?").run(
          now + row.rotation_period_days! * DAY,
          row.id,
        );
        const event = this.#serviceEvent("RotateKey", keyArn(this.location, row.id), now);
        await this.#audit.append(event);
        await this.#commitAfterAudit(event);
      } catch {
        failed = true;
        this.#rollback();
      }
    }
    const next = this.#sql(
      `SELECT MIN(t) AS t FROM (
         SELECT MIN(deletion_date) AS t FROM keys WHERE state = 'PendingDeletion'
         UNION ALL SELECT MIN(next_rotation_at) FROM keys WHERE rotation_enabled = 1 AND state = 'Enabled')`,
    ).get() as { t: number | null } | undefined;
    this.#nextSweepAt = next?.t ?? Number.POSITIVE_INFINITY;
    this.#sweepRetryAt = failed ? now + SWEEP_RETRY_MS : 0;
  }

  #serviceEvent(eventName: string, arn: string, now: number): AuditEventInput {
    return {
      eventName,
      eventTime: new Date(now),
      caller: { principal: SERVICE_PRINCIPAL, account: this.location.account },
      requestParameters: { keyId: arn },
      responseElements: null,
      resources: [{ ARN: arn, type: "AWS::KMS::Key", accountId: this.location.account }],
      readOnly: false,
      requestId: randomUUID(),
      keyId: arn,
    };
  }

  #forget(keyId: string): void {
    for (const [k, v] of this.#cache) {
      if (k.startsWith(`${keyId}:`)) {
        wipe(v);
        this.#cache.delete(k);
      }
    }
    this.#policies.delete(keyId);
    this.#grantIndexes.delete(keyId);
  }

  #keyRow(id: string): KeyRow | undefined {
    return this.#cached(
      `key:${id}`,
      () => this.#sql("SELECT * FROM keys WHERE id = ?").get(id) as KeyRow | undefined,
    );
  }

  #aliasRow(name: string): AliasRow | undefined {
    return this.#cached(
      `alias:${name}`,
      () => this.#sql("SELECT * FROM aliases WHERE name = ?").get(name) as AliasRow | undefined,
    );
  }

  /**
   * Resolves a key identifier to its row (never a service owned key) and records it for the audit event.
   * An `alias/aws/<service>` alias that does not exist yet creates its AWS managed key when `createServiceKey`.
   */
  async #resolve(
    value: unknown,
    ctx: CallContext,
    options: { allowAlias: boolean; createServiceKey?: boolean; field?: string },
  ): Promise<KeyRow> {
    const parsed = parseKeyId(value, this.location, options.allowAlias, options.field);
    let row: KeyRow | undefined;
    if (parsed.kind === "key") {
      row = this.#keyRow(parsed.id);
      if (!row || row.kind === "owned") throw keyNotFound(keyArn(this.location, parsed.id));
    } else {
      const alias = this.#aliasRow(parsed.name);
      if (alias) {
        row = this.#keyRow(alias.key_id);
      } else {
        const service = serviceOfAlias(parsed.name);
        if (!service || !options.createServiceKey)
          throw notFound(`Alias ${aliasArn(this.location, parsed.name)}`);
        // Creating the AWS managed key writes: not on the lock-free path.
        if (ctx.fast) throw RETRY_LOCKED;
        row = await this.#createServiceKey(service);
      }
      if (!row || row.kind === "owned") throw notFound(`Alias ${aliasArn(this.location, parsed.name)}`);
    }
    const arn = keyArn(this.location, row.id);
    if (!ctx.arns.includes(arn)) {
      ctx.arns.push(arn);
      ctx.keyIds.push(row.id);
    }
    return row;
  }

  /**
   * The key that opens a blob naming `blobKeyId`: the one the request names (Decrypt's KeyId, ReEncrypt's
   * SourceKeyId) when given, which the caller then compares with the blob's (IncorrectKeyException), else the blob's.
   */
  async #sourceKey(blobKeyId: string, named: unknown, ctx: CallContext, field: string): Promise<KeyRow> {
    if (named === undefined || named === null) return this.#resolve(blobKeyId, ctx, { allowAlias: false });
    return this.#resolve(named, ctx, { allowAlias: true, field });
  }

  async #createServiceKey(service: string): Promise<KeyRow> {
    const existing = this.#sql("SELECT * FROM keys WHERE kind = 'aws' AND service = ?").get(service) as
      | KeyRow
      | undefined;
    if (existing) return existing;
    const id = randomUUID();
    const policy = serviceKeyPolicy(this.location, service);
    const row = await this.#insertKey(
      id,
      "aws",
      service,
      `Default key that protects my ${service} data when no other key is defined`,
      policy,
    );
    const now = this.#now();
    this.#sql(
      "UPDATE keys SET rotation_enabled = 1, rotation_period_days = 365, next_rotation_at = ? WHERE id = ?",
    ).run(now + 365 * DAY, id);
    this.#sql("INSERT INTO aliases (name, key_id, created_at, updated_at) VALUES (?, ?, ?, ?)").run(
      `${RESERVED_ALIAS_PREFIX}${service}`,
      id,
      now,
      now,
    );
    return this.#keyRow(id) ?? row;
  }

  async #insertKey(
    id: string,
    kind: "customer" | "aws" | "owned",
    service: string | null,
    description: string,
    policy: string,
  ): Promise<KeyRow> {
    const now = this.#now();
    this.#sql(
      `INSERT INTO keys (id, kind, service, description, key_spec, key_usage, origin, state, created_at, current_version)
         VALUES (?, ?, ?, ?, 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', 'AWS_KMS', 'Enabled', ?, 0)`,
    ).run(id, kind, service, description, now);
    this.#sql("INSERT INTO policies (key_id, name, document) VALUES (?, 'default', ?)").run(id, policy);
    const row = this.#keyRow(id)!;
    await this.#addVersion(row, "INITIAL");
    return this.#keyRow(id)!;
  }

  /** Adds a backing-key version: 32 random bytes, stored only wrapped by the root key (AAD: key id, version). */
  async #addVersion(row: KeyRow, type: KeyVersionRow["rotation_type"]): Promise<number> {
    this.#mustSync = true;
    const current = (
      this.#sql("SELECT current_version FROM keys WHERE id = ?").get(row.id) as {
        current_version: number;
      }
    ).current_version;
    const version = current + 1;
    const material = randomBytesFast(32);
    let wrapped: Uint8Array;
    try {
      wrapped = await this.#root.wrap(material, backingKeyAad(row.id, version));
    } catch (cause) {
      wipe(material);
      throw new KmsError("KMSInternalException", "The root key could not wrap new key material.", { cause });
    }
    const now = this.#now();
    this.#sql(
      "INSERT INTO key_versions (key_id, version, wrapped, created_at, rotation_type) VALUES (?, ?, ?, ?, ?)",
    ).run(row.id, version, wrapped, now, type);
    this.#sql("UPDATE keys SET current_version = ? WHERE id = ?").run(version, row.id);
    this.#sql(
      "INSERT OR REPLACE INTO key_history (key_id, version, kind, created_at) VALUES (?, ?, ?, ?)",
    ).run(row.id, version, row.kind, now);
    // Not cached: the transaction may still roll back; the first use unwraps it.
    wipe(material);
    return version;
  }

  /** The plaintext backing key of a version, unwrapped by the root key and cached in memory. */
  async #backingKey(keyId: string, version: number): Promise<Uint8Array | undefined> {
    const cacheKey = `${keyId}:${version}`;
    const cached = this.#cache.get(cacheKey);
    if (cached) {
      this.#cache.delete(cacheKey);
      this.#cache.set(cacheKey, cached);
      return cached;
    }
    const row = this.#sql("SELECT wrapped FROM key_versions WHERE key_id = ? AND version = ?").get(
      keyId,
      version,
    ) as { wrapped: Uint8Array } | undefined;
    if (!row) return undefined;
    let key: Uint8Array;
    try {
      key = await this.#root.unwrap(new Uint8Array(row.wrapped), backingKeyAad(keyId, version));
    } catch (cause) {
      throw new KmsError("KMSInternalException", "The root key could not unwrap the key material.", {
        cause,
      });
    }
    if (this.#cache.size >= CACHE_LIMIT) {
      const [oldest, value] = this.#cache.entries().next().value as [string, Uint8Array];
      wipe(value);
      this.#cache.delete(oldest);
    }
    this.#cache.set(cacheKey, key);
    return key;
  }

  async #seal(row: KeyRow, plaintext: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    // Read again, not taken from `row`: a rotation earlier in the same transaction may have added a version.
    const version = this.#keyRow(row.id)?.current_version;
    if (version === undefined) throw new KmsError("KMSInternalException", "The key is missing.");
    const key = await this.#backingKey(row.id, version);
    if (!key) throw new KmsError("KMSInternalException", "The key material is missing.");
    return sealBlob(key, row.id, version, plaintext, context);
  }

  async #open(row: KeyRow, blob: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    const { keyVersion } = readBlobHeader(blob);
    const key = await this.#backingKey(row.id, keyVersion);
    // A version the key never had: the same error as a failed tag, so blobs cannot be probed.
    if (!key) throw invalidCiphertextError();
    return openBlob(key, blob, context);
  }

  async #generateDataKey(
    caller: Caller,
    request: GenerateDataKeyRequest,
    ctx: CallContext,
    operation: string,
  ): Promise<{ row: KeyRow; blob: Uint8Array; plaintext: Uint8Array }> {
    const req = objectRequest(request);
    // The request's members are validated before the key is looked up, as AWS validates its model first, and
    // every failed constraint is reported, in the model's member order; then the rule between two members.
    const v = new Violations();
    v.check(() => checkKeyIdMember(req.KeyId));
    const context = v.check(() => checkContext(req.EncryptionContext, "EncryptionContext"));
    if (req.NumberOfBytes !== undefined) v.check(() => checkInt(req.NumberOfBytes, "NumberOfBytes", 1, 1024));
    if (req.KeySpec !== undefined) v.check(() => checkEnum(req.KeySpec, "KeySpec", DATA_KEY_SPECS, []));
    v.check(() => checkGrantTokenList(req.GrantTokens));
    const dry = v.check(() => isDryRun(req.DryRun));
    v.throwIfAny();
    if ((req.NumberOfBytes === undefined) === (req.KeySpec === undefined))
      throw validation("Please specify either number of bytes or key spec.");
    const length: number =
      req.NumberOfBytes ?? DATA_KEY_LENGTHS[req.KeySpec as (typeof DATA_KEY_SPECS)[number]];
    if (req.Recipient !== undefined)
      throw new KmsError(
        "UnsupportedOperationException",
        "Recipient (Nitro Enclaves attestation) is not supported.",
      );
    const row = await this.#resolve(req.KeyId, ctx, { allowAlias: true, createServiceKey: true });
    this.#authorize(caller, row, operation, {
      context,
      grantTokens: req.GrantTokens,
      requestAlias: requestAliasOf(req.KeyId),
    });
    this.#checkUsable(row);
    if (dry) throw dryRun();
    const plaintext = randomBytesFast(length);
    try {
      const blob = await this.#seal(row, plaintext, context);
      return { row, blob, plaintext };
    } catch (e) {
      wipe(plaintext);
      throw e;
    }
  }

  /**
   * The grants of a key, indexed by grantee: read once, then kept until the key's grants change (CreateGrant,
   * RetireGrant, RevokeGrant and key deletion drop it) or a transaction rolls back. Read inside a transaction it may
   * hold the transaction's own changes, which a rollback drops with it.
   */
  /**
   * The open transaction changed a key's grants: `update` applies the change to the key's index, if there is one (a
   * rebuild reads every grant of the key); without `update` the index is dropped. Either way a rollback drops it.
   */
  #grantsChanged(keyId: string, update?: (index: GranteeIndex<GrantRow>) => void): void {
    const index = this.#grantIndexes.get(keyId);
    if (index && update) update(index);
    else this.#grantIndexes.delete(keyId);
    this.#grantsTouched.add(keyId);
  }

  #grantIndex(keyId: string): GranteeIndex<GrantRow> {
    let index = this.#grantIndexes.get(keyId);
    if (!index) {
      index = new GranteeIndex(this.#sql("SELECT * FROM grants WHERE key_id = ?").all(keyId) as GrantRow[]);
      // Bounded memory: at most CACHE_LIMIT keys' indexes and MAX_INDEXED_GRANTS grants in all.
      let held = index.size;
      for (const other of this.#grantIndexes.values()) held += other.size;
      if (this.#grantIndexes.size >= CACHE_LIMIT || held > MAX_INDEXED_GRANTS) this.#grantIndexes.clear();
      this.#grantIndexes.set(keyId, index);
    }
    return index;
  }

  #policy(keyId: string): Policy {
    const cached = this.#policies.get(keyId);
    if (cached) return cached;
    // Read back from storage: rules that apply only when a policy is set are not applied again.
    const policy = parsePolicy(this.#policyJson(keyId), { stored: true });
    this.#policies.set(keyId, policy);
    return policy;
  }

  #policyJson(keyId: string): string {
    const row = this.#sql("SELECT document FROM policies WHERE key_id = ? AND name = 'default'").get(keyId) as
      | { document: string }
      | undefined;
    if (!row) throw new KmsError("KMSInternalException", "The key has no key policy.");
    return row.document;
  }

  /**
   * The key policy decides; an explicit Deny wins over everything; without an Allow, a grant for the caller
   * whose constraints the request meets allows the grantable operations.
   */
  #authorize(
    caller: Caller,
    row: KeyRow,
    operation: string,
    options: {
      context?: EncryptionContext;
      grantTokens?: unknown;
      extra?: Record<string, string | string[]>;
      newGrant?: { operations: readonly string[]; constraints?: GrantConstraints };
      /** kms:RequestAlias (cryptographic operations and DescribeKey named by an alias). */
      requestAlias?: string | undefined;
      /** TagResource's tags: aws:RequestTag/<key> and aws:TagKeys. */
      requestTags?: readonly Tag[];
      /** UntagResource's tag keys: aws:TagKeys. */
      tagKeys?: readonly string[];
    },
  ): void {
    // Grants take effect at once here, so a grant token only has to be well formed (AWS's eventual consistency).
    decodeGrantTokens(options.grantTokens);
    const action = `kms:${operation}`;
    const resource = keyArn(this.location, row.id);
    const now = this.#now();
    const policy = this.#policy(row.id);
    // Built only if a statement of the policy has conditions (evaluatePolicy calls it at most once).
    const conditions = () =>
      conditionKeysFor({
        principal: caller.principal,
        account: caller.account,
        key: SYMMETRIC_KEY_PROPERTIES,
        now: new Date(now),
        region: this.location.region,
        ...(caller.sourceIp !== undefined ? { sourceIp: caller.sourceIp } : {}),
        ...(caller.secureTransport !== undefined ? { secureTransport: caller.secureTransport } : {}),
        ...(CONTEXT_OPERATIONS.has(operation) ? { encryptionAlgorithm: "SYMMETRIC_DEFAULT" } : {}),
        ...(options.requestAlias !== undefined ? { requestAlias: options.requestAlias } : {}),
        ...(options.context ? { context: options.context } : {}),
        ...(caller.viaService !== undefined ? { viaService: caller.viaService } : {}),
        // An AWS service calling on the principal's behalf (kms:ViaService) is what this key means.
        ...(caller.viaService !== undefined && GRANT_FOR_AWS_RESOURCE_OPERATIONS.has(operation)
          ? { grantIsForAwsResource: true }
          : {}),
        // The key's aliases cost a lookup: read only for a policy whose conditions test them.
        ...(policyUsesConditionKey(policy, "kms:ResourceAliases")
          ? { resourceAliases: this.#aliasNames(row.id) }
          : {}),
        ...(policyUsesConditionKeyPrefix(policy, "aws:ResourceTag/")
          ? { resourceTags: this.#tagsOf(row.id) }
          : {}),
        ...(options.requestTags ? { requestTags: options.requestTags } : {}),
        ...(options.tagKeys ? { tagKeys: options.tagKeys } : {}),
        ...(options.extra ? { extra: options.extra } : {}),
      });
    const decision = evaluatePolicy(policy, {
      principal: caller.principal,
      account: caller.account,
      action,
      resource,
      conditions,
      // A caller that is a service principal (an in-process caller acting as `logs.amazonaws.com`) matches
      // {"Service": ...} principals; a user calling through a service (viaService) does not.
      ...(SERVICE_PRINCIPAL_NAME.test(caller.principal) ? { service: caller.principal } : {}),
    });
    if (decision === "allow") return;
    if (decision === "deny") {
      throw new KmsError(
        "AccessDeniedException",
        `User: ${caller.principal} is not authorized to perform: ${action} on resource: ${resource} with an explicit deny in a resource-based policy`,
      );
    }
    if (SYMMETRIC_GRANT_OPERATIONS.has(operation)) {
      // Only the grants that can name the caller: a key may have 50,000 grants, and going through each of them (its
      // JSON, its dates) for every call, even a refused one, took 100 ms and more.
      for (const grant of this.#grantIndex(row.id).candidates(caller.principal, caller.account)) {
        const entry = this.#grantEntry(grant);
        const request = {
          grantee: caller.principal,
          account: caller.account,
          operation,
          context: options.context ?? {},
        };
        if (operation === "CreateGrant" && options.newGrant) {
          const child = {
            grantee: caller.principal,
            account: caller.account,
            operations: options.newGrant.operations,
          };
          if (
            grantAllowsCreateGrant(
              entry,
              options.newGrant.constraints ? { ...child, constraints: options.newGrant.constraints } : child,
            )
          )
            return;
        } else if (grantAllows(entry, request)) return;
      }
    }
    throw accessDenied(caller.principal, action, resource);
  }

  /** The tags of a key (aws:ResourceTag/<key>). */
  #tagsOf(keyId: string): Tag[] {
    return this.#cached(`tags-of:${keyId}`, () =>
      (
        this.#sql("SELECT tag_key, tag_value FROM tags WHERE key_id = ?").all(keyId) as {
          tag_key: string;
          tag_value: string;
        }[]
      ).map((t) => ({ TagKey: t.tag_key, TagValue: t.tag_value })),
    );
  }

  /** The names of the aliases of a key (kms:ResourceAliases), sorted. */
  #aliasNames(keyId: string): string[] {
    return this.#cached(`alias-names:${keyId}`, () =>
      (
        this.#sql("SELECT name FROM aliases WHERE key_id = ? ORDER BY name").all(keyId) as { name: string }[]
      ).map((a) => a.name),
    );
  }

  #grantEntry(g: GrantRow): GrantListEntry {
    return {
      KeyId: keyArn(this.location, g.key_id),
      GrantId: g.grant_id,
      ...(g.name ? { Name: g.name } : {}),
      CreationDate: new Date(g.created_at),
      GranteePrincipal: g.grantee,
      ...(g.retiring ? { RetiringPrincipal: g.retiring } : {}),
      IssuingAccount: g.issuing_account.includes(":")
        ? g.issuing_account
        : `arn:${this.location.partition}:iam::${g.issuing_account}:root`,
      Operations: JSON.parse(g.operations) as string[],
      ...(g.constraints ? { Constraints: JSON.parse(g.constraints) as GrantConstraints } : {}),
    };
  }

  /** Operations without a key (CreateKey, ListKeys, ListAliases, GenerateRandom) are allowed to principals of the account. */
  #checkAccountCaller(caller: Caller, action: string): void {
    if (caller.account !== this.location.account) {
      throw new KmsError(
        "AccessDeniedException",
        `User: ${caller.principal} is not authorized to perform: ${action} because no identity-based policy allows the ${action} action`,
      );
    }
  }

  #checkCustomerManaged(row: KeyRow): void {
    if (row.kind !== "customer") {
      throw new KmsError(
        "UnsupportedOperationException",
        `${keyArn(this.location, row.id)} is an AWS managed key: its policy, rotation, state, aliases and tags cannot be changed.`,
      );
    }
  }

  /** The customer managed keys in kms.db, in every key state: counted once (a scan), then kept up to date. */
  #customerKeyCount(): number {
    this.#customerKeys ??= (
      this.#sql("SELECT count(*) AS n FROM keys WHERE kind = 'customer'").get() as { n: number }
    ).n;
    return this.#customerKeys;
  }

  /** A key that already has {@link MAX_ALIASES_PER_KEY} aliases takes no more (LimitExceededException). */
  #checkAliasQuota(row: KeyRow): void {
    const { n } = this.#sql("SELECT count(*) AS n FROM aliases WHERE key_id = ?").get(row.id) as {
      n: number;
    };
    if (n >= MAX_ALIASES_PER_KEY)
      throw new KmsError(
        "LimitExceededException",
        `${keyArn(this.location, row.id)} has ${MAX_ALIASES_PER_KEY} aliases, the most a key may have: delete one first.`,
      );
  }

  #checkNotPendingDeletion(row: KeyRow): void {
    if (row.state === "PendingDeletion")
      throw invalidState(keyArn(this.location, row.id), "pending deletion");
  }

  /** Cryptographic use needs an Enabled key: Disabled → DisabledException, PendingDeletion → KMSInvalidStateException. */
  #checkUsable(row: KeyRow): void {
    if (row.state === "Disabled")
      throw new KmsError("DisabledException", `${keyArn(this.location, row.id)} is disabled.`);
    this.#checkNotPendingDeletion(row);
  }

  #stateChange(
    eventName: string,
    caller: Caller,
    request: { KeyId: string },
    change: (row: KeyRow) => void,
  ): Promise<Record<string, never>> {
    return this.#call(eventName, caller, request, { readOnly: false, params: keyParams }, async (ctx) => {
      const row = await this.#resolve(objectRequest(request).KeyId, ctx, { allowAlias: false });
      this.#authorize(caller, row, eventName, {});
      this.#checkCustomerManaged(row);
      change(row);
      return {};
    });
  }

  /** Counts a successful call as a use of its key, and a ReEncrypt also as a use of its destination key. */
  #countUses(ctx: CallContext, operation: string, now: number): void {
    this.#countUsage(ctx.keyIds[0] ?? "", operation, now, ctx);
    if (ctx.destinationKeyId !== undefined) this.#countUsage(ctx.destinationKeyId, REENCRYPT_TO, now, ctx);
  }

  /**
   * Counts a call made at `now` (ms) in memory; {@link LocalKms.#flushUsage} writes the counts every second, before
   * they are read and on close. A crash loses at most a second of counts (statistics; the audit log has every call).
   */
  #countUsage(keyId: string, operation: string, now: number, ids: CallContext): void {
    if (now < this.#month.from || now >= this.#month.to) this.#month = monthOf(now);
    const month = this.#month.name;
    const key = `${keyId}\0${operation}\0${month}`;
    const entry = this.#usage.get(key);
    if (entry) {
      entry.count++;
      // At the same millisecond the later call wins, as in #flushUsage.
      if (now >= entry.lastUsed) {
        entry.lastUsed = now;
        entry.requestId = ids.requestId;
        entry.eventId = ids.eventId;
      }
    } else {
      this.#usage.set(key, {
        keyId,
        operation,
        month,
        count: 1,
        lastUsed: now,
        requestId: ids.requestId,
        eventId: ids.eventId,
      });
    }
  }

  /** Adds the counts kept in memory to the usage table (in the open transaction if there is one). */
  #flushUsage(): void {
    if (this.#usage.size === 0) return;
    const add = this.#sql(
      `INSERT INTO usage (key_id, operation, month, count, last_used, last_request_id, last_event_id)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (key_id, operation, month) DO UPDATE SET count = count + excluded.count,
           last_used = max(last_used, excluded.last_used),
           last_request_id = iif(excluded.last_used >= last_used, excluded.last_request_id, last_request_id),
           last_event_id = iif(excluded.last_used >= last_used, excluded.last_event_id, last_event_id)`,
    );
    const entries = [...this.#usage.values()];
    this.#db.transaction(() => {
      for (const u of entries) {
        add.run(u.keyId, u.operation, u.month, u.count, u.lastUsed, u.requestId, u.eventId);
      }
    })();
    // Only after the write succeeded: counts that could not be written stay for the next flush.
    this.#usage.clear();
  }

  #metadata(row: KeyRow): KeyMetadata {
    const meta: KeyMetadata = {
      AWSAccountId: this.location.account,
      KeyId: row.id,
      Arn: keyArn(this.location, row.id),
      CreationDate: new Date(row.created_at),
      Enabled: row.state === "Enabled",
      Description: row.description,
      KeyUsage: "ENCRYPT_DECRYPT",
      KeyState: row.state,
      Origin: "AWS_KMS",
      KeyManager: row.kind === "aws" ? "AWS" : "CUSTOMER",
      CustomerMasterKeySpec: "SYMMETRIC_DEFAULT",
      KeySpec: "SYMMETRIC_DEFAULT",
      EncryptionAlgorithms: ["SYMMETRIC_DEFAULT"],
      MultiRegion: false,
      CurrentKeyMaterialId: keyMaterialId(row.id, row.current_version),
    };
    // PendingDeletionWindowInDays is only for a multi-Region primary key in PendingReplicaDeletion (AWS's KeyMetadata).
    if (row.state === "PendingDeletion") meta.DeletionDate = new Date(row.deletion_date!);
    return meta;
  }
}

const KEY_SPECS = [
  "RSA_2048",
  "RSA_3072",
  "RSA_4096",
  "ECC_NIST_P256",
  "ECC_NIST_P384",
  "ECC_NIST_P521",
  "ECC_SECG_P256K1",
  "HMAC_224",
  "HMAC_256",
  "HMAC_384",
  "HMAC_512",
  "SM2",
  "ML_DSA_44",
  "ML_DSA_65",
  "ML_DSA_87",
];

async function openRootKey(
  db: Database.Database,
  dataDir: string,
  option: LocalKmsOptions["rootKey"],
): Promise<{ root: KeyWrapper; ownsRoot: boolean }> {
  const meta = (name: string) =>
    (db.prepare("SELECT value FROM meta WHERE name = ?").get(name) as { value: string } | undefined)?.value;
  const setMeta = (name: string, value: string) =>
    db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)").run(name, value);
  const storedKind = meta("root_kind");
  const check = meta("root_check");
  const hasKeys = (db.prepare("SELECT count(*) AS n FROM key_versions").get() as { n: number }).n > 0;
  const initialized = check !== undefined || hasKeys;
  let root: KeyWrapper;
  let kind: string;
  let ownsRoot = true;
  if (
    option &&
    typeof (option as KeyWrapper).wrap === "function" &&
    typeof (option as KeyWrapper).unwrap === "function"
  ) {
    root = option as KeyWrapper;
    kind = "wrapper";
    ownsRoot = false;
  } else if (option && typeof (option as { passphrase?: unknown }).passphrase === "string") {
    const o = option as {
      passphrase: string;
      argon2?: { memorySize?: number; iterations?: number; parallelism?: number };
    };
    kind = "passphrase";
    if (initialized && storedKind !== "passphrase") throw rootMismatch(storedKind, kind);
    let params = meta("argon2");
    if (!params) {
      params = JSON.stringify(newArgon2Parameters(o.argon2));
      setMeta("argon2", params);
    }
    root = await passphraseWrapper(o.passphrase, parseArgon2Parameters(params));
  } else {
    const file = (option as { file?: unknown } | undefined)?.file;
    if (file !== undefined && (typeof file !== "string" || file.length === 0))
      throw new TypeError(`"rootKey.file" expected a path`);
    kind = "file";
    if (initialized && storedKind !== "file") throw rootMismatch(storedKind, kind);
    const path = (file as string | undefined) ?? meta("root_file") ?? join(dataDir, "root.key");
    if (!existsSync(path) && initialized) {
      throw new KmsError(
        "KMSInternalException",
        `The root key file ${path} is missing, but ${join(dataDir, "kms.db")} holds keys wrapped by it. Restore the file from the backup of this data dir; a new root key cannot open the existing keys.`,
      );
    }
    root = loadRootKeyFile(path, !initialized);
  }
  if (initialized && storedKind !== undefined && storedKind !== kind) throw rootMismatch(storedKind, kind);
  if (check !== undefined) {
    const value = await unwrapWithRoot(
      root,
      ownsRoot,
      Uint8Array.from(atob(check), (c) => c.charCodeAt(0)),
      ROOT_CHECK_AAD,
    );
    if (!value || !equalBytes(value, ROOT_CHECK_VALUE)) {
      if (ownsRoot) await root.close?.();
      throw wrongRootKey(root);
    }
  } else {
    if (hasKeys) {
      // No check (a database from before it, or restored without it), but keys: the root key must open one of
      // them before a new check is written, or a wrong root key would be adopted and wrap new keys.
      const sample = db.prepare("SELECT key_id, version, wrapped FROM key_versions LIMIT 1").get() as {
        key_id: string;
        version: number;
        wrapped: Uint8Array;
      };
      const opened = await unwrapWithRoot(
        root,
        ownsRoot,
        new Uint8Array(sample.wrapped),
        backingKeyAad(sample.key_id, sample.version),
      );
      if (!opened) {
        if (ownsRoot) await root.close?.();
        throw wrongRootKey(root);
      }
      wipe(opened);
    }
    const wrapped = await root.wrap(ROOT_CHECK_VALUE, ROOT_CHECK_AAD);
    db.transaction(() => {
      setMeta("root_kind", kind);
      setMeta("root_description", root.description);
      setMeta("root_check", btoa(String.fromCharCode(...wrapped)));
    }).immediate();
  }
  return { root, ownsRoot };
}

/**
 * Opens a data dir's kms.db. SQLite's failure becomes a KMSInternalException naming the file and, where there is
 * one, what to do about it (explainOpenFailure), after `prefix`.
 * @throws {KmsError} KMSInternalException
 */
function openKmsDb(dataDir: string, prefix = ""): Database.Database {
  const path = join(dataDir, "kms.db");
  try {
    return openStore(path);
  } catch (cause) {
    const explained = explainOpenFailure(dataDir, sqliteCode(cause));
    throw new KmsError(
      "KMSInternalException",
      `${prefix}cannot open ${path}: ${explained ?? (cause as Error).message}`,
      { cause },
    );
  }
}

function wrongRootKey(root: KeyWrapper): KmsError {
  return new KmsError(
    "KMSInternalException",
    `The root key (${root.description}) is not the one this data dir was created with (wrong passphrase, replaced key file or another HSM key): its keys cannot be opened. Use the original root key.`,
  );
}

/**
 * Unwraps with the root key at open: undefined when the bytes do not authenticate under it (another root key).
 * Any other failure (an HSM that is down, busy or refuses the PIN) is not a wrong key and says what it is.
 * @throws {KmsError} KMSInternalException naming the root key and the failure (the wrapper's error as cause)
 */
async function unwrapWithRoot(
  root: KeyWrapper,
  ownsRoot: boolean,
  wrapped: Uint8Array,
  aad: Uint8Array,
): Promise<Uint8Array | undefined> {
  try {
    return await root.unwrap(wrapped, aad);
  } catch (cause) {
    if (SealkitError.isInstance(cause, "ERR_AUTHENTICATION_FAILED")) return undefined;
    if (ownsRoot) await root.close?.().catch(() => {});
    throw new KmsError(
      "KMSInternalException",
      `The root key (${root.description}) could not be used to open this data dir: ${(cause as Error)?.message ?? String(cause)}`,
      { cause },
    );
  }
}

async function newRootKey(
  to: NonNullable<LocalKmsOptions["rootKey"]>,
  currentFile: string,
): Promise<{ root: KeyWrapper; ownsRoot: boolean; kind: string; argon2?: string }> {
  if (typeof (to as KeyWrapper).wrap === "function" && typeof (to as KeyWrapper).unwrap === "function") {
    return { root: to as KeyWrapper, ownsRoot: false, kind: "wrapper" };
  }
  if (typeof (to as { passphrase?: unknown }).passphrase === "string") {
    const o = to as {
      passphrase: string;
      argon2?: { memorySize?: number; iterations?: number; parallelism?: number };
    };
    const argon2 = JSON.stringify(newArgon2Parameters(o.argon2));
    return {
      root: await passphraseWrapper(o.passphrase, JSON.parse(argon2)),
      ownsRoot: true,
      kind: "passphrase",
      argon2,
    };
  }
  const file = (to as { file?: unknown }).file;
  if (typeof file !== "string" || file.length === 0)
    throw new TypeError(`"to" expected a KeyWrapper, { passphrase } or { file }`);
  if (resolvePath(file) === resolvePath(currentFile))
    throw new TypeError(`"to.file" must differ from the current root key file`);
  return { root: loadRootKeyFile(file, true), ownsRoot: true, kind: "file" };
}

function rootMismatch(stored: string | undefined, given: string): KmsError {
  return new KmsError(
    "KMSInternalException",
    `This data dir's root key is a ${stored ?? "file"} root key, but a ${given} root key was given: pass the original root key option.`,
  );
}

function backingKeyAad(keyId: string, version: number): Uint8Array {
  const v = new Uint8Array(4);
  new DataView(v.buffer).setUint32(0, version);
  return concatBytes(BACKING_KEY_DOMAIN, uuidToBytes(keyId), v);
}

/**
 * The key policy of an AWS managed key, after AWS's: principals of the account may use it for cryptography
 * through the service (kms:ViaService `<service>.<region>.amazonaws.com`) and describe it directly; the account
 * may read its policy, list its grants and revoke them. Nobody may change it.
 */
function serviceKeyPolicy(location: KmsLocation, service: string): string {
  return JSON.stringify(
    {
      Version: "2012-10-17",
      Id: `auto-${service}-1`,
      Statement: [
        {
          Sid: `Allow access through ${service} for all principals in the account that are authorized to use ${service}`,
          Effect: "Allow",
          Principal: { AWS: "*" },
          Action: [
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:CreateGrant",
            "kms:DescribeKey",
          ],
          Resource: "*",
          Condition: {
            StringEquals: {
              "kms:CallerAccount": location.account,
              "kms:ViaService": `${service}.${location.region}.amazonaws.com`,
            },
          },
        },
        {
          Sid: "Allow direct access to key metadata to the account",
          Effect: "Allow",
          Principal: { AWS: `arn:${location.partition}:iam::${location.account}:root` },
          Action: ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
          Resource: "*",
        },
      ],
    },
    null,
    2,
  );
}

function lockoutError(): KmsError {
  return new KmsError(
    "MalformedPolicyDocumentException",
    "The new key policy will not allow you to update the key policy in the future.",
  );
}

function invalidCiphertextError(): KmsError {
  return new KmsError(
    "InvalidCiphertextException",
    "The ciphertext is invalid or was not encrypted under this key and context.",
  );
}

/** SQLite result codes of a database that cannot be written, with what they mean for the data dir. */
const STORE_FAILURES: readonly [prefix: string, why: string][] = [
  ["SQLITE_FULL", "the disk holding the data dir is full"],
  ["SQLITE_READONLY", "the data dir is read-only"],
  ["SQLITE_IOERR", "an I/O error"],
  ["SQLITE_CANTOPEN", "a file of the data dir cannot be opened"],
  ["SQLITE_CORRUPT", "the database is damaged"],
  ["SQLITE_NOTADB", "the database is damaged"],
];

/** The SQLite result code of an error (SQLITE_FULL, ...), or "" for other errors. */
function sqliteCode(e: unknown): string {
  const code = (e as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : "";
}

/** The reason a SQLite error means kms.db cannot be written, or undefined for other errors. */
function storeProblem(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return undefined;
  const found = STORE_FAILURES.find(([prefix]) => code === prefix || code.startsWith(`${prefix}_`));
  return found ? `${found[1]}: ${code}` : undefined;
}

/**
 * The error a call fails with when kms.db cannot be written. It says why (a client sees it too, so no path);
 * the request was not performed.
 */
function storeFailure(cause: unknown): KmsError {
  const problem = storeProblem(cause) ?? "an internal error";
  return new KmsError(
    "KMSInternalException",
    `kms.db could not be written (${problem}); the request was not performed.`,
    { cause },
  );
}

function toKmsError(e: unknown): KmsError {
  if (KmsError.isInstance(e)) return e;
  if (storeProblem(e) !== undefined) return storeFailure(e);
  if (e instanceof TypeError || e instanceof RangeError)
    return new KmsError("ValidationException", e.message, { cause: e });
  if (SealkitError.isInstance(e) && (e.code === "ERR_LIMIT_EXCEEDED" || e.code === "ERR_REQUEST_INVALID")) {
    return new KmsError("ValidationException", e.message, { cause: e });
  }
  return new KmsError("KMSInternalException", "An internal error occurred.", { cause: e });
}

function closedError(): KmsError {
  return new KmsError("KMSInternalException", "This LocalKms is closed.");
}

function checkPurpose(purpose: unknown): void {
  if (typeof purpose !== "string" || !/^[a-z0-9-]{1,64}$/.test(purpose)) {
    throw new RangeError(`"purpose" expected 1 to 64 of a-z, 0-9 and -`);
  }
}

function checkCaller(caller: Caller): void {
  if (typeof caller !== "object" || caller === null)
    throw validation("caller must be an object with principal and account");
  if (
    typeof caller.principal !== "string" ||
    caller.principal.length === 0 ||
    caller.principal.length > 2048 ||
    // Not text: the audit log's principal index (UTF-8) could not hold it as the event does.
    hasLoneSurrogate(caller.principal)
  ) {
    throw validation("caller.principal must be an ARN");
  }
  if (typeof caller.account !== "string" || !/^\d{12}$/.test(caller.account))
    throw validation("caller.account must be a 12-digit account id");
}

/** The error a call fails with when its audit event cannot be written; its secrets are wiped first. */
function failClosed(ctx: CallContext, cause: unknown): KmsError {
  wipe(...ctx.secrets);
  return KmsError.isInstance(cause, "KMSInternalException")
    ? cause
    : new KmsError("KMSInternalException", "The audit log is unavailable; the request was not performed.", {
        cause,
      });
}

/** The UTC month (YYYY-MM) holding `time` (ms), and its bounds. */
function monthOf(time: number): { name: string; from: number; to: number } {
  const d = new Date(time);
  const from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const to = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return { name: d.toISOString().slice(0, 7), from, to };
}

/** IncorrectKeyException: the key a Decrypt or ReEncrypt names is not the one that encrypted the blob. */
function incorrectKey(): KmsError {
  return new KmsError(
    "IncorrectKeyException",
    "The key ID in the request does not identify a KMS key that can perform this operation.",
  );
}
