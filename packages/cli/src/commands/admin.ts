// Key administration (keys, aliases, policy, grants) against the local KMS data dir or a KMS endpoint,
// and the local-only audit and usage commands.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { AuditDigest, AuditEvent, AuditQuery, AuditVerifyReport, LocalKms } from "@sealkit/kms-local";
import {
  type ProviderFlags,
  parseContext,
  parseJsonText,
  resolveSettings,
  type Settings,
} from "../config.js";
import { UsageError } from "../exit-codes.js";
import { printJson, printPairs, printTable, safeJson } from "../output.js";
import type { Session } from "../providers.js";

export interface AdminFlags extends ProviderFlags {
  json?: boolean;
}

/** One KMS operation by its AWS name with AWS's request shape; the same call locally or over HTTP. */
type Call = (operation: string, request: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** Whether admin commands go to an endpoint (--endpoint, or the aws provider) rather than the local data dir. */
function remote(settings: Settings): boolean {
  return settings.endpoint !== undefined || settings.provider === "aws";
}

/** The operations that accept an alias as KeyId in AWS KMS; for the others the CLI resolves aliases first. */
const ACCEPT_ALIAS = new Set([
  "DescribeKey",
  "Encrypt",
  "GenerateDataKey",
  "GenerateDataKeyWithoutPlaintext",
  "ReEncrypt",
]);

/**
 * The backend: the in-process LocalKms as the configured principal, or @aws-sdk/client-kms at the endpoint.
 * Aliases given where AWS KMS wants a key id (EnableKey, PutKeyPolicy, CreateGrant, CreateAlias's target ...) are
 * resolved with DescribeKey, so every command takes an alias.
 */
export async function adminBackend(flags: AdminFlags, session: Session, create = false): Promise<Call> {
  const call = await rawBackend(flags, session, create);
  return async (operation, request) => {
    const resolved = { ...request };
    for (const field of ["KeyId", "TargetKeyId"]) {
      const value = resolved[field];
      if (typeof value === "string" && !ACCEPT_ALIAS.has(operation) && operation !== "DeleteAlias") {
        resolved[field] = await keyIdOf(call, value);
      }
    }
    return call(operation, resolved);
  };
}

async function rawBackend(flags: AdminFlags, session: Session, create: boolean): Promise<Call> {
  const settings = resolveSettings(flags);
  if (remote(settings)) {
    const client = await session.kmsClient(settings);
    const sdk = await import("@aws-sdk/client-kms");
    const { fromKmsError } = await import("@sealkit/kms-aws");
    const commands = sdk as unknown as Record<string, new (input: unknown) => unknown>;
    return async (operation, request) => {
      const Command = commands[`${operation}Command`];
      if (!Command) throw new Error(`no SDK command for ${operation}`);
      try {
        const out = (await client.send(new Command(request) as never)) as unknown as Record<string, unknown>;
        const { $metadata: _, ...rest } = out;
        return rest;
      } catch (error) {
        throw fromKmsError(error, operation, String(request.KeyId ?? request.AliasName ?? ""));
      }
    };
  }
  const kms = await session.localKms(settings, create);
  const caller = session.caller(settings, kms);
  return async (operation, request) => {
    const method = (
      kms as unknown as Record<string, (c: unknown, r: unknown) => Promise<Record<string, unknown>>>
    )[operation[0]!.toLowerCase() + operation.slice(1)];
    if (typeof method !== "function") throw new Error(`the local KMS has no ${operation}`);
    return method.call(kms, caller, request);
  };
}

/**
 * Key operations such as EnableKey take a key id or ARN only (as in AWS KMS); the CLI also accepts an alias and
 * resolves it with DescribeKey.
 */
async function keyIdOf(call: Call, key: string): Promise<string> {
  if (!key.startsWith("alias/") && !key.includes(":alias/")) return key;
  const { KeyMetadata } = (await call("DescribeKey", { KeyId: key })) as { KeyMetadata: { KeyId: string } };
  return KeyMetadata.KeyId;
}

/** Calls a List operation until it is no longer truncated, concatenating `field`. */
async function listAll(call: Call, operation: string, request: Record<string, unknown>, field: string) {
  const items: Record<string, unknown>[] = [];
  let marker: string | undefined;
  for (;;) {
    const out = await call(operation, { ...request, ...(marker ? { Marker: marker } : {}) });
    items.push(...((out[field] as Record<string, unknown>[]) ?? []));
    if (!out.Truncated || !out.NextMarker) return items;
    marker = out.NextMarker as string;
  }
}

const show = (flags: AdminFlags, value: unknown, text: () => void) =>
  flags.json ? printJson(value) : text();

function metadataPairs(m: Record<string, unknown>): [string, unknown][] {
  const fields = [
    "KeyId",
    "Arn",
    "KeyState",
    "Description",
    "CreationDate",
    "Enabled",
    "KeyManager",
    "KeySpec",
    "KeyUsage",
    "Origin",
    "DeletionDate",
    "PendingDeletionWindowInDays",
  ];
  return fields.filter((f) => m[f] !== undefined).map((f) => [f, m[f]]);
}

/**
 * Checks an alias name as AWS KMS does: `alias/` then letters, digits, `/`, `_` or `-`, at most 256 characters, and
 * not in the reserved `alias/aws/` space.
 * @throws {UsageError} for any other name
 */
function checkAliasName(alias: string, what: string): void {
  if (!/^alias\/[A-Za-z0-9/_-]+$/.test(alias) || alias.length > 256 || alias.startsWith("alias/aws/")) {
    throw new UsageError(
      `${what} expected alias/<name> (letters, digits, /, _ or -; not alias/aws/...), got ${JSON.stringify(alias)}`,
    );
  }
}

/** @throws {UsageError} when `alias` already names a key */
async function refuseTakenAlias(call: Call, alias: string): Promise<void> {
  let existing: string | undefined;
  try {
    const out = (await call("DescribeKey", { KeyId: alias })) as { KeyMetadata: { KeyId: string } };
    existing = out.KeyMetadata.KeyId;
  } catch (error) {
    if ((error as { code?: string }).code !== "ERR_KEY_NOT_FOUND") throw error;
  }
  if (existing) throw new UsageError(`${alias} already exists (it names key ${existing})`);
}

/** Handlers of `sealkit keys <verb>`. */
export const keys = {
  async create(
    flags: AdminFlags & { description?: string; alias?: string; rotation?: boolean },
    session: Session,
  ) {
    // The alias is checked before the key is created: a malformed or taken alias used to fail after CreateKey,
    // leaving a key without a name, and running the command again made another.
    if (flags.alias !== undefined) checkAliasName(flags.alias, "--alias");
    const call = await adminBackend(flags, session, true);
    if (flags.alias !== undefined) await refuseTakenAlias(call, flags.alias);
    const { KeyMetadata } = (await call(
      "CreateKey",
      flags.description ? { Description: flags.description } : {},
    )) as {
      KeyMetadata: Record<string, unknown>;
    };
    try {
      if (flags.alias) await call("CreateAlias", { AliasName: flags.alias, TargetKeyId: KeyMetadata.KeyId });
      if (flags.rotation) await call("EnableKeyRotation", { KeyId: KeyMetadata.KeyId });
    } catch (error) {
      // Say which key exists now, so that it can be named or scheduled for deletion.
      if (error instanceof Error) error.message = `created key ${KeyMetadata.KeyId}, then: ${error.message}`;
      throw error;
    }
    show(flags, { KeyMetadata, ...(flags.alias ? { AliasName: flags.alias } : {}) }, () => {
      process.stdout.write(`created key ${KeyMetadata.KeyId}${flags.alias ? ` (${flags.alias})` : ""}\n`);
      printPairs(metadataPairs(KeyMetadata));
    });
  },
  async list(flags: AdminFlags, session: Session) {
    const call = await adminBackend(flags, session);
    const listed = await listAll(call, "ListKeys", {}, "Keys");
    const aliases = await listAll(call, "ListAliases", {}, "Aliases");
    const keys: Record<string, unknown>[] = [];
    for (const k of listed) {
      const { KeyMetadata: m } = (await call("DescribeKey", { KeyId: k.KeyId })) as {
        KeyMetadata: Record<string, unknown>;
      };
      if (m.KeyManager === "AWS" && !flags.json) continue;
      keys.push({
        KeyId: m.KeyId,
        Arn: m.Arn,
        KeyState: m.KeyState,
        Description: m.Description,
        CreationDate: m.CreationDate,
        Aliases: aliases.filter((a) => a.TargetKeyId === m.KeyId).map((a) => a.AliasName),
      });
    }
    show(flags, { Keys: keys }, () =>
      printTable(
        ["KEY ID", "STATE", "ALIASES", "DESCRIPTION"],
        keys.map((k) => [
          k.KeyId,
          k.KeyState,
          (k.Aliases as string[]).join(",") || "-",
          k.Description || "-",
        ]),
      ),
    );
  },
  async describe(key: string, flags: AdminFlags, session: Session) {
    const call = await adminBackend(flags, session);
    const out = (await call("DescribeKey", { KeyId: key })) as { KeyMetadata: Record<string, unknown> };
    show(flags, out, () => printPairs(metadataPairs(out.KeyMetadata)));
  },
  async enable(key: string, flags: AdminFlags, session: Session) {
    await (await adminBackend(flags, session))("EnableKey", { KeyId: key });
    show(flags, { KeyId: key, Enabled: true }, () => process.stdout.write(`enabled ${key}\n`));
  },
  async disable(key: string, flags: AdminFlags, session: Session) {
    await (await adminBackend(flags, session))("DisableKey", { KeyId: key });
    show(flags, { KeyId: key, Enabled: false }, () => process.stdout.write(`disabled ${key}\n`));
  },
  async rotate(
    key: string,
    flags: AdminFlags & { automatic?: string; periodDays?: string },
    session: Session,
  ) {
    // --period-days only means something with --automatic on; without it the command would rotate the key now.
    if (flags.periodDays !== undefined && flags.automatic !== "on") {
      throw new UsageError("--period-days sets the automatic rotation period: use it with --automatic on");
    }
    const call = await adminBackend(flags, session);
    if (flags.automatic !== undefined) {
      if (flags.automatic === "on") {
        const days = flags.periodDays === undefined ? undefined : Number(flags.periodDays);
        if (days !== undefined && !Number.isInteger(days))
          throw new UsageError("--period-days expected an integer");
        await call("EnableKeyRotation", {
          KeyId: key,
          ...(days !== undefined ? { RotationPeriodInDays: days } : {}),
        });
      } else if (flags.automatic === "off") await call("DisableKeyRotation", { KeyId: key });
      else throw new UsageError(`--automatic expected on or off, got ${JSON.stringify(flags.automatic)}`);
      const status = await call("GetKeyRotationStatus", { KeyId: key });
      return show(flags, status, () =>
        process.stdout.write(
          `automatic rotation of ${key}: ${status.KeyRotationEnabled ? `on, every ${status.RotationPeriodInDays} days` : "off"}\n`,
        ),
      );
    }
    const out = await call("RotateKeyOnDemand", { KeyId: key });
    show(flags, out, () =>
      process.stdout.write(`rotated ${out.KeyId}: new key material is used from now on\n`),
    );
  },
  async rotations(key: string, flags: AdminFlags, session: Session) {
    const call = await adminBackend(flags, session);
    const status = await call("GetKeyRotationStatus", { KeyId: key });
    const rotations = await listAll(call, "ListKeyRotations", { KeyId: key }, "Rotations");
    show(flags, { ...status, Rotations: rotations }, () => {
      printPairs([
        [
          "automatic rotation",
          status.KeyRotationEnabled ? `on, every ${status.RotationPeriodInDays} days` : "off",
        ],
        ["next rotation", status.NextRotationDate],
      ]);
      printTable(
        ["ROTATION DATE", "TYPE"],
        rotations.map((r) => [r.RotationDate, r.RotationType]),
      );
    });
  },
  async scheduleDeletion(key: string, flags: AdminFlags & { days?: string }, session: Session) {
    const days = flags.days === undefined ? undefined : Number(flags.days);
    if (days !== undefined && !Number.isInteger(days))
      throw new UsageError("--days expected an integer (7 to 30)");
    const out = await (await adminBackend(flags, session))("ScheduleKeyDeletion", {
      KeyId: key,
      ...(days !== undefined ? { PendingWindowInDays: days } : {}),
    });
    show(flags, out, () =>
      process.stdout.write(`key ${out.KeyId} will be deleted on ${asDate(out.DeletionDate)}\n`),
    );
  },
  async cancelDeletion(key: string, flags: AdminFlags, session: Session) {
    const out = await (await adminBackend(flags, session))("CancelKeyDeletion", { KeyId: key });
    show(flags, out, () =>
      process.stdout.write(
        `deletion of ${out.KeyId} cancelled; the key is disabled: enable it with sealkit keys enable\n`,
      ),
    );
  },
};

function asDate(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "number") return new Date(value * 1000).toISOString();
  return String(value);
}

/** Handlers of `sealkit aliases <verb>`. */
export const aliases = {
  async create(alias: string, key: string, flags: AdminFlags, session: Session) {
    checkAliasName(alias, "the alias");
    await (await adminBackend(flags, session))("CreateAlias", { AliasName: alias, TargetKeyId: key });
    show(flags, { AliasName: alias, TargetKeyId: key }, () => process.stdout.write(`${alias} -> ${key}\n`));
  },
  async list(flags: AdminFlags & { key?: string[] }, session: Session) {
    const call = await adminBackend(flags, session);
    const key = flags.key?.[0];
    const list = await listAll(call, "ListAliases", key ? { KeyId: key } : {}, "Aliases");
    show(flags, { Aliases: list }, () =>
      printTable(
        ["ALIAS", "TARGET KEY ID"],
        list.filter((a) => a.TargetKeyId).map((a) => [a.AliasName, a.TargetKeyId]),
      ),
    );
  },
  async delete(alias: string, flags: AdminFlags, session: Session) {
    await (await adminBackend(flags, session))("DeleteAlias", { AliasName: alias });
    show(flags, { AliasName: alias, Deleted: true }, () => process.stdout.write(`deleted ${alias}\n`));
  },
};

/** Handlers of `sealkit policy <verb>`. */
export const policy = {
  async get(key: string, flags: AdminFlags, session: Session) {
    const out = await (await adminBackend(flags, session))("GetKeyPolicy", {
      KeyId: key,
      PolicyName: "default",
    });
    const text = String(out.Policy);
    if (flags.json) printJson(JSON.parse(text));
    else process.stdout.write(`${safeJson(JSON.stringify(JSON.parse(text), null, 2))}\n`);
  },
  async put(
    key: string,
    file: string,
    flags: AdminFlags & { bypassPolicyLockoutSafetyCheck?: boolean },
    session: Session,
  ) {
    const text = readFileSync(file === "-" ? 0 : file, "utf8");
    // One line, by line and column (the parser's message quoted the text, newlines included).
    parseJsonText(text, file === "-" ? "the policy on stdin" : file);
    await (await adminBackend(flags, session))("PutKeyPolicy", {
      KeyId: key,
      PolicyName: "default",
      Policy: text,
      ...(flags.bypassPolicyLockoutSafetyCheck ? { BypassPolicyLockoutSafetyCheck: true } : {}),
    });
    show(flags, { KeyId: key, PolicyName: "default", Updated: true }, () =>
      process.stdout.write(`policy of ${key} updated\n`),
    );
  },
};

export interface GrantFlags extends AdminFlags {
  grantee?: string;
  operations?: string;
  retiringPrincipal?: string;
  name?: string;
  contextSubset?: string[];
  contextEquals?: string[];
}

/** Handlers of `sealkit grants <verb>`. */
export const grants = {
  async create(key: string, flags: GrantFlags, session: Session) {
    if (!flags.grantee) throw new UsageError("grants create needs --grantee <principal ARN>");
    if (!flags.operations)
      throw new UsageError("grants create needs --operations (e.g. Decrypt,GenerateDataKey)");
    const subset = parseContext(flags.contextSubset, "--context-subset");
    const equals = parseContext(flags.contextEquals, "--context-equals");
    const constraints = {
      ...(Object.keys(subset).length ? { EncryptionContextSubset: subset } : {}),
      ...(Object.keys(equals).length ? { EncryptionContextEquals: equals } : {}),
    };
    const out = await (await adminBackend(flags, session))("CreateGrant", {
      KeyId: key,
      GranteePrincipal: flags.grantee,
      Operations: flags.operations
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean),
      ...(flags.retiringPrincipal ? { RetiringPrincipal: flags.retiringPrincipal } : {}),
      ...(flags.name ? { Name: flags.name } : {}),
      ...(Object.keys(constraints).length ? { Constraints: constraints } : {}),
    });
    show(flags, out, () => process.stdout.write(`grant ${out.GrantId} created on ${key}\n`));
  },
  async list(key: string, flags: AdminFlags, session: Session) {
    const list = await listAll(await adminBackend(flags, session), "ListGrants", { KeyId: key }, "Grants");
    show(flags, { Grants: list }, () =>
      printTable(
        ["GRANT ID", "GRANTEE", "OPERATIONS", "NAME"],
        list.map((g) => [g.GrantId, g.GranteePrincipal, (g.Operations as string[]).join(","), g.Name || "-"]),
      ),
    );
  },
  async revoke(key: string, grantId: string, flags: AdminFlags, session: Session) {
    await (await adminBackend(flags, session))("RevokeGrant", { KeyId: key, GrantId: grantId });
    show(flags, { KeyId: key, GrantId: grantId, Revoked: true }, () =>
      process.stdout.write(`revoked grant ${grantId}\n`),
    );
  },
};

/** The local KMS for audit and usage, which the KMS API does not expose: refuse --endpoint clearly. */
async function localOnly(flags: AdminFlags, session: Session, what: string): Promise<LocalKms> {
  return session.localKms(localSettings(flags, what));
}

/** The settings of a command that reads the data dir itself: --endpoint is refused (the AWS KMS API has no such operation). */
function localSettings(flags: AdminFlags, what: string): Settings {
  const settings = resolveSettings(flags);
  if (settings.endpoint !== undefined) {
    throw new UsageError(
      `${what} reads the local KMS data dir directly and is not available over --endpoint (the AWS KMS API has no such operation): run it where the server's data dir is, with --data-dir`,
    );
  }
  return settings;
}

export interface AuditFlags extends AdminFlags {
  publicKey?: string;
  knownDigests?: string;
  lines?: string;
  keyId?: string;
  event?: string;
  principal?: string;
  from?: string;
  to?: string;
  errors?: boolean;
  limit?: string;
}

function eventRows(events: AuditEvent[]) {
  return events.map((e) => [
    e.sequence,
    e.eventTime,
    e.eventName,
    e.userIdentity?.arn ?? "-",
    e.keyId ?? "-",
    e.errorCode ?? "ok",
  ]);
}

const EVENT_COLUMNS = ["SEQ", "TIME", "EVENT", "PRINCIPAL", "KEY", "RESULT"];

function date(text: string | undefined, flag: string): Date | undefined {
  if (text === undefined) return undefined;
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new UsageError(`${flag} expected a date such as 2026-11-29T08:00:00Z`);
  return d;
}

function count(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} expected a positive integer`);
  return n;
}

/**
 * The events of `<data dir>/audit.db` matching `filter`, read-only (`queryAuditFile`): it works while the server holds
 * the data dir, and writes nothing. Opening the local KMS to read them signed a digest over any events after the last
 * one when it closed (whoever had appended them), and ran its sweep of due deletions and rotations.
 */
async function auditEvents(flags: AuditFlags, what: string, filter: AuditQuery): Promise<AuditEvent[]> {
  const { dataDir } = localSettings(flags, what);
  const { queryAuditFile, AuditUnreadableError } = await import("@sealkit/kms-local");
  try {
    return queryAuditFile(join(dataDir, "audit.db"), filter);
  } catch (error) {
    if (error instanceof AuditUnreadableError && error.reason === "missing") {
      throw Object.assign(new Error(`no audit log in ${dataDir} (audit.db is missing)`), { code: "ENOENT" });
    }
    throw error;
  }
}

/** Why an audit.db cannot be verified that mean it was replaced or damaged, not that it could not be read now. */
const DAMAGED: ReadonlySet<string> = new Set(["not-sqlite", "not-an-audit-log", "corrupt"]);

/** Handlers of `sealkit audit <verb>`. */
export const audit = {
  async tail(flags: AuditFlags, _session?: Session) {
    const n = count(flags.lines, "--lines", 20);
    // Without `after`, a query returns the latest `limit` events, oldest first.
    const events = await auditEvents(flags, "audit tail", { limit: n });
    show(flags, events, () => printTable(EVENT_COLUMNS, eventRows(events)));
  },
  async query(flags: AuditFlags, _session?: Session) {
    const from = date(flags.from, "--from");
    const to = date(flags.to, "--to");
    // --key-id: a key id, key ARN, alias name or alias ARN (an alias as the log last recorded it).
    const events = await auditEvents(flags, "audit query", {
      ...(flags.keyId ? { keyId: flags.keyId } : {}),
      ...(flags.event ? { eventName: flags.event } : {}),
      ...(flags.principal ? { principal: flags.principal } : {}),
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
      ...(flags.errors ? { errorsOnly: true } : {}),
      limit: count(flags.limit, "--limit", 1000),
    });
    show(flags, events, () => printTable(EVENT_COLUMNS, eventRows(events)));
  },
  /**
   * Verifies `<data dir>/audit.db` read-only (it never writes a digest, which would sign whatever tail it found, and
   * it works while the server holds the data dir) against `--public-key` (default: the data dir's own public key)
   * and `--known-digests` (digests copied out earlier with `audit digests`). Returns false when the log did not
   * verify (exit code 3).
   */
  async verify(flags: AuditFlags): Promise<boolean> {
    const { dataDir } = localSettings(flags, "audit verify");
    const { verifyAuditFile, AuditUnreadableError } = await import("@sealkit/kms-local");
    const keyPath = flags.publicKey ?? join(dataDir, "audit-signing.key.pub");
    const pem = readFileSync(keyPath, "utf8");
    const knownDigests = flags.knownDigests ? readKnownDigests(flags.knownDigests) : undefined;
    let report: AuditVerifyReport;
    try {
      report = await verifyAuditFile(join(dataDir, "audit.db"), pem, knownDigests ? { knownDigests } : {});
    } catch (error) {
      if (error instanceof AuditUnreadableError && error.reason === "missing") {
        throw Object.assign(new Error(`no audit log in ${dataDir} (audit.db is missing)`), {
          code: "ENOENT",
        });
      }
      // A file that is not (or no longer) an audit log, or is damaged, is a failed verification (exit 3), as an
      // edited one is: it exited 1, which scripts read as "could not check, try again" (a lock, an I/O error).
      if (error instanceof AuditUnreadableError && DAMAGED.has(error.reason)) {
        show(flags, { ok: false, unreadable: error.reason, message: error.message }, () =>
          printPairs([
            ["result", "FAILED"],
            ["problem", error.message],
          ]),
        );
        return false;
      }
      throw error;
    }
    show(flags, report, () => {
      printPairs([
        ["result", report.ok ? "OK: the hash chain and the signed digests verify" : "FAILED"],
        [
          "public key",
          flags.publicKey
            ? keyPath
            : `${keyPath} (the data dir's own: keep a copy elsewhere and pass it with --public-key)`,
        ],
        ...(knownDigests ? [["known digests", knownDigests.length] as [string, number]] : []),
        ["events", report.events],
        ["digests", report.digests],
        ["last digest covers", `event ${report.lastDigestSequence}`],
        ["events after it", report.eventsAfterLastDigest],
      ]);
      for (const p of report.problems)
        process.stdout.write(`  problem at ${p.sequence}: ${p.kind}: ${p.detail}\n`);
    });
    return report.ok;
  },
  /** Prints the log's signed digests as JSON, to keep outside the data dir (`audit verify --known-digests`). */
  async digests(flags: AuditFlags): Promise<void> {
    const { dataDir } = localSettings(flags, "audit digests");
    const { readAuditDigests } = await import("@sealkit/kms-local");
    printJson(readAuditDigests(join(dataDir, "audit.db")));
  },
};

/** Digests kept outside the data dir: the JSON array `sealkit audit digests` prints. */
function readKnownDigests(path: string): AuditDigest[] {
  const parsed = parseJsonText(readFileSync(path, "utf8"), path);
  if (!Array.isArray(parsed) || parsed.some((d) => d === null || typeof d !== "object")) {
    throw new UsageError(`${path}: expected the JSON array of digests that sealkit audit digests prints`);
  }
  return parsed as AuditDigest[];
}

/** `sealkit usage [--month YYYY-MM]`. */
export async function usage(flags: AdminFlags & { month?: string }, session: Session) {
  const kms = await localOnly(flags, session, "usage");
  const month = flags.month ?? new Date().toISOString().slice(0, 7);
  if (!/^\d{4}-\d{2}$/.test(month))
    throw new UsageError(`--month expected YYYY-MM, got ${JSON.stringify(month)}`);
  const report = await kms.usageReport({ month });
  show(flags, report, () => {
    printPairs([
      ["month", `${report.Month}${report.Partial ? " (so far)" : ""}`],
      ["region", report.Region],
      [
        "customer managed keys",
        `${report.Keys.CustomerManaged.Count} (${report.Keys.CustomerManaged.KeyMonths.toFixed(2)} key-months)`,
      ],
      ["requests", `${report.Requests.Total} (${report.Requests.Symmetric} billed)`],
      ["estimated AWS KMS cost", `$${report.EstimatedCostUsd.Total.toFixed(2)}`],
    ]);
    printTable(
      ["OPERATION", "REQUESTS"],
      Object.entries(report.Requests.ByOperation).map(([k, v]) => [k, v]),
    );
  });
}
