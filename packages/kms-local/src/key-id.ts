// Key identifiers: key ids, key ARNs, alias names and alias ARNs, parsed and checked as AWS KMS does.

import { createHash } from "node:crypto";
import { KmsError, keyNotFound } from "./errors.js";
import { checkKeyIdMember, constraintError } from "./request-checks.js";

/** Where keys live: the parts of every ARN this KMS issues. */
export interface KmsLocation {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** AWS: `^alias/[a-zA-Z0-9/_-]+$`, 1 to 256 characters including the prefix. */
const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]+$/;
/** The AliasName model's pattern (AliasNameType); a name outside it fails model validation. */
const ALIAS_NAME_MODEL = /^[a-zA-Z0-9:/_-]+$/;
const ARN = /^arn:([a-z-]+):kms:([a-z0-9-]+):(\d{12}):(key|alias)\/(.+)$/;

/** The reserved prefix of AWS managed keys' aliases. */
export const RESERVED_ALIAS_PREFIX = "alias/aws/";

/** A key identifier as a caller gave it, after parsing. */
export type ParsedKeyId =
  | { readonly kind: "key"; readonly id: string }
  | { readonly kind: "alias"; readonly name: string };

/** True for a lower-case UUID in its 8-4-4-4-12 form. */
export function isKeyUuid(value: string): boolean {
  return UUID.test(value);
}

/** The ARN of a key. */
export function keyArn(location: KmsLocation, id: string): string {
  return `arn:${location.partition}:kms:${location.region}:${location.account}:key/${id}`;
}

/** The ARN of an alias. */
export function aliasArn(location: KmsLocation, name: string): string {
  return `arn:${location.partition}:kms:${location.region}:${location.account}:${name}`;
}

/**
 * Parses a KeyId parameter: a key id, a key ARN, an alias name or an alias ARN (the last two only when
 * `allowAlias`). An ARN of another partition, region or account names no key here.
 * @throws {KmsError} ValidationException when it is missing or not a string of 1 to 2,048 characters (AWS's
 * model constraint: "Member must have length less than or equal to 2048"), NotFoundException when it cannot name
 * a key of this KMS
 */
export function parseKeyId(
  value: unknown,
  location: KmsLocation,
  allowAlias: boolean,
  field = "KeyId",
): ParsedKeyId {
  checkKeyIdMember(value, field);
  const invalid = () => new KmsError("NotFoundException", `Invalid keyId ${value}`);
  if (isKeyUuid(value)) return { kind: "key", id: value };
  if (value.startsWith("alias/")) {
    if (!allowAlias) throw invalid();
    return { kind: "alias", name: value };
  }
  const m = ARN.exec(value);
  if (!m) throw invalid();
  const [, partition, region, account, type, rest] = m;
  if (partition !== location.partition || region !== location.region || account !== location.account) {
    throw keyNotFound(value);
  }
  if (type === "key") {
    if (!isKeyUuid(rest!)) throw invalid();
    return { kind: "key", id: rest! };
  }
  if (!allowAlias) throw invalid();
  return { kind: "alias", name: `alias/${rest}` };
}

/**
 * Checks an alias name given to CreateAlias, UpdateAlias or DeleteAlias: first the model's constraints (1 to 256
 * characters of `[a-zA-Z0-9:/_-]`, every failed one listed), then the service's rules, worded as AWS KMS answers
 * them: the `alias/` prefix ("Invalid identifier"), the reserved `alias/aws/` space, no colon.
 * @throws {KmsError} ValidationException for a model constraint, a missing prefix or a colon;
 * InvalidAliasNameException for `alias/` alone and (unless `allowReserved`) for `alias/aws/` names
 */
export function checkAliasName(value: unknown, allowReserved = false): string {
  if (value === undefined || value === null) throw constraintError("aliasName", null, "not be null");
  if (typeof value !== "string") throw new KmsError("ValidationException", "AliasName must be a string");
  const failed: string[] = [];
  if (value.length < 1) failed.push("have length greater than or equal to 1");
  else if (value.length > 256) failed.push("have length less than or equal to 256");
  // An empty name fails the length alone (AWS lists no pattern failure for it).
  if (value.length > 0 && !ALIAS_NAME_MODEL.test(value))
    failed.push(`satisfy regular expression pattern: ${ALIAS_NAME_MODEL.source}`);
  if (failed.length > 0) throw constraintError("aliasName", value, ...(failed as [string, ...string[]]));
  if (!value.startsWith("alias/")) throw new KmsError("ValidationException", "Invalid identifier");
  if (!allowReserved && (value.startsWith(RESERVED_ALIAS_PREFIX) || value === "alias/aws")) {
    throw new KmsError(
      "InvalidAliasNameException",
      `Alias '${value}' is reserved: the alias/aws/ prefix is reserved for AWS managed keys.`,
    );
  }
  if (value.includes(":"))
    throw new KmsError("ValidationException", `${value} contains invalid characters for an alias`);
  if (!ALIAS_NAME.test(value)) {
    throw new KmsError(
      "InvalidAliasNameException",
      `Alias '${value}' must begin with 'alias/' and contain only alphanumeric characters, '/', '_' or '-'.`,
    );
  }
  return value;
}

/** The service named by a reserved alias (`alias/aws/s3` → `s3`), or undefined. */
export function serviceOfAlias(name: string): string | undefined {
  if (!name.startsWith(RESERVED_ALIAS_PREFIX)) return undefined;
  const service = name.slice(RESERVED_ALIAS_PREFIX.length);
  return /^[a-z0-9-]{1,64}$/.test(service) ? service : undefined;
}

/** Key id as 16 bytes (for the ciphertext blob and the AAD). */
export function uuidToBytes(id: string): Uint8Array {
  const hex = id.replaceAll("-", "");
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Key id from its 16 bytes. */
export function bytesToUuid(bytes: Uint8Array): string {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The KeyMaterialId of a key's backing-key version (ListKeyRotations, DescribeKey's CurrentKeyMaterialId): 64 hex
 * digits, as AWS KMS's, derived from the key id and version only (it says nothing about the material).
 */
export function keyMaterialId(keyId: string, version: number): string {
  return createHash("sha256")
    .update(`sealkit-kms-local/key-material-id/v1\0${keyId}\0${version}`)
    .digest("hex");
}
