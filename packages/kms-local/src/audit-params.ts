// The audit record of a call: its caller and its requestParameters, never plaintext, keys or blobs.

import { toWellFormed } from "./audit/build-event.js";
import type { AuditEventInput } from "./audit/types.js";
import type { Caller, KeyMetadata } from "./types.js";

export function auditCaller(caller: Caller): AuditEventInput["caller"] {
  const c = (typeof caller === "object" && caller !== null ? caller : {}) as Partial<Caller>;
  const principal = nonEmpty(c.principal);
  const out: { -readonly [K in keyof AuditEventInput["caller"]]: AuditEventInput["caller"][K] } = {
    // A principal that is not text (refused by the call) is recorded as UTF-8 would store it.
    principal: principal === undefined ? "unknown" : toWellFormed(principal),
    account: nonEmpty(c.account) ?? "unknown",
  };
  const accessKeyId = nonEmpty(c.accessKeyId);
  if (accessKeyId !== undefined) out.accessKeyId = accessKeyId;
  const sourceIp = nonEmpty(c.sourceIp);
  if (sourceIp !== undefined) out.sourceIp = sourceIp;
  const userAgent = nonEmpty(c.userAgent);
  if (userAgent !== undefined) out.userAgent = userAgent;
  const viaService = nonEmpty(c.viaService);
  if (viaService !== undefined) out.viaService = viaService;
  return out;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

export function dropUndefined<T extends Record<string, unknown>>(o: T): T {
  let clean = true;
  for (const k in o) {
    if (Object.hasOwn(o, k) && o[k] === undefined) {
      clean = false;
      break;
    }
  }
  if (clean) return o;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** camelCase names of request fields, computed once per field name (the names are constants of the code). */
const camelNames = new Map<string, string>();

function camelName(field: string): string {
  let name = camelNames.get(field);
  if (name === undefined) {
    name = field.charAt(0).toLowerCase() + field.slice(1);
    // Bounded, should a caller ever pass names that are not constants.
    if (camelNames.size < 256) camelNames.set(field, name);
  }
  return name;
}

/** Copies the named fields into camelCase audit parameters (never blobs). */
export function pick(request: unknown, fields: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof request !== "object" || request === null) return out;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const v = (request as Record<string, unknown>)[f];
    if (v === undefined || v instanceof Uint8Array) continue;
    out[camelName(f)] = v;
  }
  return out;
}

const KEY_FIELDS = ["KeyId"];
const ALIAS_FIELDS = ["AliasName", "TargetKeyId"];
const CRYPTO_FIELDS = ["KeyId", "EncryptionContext", "EncryptionAlgorithm", "GrantTokens"];
const DATA_KEY_FIELDS = ["KeyId", "EncryptionContext", "KeySpec", "NumberOfBytes", "GrantTokens"];

export function keyParams(request: unknown): Record<string, unknown> {
  return pick(request, KEY_FIELDS);
}

export function aliasParams(request: unknown): Record<string, unknown> {
  return pick(request, ALIAS_FIELDS);
}

/**
 * Encrypt and Decrypt: CloudTrail records `encryptionAlgorithm` for them even when the request left it out (AWS KMS
 * developer guide, "Decrypt" CloudTrail examples), so the default is written then.
 */
export function cryptoParams(request: unknown): Record<string, unknown> {
  const params = pick(request, CRYPTO_FIELDS);
  if (params.encryptionAlgorithm === undefined) params.encryptionAlgorithm = "SYMMETRIC_DEFAULT";
  return params;
}

export function dataKeyParams(request: unknown): Record<string, unknown> {
  return pick(request, DATA_KEY_FIELDS);
}

export function auditMetadata(m: KeyMetadata): Record<string, unknown> {
  return {
    keyId: m.KeyId,
    arn: m.Arn,
    keyState: m.KeyState,
    keyManager: m.KeyManager,
    keySpec: m.KeySpec,
    keyUsage: m.KeyUsage,
    creationDate: m.CreationDate.toISOString(),
  };
}
