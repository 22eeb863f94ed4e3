// The audit record of a call: its caller and its requestParameters, never plaintext, keys or blobs.

import type { AuditEventInput } from "./audit/types.js";
import type { Caller, KeyMetadata } from "./types.js";

export function auditCaller(caller: Caller): AuditEventInput["caller"] {
  const c = (typeof caller === "object" && caller !== null ? caller : {}) as Partial<Caller>;
  const out: { -readonly [K in keyof AuditEventInput["caller"]]: AuditEventInput["caller"][K] } = {
    principal: nonEmpty(c.principal) ?? "unknown",
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

/** Copies the named fields into camelCase audit parameters (never blobs). */
export function pick(request: unknown, fields: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof request !== "object" || request === null) return out;
  for (const f of fields) {
    const v = (request as Record<string, unknown>)[f];
    if (v === undefined || v instanceof Uint8Array) continue;
    out[f.charAt(0).toLowerCase() + f.slice(1)] = v;
  }
  return out;
}

export function keyParams(request: unknown): Record<string, unknown> {
  return pick(request, ["KeyId"]);
}

export function aliasParams(request: unknown): Record<string, unknown> {
  return pick(request, ["AliasName", "TargetKeyId"]);
}

export function cryptoParams(request: unknown): Record<string, unknown> {
  return pick(request, ["KeyId", "EncryptionContext", "EncryptionAlgorithm", "GrantTokens"]);
}

export function dataKeyParams(request: unknown): Record<string, unknown> {
  return pick(request, ["KeyId", "EncryptionContext", "KeySpec", "NumberOfBytes", "GrantTokens"]);
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
