// Validation of the AWS-shaped requests LocalKms receives: each check throws the error AWS KMS answers with.

import type { EncryptionContext } from "@sealkit/core";
import { hasLoneSurrogate } from "./audit/build-event.js";
import { checkedContext } from "./ciphertext-blob.js";
import { KmsError, validation } from "./errors.js";
import type { ListResponse, Tag } from "./types.js";

/** A key can have at most this many tags, as in AWS KMS. */
export const MAX_TAGS = 50;

// biome-ignore lint/suspicious/noExplicitAny: request fields are checked one by one below
export type AnyRequest = Record<string, any>;

export function objectRequest(request: unknown): AnyRequest {
  if (typeof request !== "object" || request === null || Array.isArray(request))
    throw validation("The request must be an object.");
  return request as AnyRequest;
}

/** The camelCase member name AWS's validation messages use ("NumberOfBytes" → "numberOfBytes"). */
function memberName(field: string): string {
  return field.charAt(0).toLowerCase() + field.slice(1);
}

/** The constraint texts a ValidationException from {@link constraintError} carries, for {@link Violations}. */
const VIOLATIONS = new WeakMap<KmsError, readonly string[]>();

/** "N validation error(s) detected: a; b", AWS's model validation message for the violations `texts`. */
function violationsError(texts: readonly string[]): KmsError {
  const n = texts.length;
  const error = validation(`${n} validation error${n === 1 ? "" : "s"} detected: ${texts.join("; ")}`);
  VIOLATIONS.set(error, texts);
  return error;
}

/**
 * A ValidationException worded as AWS's model validation words it: "1 validation error detected: Value 'v' at
 * 'member' failed to satisfy constraint: Member must ...". `value` is left out (`Value at 'member'`) for blobs and
 * secrets, as AWS leaves out sensitive members; `null` gives "Value null". Several constraints of one member (a
 * pattern and a length) are several violations: "2 validation errors detected: ...; ...".
 */
export function constraintError(
  path: string,
  value: string | number | null | undefined,
  ...constraints: [string, ...string[]]
): KmsError {
  const shown = value === undefined ? "Value" : value === null ? "Value null" : `Value '${value}'`;
  return violationsError(
    constraints.map((c) => `${shown} at '${path}' failed to satisfy constraint: Member must ${c}`),
  );
}

/** "Value null at 'member' failed to satisfy constraint: Member must not be null": a required member is missing. */
export function missingError(path: string): KmsError {
  return constraintError(path, null, "not be null");
}

/**
 * The model-constraint violations of one request, gathered member by member so that one ValidationException lists
 * them all in the model's member order, as AWS does ("2 validation errors detected: Value ... at 'keyId' ...;
 * Value '0' at 'numberOfBytes' ..."). Any other error a check throws (InvalidKeyUsageException, an unsupported
 * value, a rule between members) comes from the service's own checks, which run only once the model is valid: it is
 * thrown only when no constraint failed, the first one first. A valid request throws nothing and allocates no list.
 */
export class Violations {
  #texts: string[] | undefined;
  #other: { error: unknown } | undefined;

  /**
   * Runs one member's check and returns its result. A failure is recorded and gives undefined in place of the
   * result, which is used only after {@link throwIfAny} passed (it would have thrown).
   */
  check<T>(run: () => T): T {
    try {
      return run();
    } catch (e) {
      this.record(e);
      return undefined as T;
    }
  }

  /** Records an error thrown by a check (see {@link check}). */
  record(error: unknown): void {
    const texts = KmsError.isInstance(error) ? VIOLATIONS.get(error) : undefined;
    if (texts !== undefined) {
      if (this.#texts === undefined) this.#texts = [];
      this.#texts.push(...texts);
    } else this.#other ??= { error };
  }

  /**
   * Throws what was recorded: every constraint violation in one ValidationException, or else the first other error.
   * @throws {KmsError} ValidationException, or the first other error recorded
   */
  throwIfAny(): void {
    if (this.#texts !== undefined) throw violationsError(this.#texts);
    if (this.#other !== undefined) throw this.#other.error;
  }
}

function lengthError(
  path: string,
  value: string | undefined,
  length: number,
  min: number,
  max: number,
): KmsError {
  return constraintError(
    path,
    value,
    length < min ? `have length greater than or equal to ${min}` : `have length less than or equal to ${max}`,
  );
}

/**
 * A required KeyId member (a key id, key ARN, alias name or alias ARN): the model's constraint only, 1 to 2,048
 * characters; which key it names is `parseKeyId`'s business. Check an optional one only when present.
 * @throws {KmsError} ValidationException: "Member must not be null" when absent, the length constraint otherwise
 */
export function checkKeyIdMember(value: unknown, field = "KeyId"): asserts value is string {
  if (value === undefined || value === null) throw missingError(memberName(field));
  if (typeof value !== "string") throw validation(`${field} must be a string`);
  if (value.length < 1 || value.length > 2048)
    throw lengthError(memberName(field), value, value.length, 1, 2048);
}

/**
 * A string of `min` to `max` UTF-16 code units.
 * @throws {KmsError} ValidationException, worded as AWS's length constraint
 */
export function checkString(value: unknown, field: string, min: number, max: number): string {
  if (typeof value !== "string") throw validation(`${field} must be a string`);
  if (value.length < min || value.length > max)
    throw lengthError(memberName(field), value, value.length, min, max);
  if (hasLoneSurrogate(value)) throw validation(unpairedSurrogate(field));
  return value;
}

/** A string with a lone UTF-16 surrogate cannot be stored as UTF-8: it would come back as U+FFFD. */
function unpairedSurrogate(field: string): string {
  return `${field} must be well-formed Unicode: it holds an unpaired surrogate (U+D800 to U+DFFF), which cannot be stored`;
}

/**
 * PutKeyPolicy's and CreateKey's `Policy`: a string of 1 to 131,072 characters (the model's length; the 32 KB size
 * quota is parsePolicy's). The value is left out of the message: echoing up to 128 Ki characters would double the
 * error and its audit event.
 * @throws {KmsError} ValidationException, worded as AWS's length constraint
 */
export function checkPolicyText(value: unknown): string {
  if (typeof value !== "string") throw validation("Policy must be a string");
  if (value.length < 1 || value.length > MAX_POLICY_TEXT_LENGTH)
    throw lengthError("policy", undefined, value.length, 1, MAX_POLICY_TEXT_LENGTH);
  // The model's pattern, matched against the whole document as AWS's validation matches patterns.
  if (!POLICY_CHARACTERS.test(value))
    throw constraintError(
      "policy",
      undefined,
      "satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
    );
  return value;
}

const POLICY_CHARACTERS = /^[\t\n\r\u0020-\u00FF]+$/;

/**
 * An optional string member with a length of `min` to `max` and a model pattern (`pattern` anchored, `patternText`
 * as the model writes it), matched against the whole value as AWS's validation matches patterns. Each failed
 * constraint is its own violation, length first.
 * @throws {KmsError} ValidationException
 */
export function checkPatternedMember(
  value: unknown,
  field: string,
  min: number,
  max: number,
  pattern: RegExp,
  patternText: string,
): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw validation(`${field} must be a string`);
  const failed: string[] = [];
  if (value.length < min) failed.push(`have length greater than or equal to ${min}`);
  else if (value.length > max) failed.push(`have length less than or equal to ${max}`);
  if (!pattern.test(value)) failed.push(`satisfy regular expression pattern: ${patternText}`);
  if (failed.length > 0)
    throw constraintError(memberName(field), value, ...(failed as [string, ...string[]]));
  return value;
}

/**
 * A principal member that only filters (ListGrants' GranteePrincipal): the model's PrincipalIdType, 1 to 256
 * characters of `^[\w+=,.@:/-]+$`.
 * @throws {KmsError} ValidationException
 */
export function checkPrincipalMember(value: unknown, field: string): string | undefined {
  return checkPatternedMember(value, field, 1, 256, /^[\w+=,.@:/-]+$/, "^[\\w+=,.@:/-]+$");
}

/**
 * Members naming what this KMS does not have (CreateKey's CustomKeyStoreId and XksKeyId, GenerateRandom's
 * CustomKeyStoreId): their model constraints, so that a malformed one is a ValidationException as in AWS KMS; that
 * the feature is unsupported is the caller's check once the model is valid.
 * @throws {KmsError} ValidationException
 */
export function checkCustomKeyStoreIdMember(value: unknown): void {
  optionalString(value, "CustomKeyStoreId", 1, 64);
}

/** @see checkCustomKeyStoreIdMember. @throws {KmsError} ValidationException */
export function checkXksKeyIdMember(value: unknown): void {
  checkPatternedMember(value, "XksKeyId", 1, 128, /^[a-zA-Z0-9-_.]+$/, "^[a-zA-Z0-9-_.]+$");
}

/**
 * RetireGrant's GrantToken member: 1 to 8,192 characters (the model's GrantTokenType); whether this KMS issued it is
 * InvalidGrantTokenException, checked when it is decoded.
 * @throws {KmsError} ValidationException
 */
export function checkGrantTokenMember(value: unknown): void {
  optionalString(value, "GrantToken", 1, 8192);
}

/** PutKeyPolicy's and CreateKey's model length of `Policy`, in characters. */
export const MAX_POLICY_TEXT_LENGTH = 131072;

export function optionalString(value: unknown, field: string, min: number, max: number): string | undefined {
  return value === undefined || value === null ? undefined : checkString(value, field, min, max);
}

/**
 * An integer from `min` to `max`.
 * @throws {KmsError} ValidationException, worded as AWS's range constraint ("Member must have value less than or
 *   equal to 1024")
 */
export function checkInt(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw constraintError(memberName(field), undefined, "be an integer");
  }
  if (value < min)
    throw constraintError(memberName(field), value, `have value greater than or equal to ${min}`);
  if (value > max) throw constraintError(memberName(field), value, `have value less than or equal to ${max}`);
  return value;
}

/**
 * Bytes of `min` to `max` length. The value never appears in the message (AWS leaves blobs and plaintext out).
 * @throws {KmsError} ValidationException
 */
export function checkBytes(value: unknown, field: string, min: number, max: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw validation(`${field} must be bytes`);
  if (value.length < min || value.length > max)
    throw lengthError(memberName(field), undefined, value.length, min, max);
  return value;
}

/**
 * The GrantTokens member: the model allows at most 10, each of 1 to 8,192 characters (a token's form is checked
 * when it is used: InvalidGrantTokenException).
 * @throws {KmsError} ValidationException: the list's length constraint, its members', or not a list
 */
export function checkGrantTokenList(value: unknown): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) throw validation("GrantTokens must be a list of strings");
  // The tokens are left out of the messages: they stand for grants.
  const failed: string[] = [];
  if (value.length > 10) failed.push("have length less than or equal to 10");
  for (const t of value) {
    if (typeof t === "string" && (t.length < 1 || t.length > 8192)) {
      failed.push(
        "satisfy constraint: [Member must have length less than or equal to 8192, Member must have length greater than or equal to 1]",
      );
      break;
    }
  }
  if (failed.length > 0)
    throw constraintError("grantTokens", undefined, ...(failed as [string, ...string[]]));
}

export function checkContext(value: unknown, field: string): EncryptionContext {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw validation(`${field} must be a map of strings`);
  try {
    return checkedContext(value as EncryptionContext);
  } catch (e) {
    throw validation(`${field} is invalid: ${(e as Error).message}`);
  }
}

/** EncryptionAlgorithmSpec of AWS's service model, in the model's order. */
const ENCRYPTION_ALGORITHMS = ["SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE"];

/**
 * An encryption algorithm for a symmetric key: SYMMETRIC_DEFAULT or absent.
 * @throws {KmsError} InvalidKeyUsageException for an asymmetric algorithm, ValidationException (AWS's enum
 *   constraint) for a value not in the model's enum
 */
export function checkAlgorithm(value: unknown, field = "EncryptionAlgorithm"): void {
  if (value === undefined || value === "SYMMETRIC_DEFAULT") return;
  if (typeof value === "string" && ENCRYPTION_ALGORITHMS.includes(value)) {
    throw new KmsError(
      "InvalidKeyUsageException",
      `The encryption algorithm ${value} is not supported by a symmetric key.`,
    );
  }
  throw enumError(field, value, ENCRYPTION_ALGORITHMS);
}

function enumError(field: string, value: unknown, set: readonly string[]): KmsError {
  return constraintError(
    memberName(field),
    typeof value === "string" ? value : String(value),
    `satisfy enum value set: [${set.join(", ")}]`,
  );
}

/** Whether the request is a dry run (`DryRun: true`): checked like the real call, then answered with {@link dryRun}. */
export function isDryRun(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return false;
  if (value === true) return true;
  throw validation("DryRun must be a boolean");
}

/**
 * DryRunOperationException: every check of the call passed (parameters, key state, key policy and grants), and it
 * stops before doing anything, as AWS KMS answers a request with `DryRun: true`.
 */
export function dryRun(): KmsError {
  return new KmsError(
    "DryRunOperationException",
    "The request would have succeeded, but the DryRun option is set.",
  );
}

/**
 * A member of an enum: `allowed` values pass, `unsupported` ones (in AWS's enum, not implemented here) are
 * UnsupportedOperationException, anything else fails AWS's enum constraint.
 * @throws {KmsError} UnsupportedOperationException, ValidationException
 */
export function checkEnum(
  value: unknown,
  field: string,
  allowed: readonly string[],
  unsupported: readonly string[],
): void {
  if (value === undefined) return;
  if (typeof value === "string" && allowed.includes(value)) return;
  if (typeof value === "string" && unsupported.includes(value)) {
    throw new KmsError("UnsupportedOperationException", `${field} ${value} is not supported by this KMS.`);
  }
  throw enumError(field, value, [...allowed, ...unsupported]);
}

export function checkLimit(value: unknown, max: number, fallback: number): number {
  return value === undefined ? fallback : checkInt(value, "Limit", 1, max);
}

/** A page marker's sort key: the values, in the list's order, of the last entry of the page it follows. */
export type MarkerKey = readonly (string | number)[];

const invalidMarker = () => new KmsError("InvalidMarkerException", "The marker is not valid.");

/**
 * The marker of the page after the one ending with an entry whose sort key is `key`, in list `list`. It names a
 * position, not an offset, as AWS KMS's markers do: the next page starts after that entry even when entries before
 * it were deleted meanwhile (a caller revoking each page of ListGrants before asking for the next sees every grant).
 */
export function encodeMarker(list: string, key: MarkerKey): string {
  return `skm2.${Buffer.from(JSON.stringify([list, ...key]), "utf8").toString("base64url")}`;
}

/**
 * A Marker's model constraints (MarkerType: 1 to 1,024 characters of `[\u0020-\u00FF]*`, matched against the whole
 * value), which AWS checks before it reads the marker: an empty or overlong one is a ValidationException, not an
 * InvalidMarkerException.
 * @throws {KmsError} ValidationException
 */
export function checkMarkerMember(value: unknown): void {
  checkPatternedMember(value, "Marker", 1, 1024, /^[\u0020-\u00FF]*$/, "[\\u0020-\\u00FF]*");
}

/**
 * The sort key a Marker carries, checked against the list it must come from and the type of each value (`shape`:
 * "s" a string, "n" an integer per value); undefined when there is no marker.
 * @throws {KmsError} InvalidMarkerException for a marker this KMS did not issue for this list
 */
export function decodeMarker(
  value: unknown,
  list: string,
  shape: readonly ("s" | "n")[],
): MarkerKey | undefined {
  if (value === undefined || value === null) return undefined;
  checkMarkerMember(value);
  if (typeof value !== "string" || !value.startsWith("skm2.")) throw invalidMarker();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(value.slice(5), "base64url").toString("utf8"));
  } catch {
    throw invalidMarker();
  }
  if (!Array.isArray(decoded) || decoded.length !== shape.length + 1 || decoded[0] !== list)
    throw invalidMarker();
  const key = decoded.slice(1) as unknown[];
  for (let i = 0; i < shape.length; i++) {
    const v = key[i];
    if (shape[i] === "s" ? typeof v !== "string" : !Number.isSafeInteger(v)) throw invalidMarker();
  }
  return key as MarkerKey;
}

/**
 * The entries of one page from `rows` (the query asked for `limit + 1` to learn whether more follow), with
 * Truncated and, when truncated, the NextMarker after its last entry.
 */
export function pageOf<T>(
  rows: readonly T[],
  limit: number,
  list: string,
  keyOf: (row: T) => MarkerKey,
): { page: T[] } & ListResponse {
  if (rows.length <= limit) return { page: [...rows], Truncated: false };
  const page = rows.slice(0, limit);
  return { page, NextMarker: encodeMarker(list, keyOf(page[page.length - 1]!)), Truncated: true };
}

/**
 * A request's Tags. Lengths and missing members fail AWS's model constraints (ValidationException at
 * 'tags.N.member.tagKey', N counted from 1); a reserved "aws:" key, or a key given twice, is a TagException.
 * @throws {KmsError} ValidationException, TagException, LimitExceededException (more than 50 tags)
 */
export function checkTags(value: unknown, required = false): Tag[] {
  if (value === undefined && !required) return [];
  if (!Array.isArray(value) || (required && value.length === 0))
    throw validation("Tags must be a list of {TagKey, TagValue}");
  if (value.length > MAX_TAGS)
    throw new KmsError("LimitExceededException", `A key can have at most ${MAX_TAGS} tags.`);
  const seen = new Set<string>();
  return value.map((t: unknown, i: number) => {
    const tag = t as Partial<Tag>;
    if (typeof tag !== "object" || tag === null)
      throw new KmsError("TagException", "Each tag needs a TagKey and a TagValue string.");
    const at = `tags.${i + 1}.member`;
    for (const [member, max] of [
      ["TagKey", 128],
      ["TagValue", 256],
    ] as const) {
      const v = tag[member];
      const path = `${at}.${memberName(member)}`;
      if (v === undefined || v === null) throw missingError(path);
      if (typeof v !== "string") throw new KmsError("TagException", `${member} must be a string.`);
      const min = member === "TagKey" ? 1 : 0;
      if (v.length < min || v.length > max) throw lengthError(path, v, v.length, min, max);
      if (hasLoneSurrogate(v)) throw new KmsError("TagException", unpairedSurrogate(member));
    }
    const key = tag.TagKey as string;
    if (key.toLowerCase().startsWith("aws:"))
      throw new KmsError("TagException", "Tag keys beginning with aws: are reserved.");
    // Tag keys are case-sensitive: "Team" and "team" are two tags.
    if (seen.has(key)) throw new KmsError("TagException", `The tag key ${key} is given more than once.`);
    seen.add(key);
    return { TagKey: key, TagValue: tag.TagValue as string };
  });
}

/**
 * UntagResource's TagKeys: a non-empty list of 1 to 128 character keys. A key out of range fails the list's member
 * constraint, worded as AWS words it ("Value '[a, b]' at 'tagKeys' failed to satisfy constraint: Member must satisfy
 * constraint: [...]").
 * @throws {KmsError} ValidationException
 */
export function checkTagKeys(value: unknown): string[] {
  if (value === undefined || value === null) throw missingError("tagKeys");
  if (!Array.isArray(value) || value.length === 0) throw validation("TagKeys must list at least one tag key");
  for (const k of value as unknown[]) {
    if (typeof k !== "string") throw validation("TagKeys must be a list of strings");
    if (k.length < 1 || k.length > 128) {
      throw constraintError(
        "tagKeys",
        `[${(value as string[]).join(", ")}]`,
        "satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]",
      );
    }
  }
  return value as string[];
}

/**
 * The PolicyName member's model constraints (1 to 128 characters of `[\w]+`); that it is "default" is
 * {@link checkPolicyName}'s rule.
 * @throws {KmsError} ValidationException: each failed constraint, length first
 */
export function checkPolicyNameMember(value: unknown): void {
  if (value === undefined || value === null) return;
  if (typeof value !== "string") throw validation("PolicyName must be a string");
  const failed: string[] = [];
  if (value.length < 1) failed.push("have length greater than or equal to 1");
  else if (value.length > 128) failed.push("have length less than or equal to 128");
  if (!/^\w+$/.test(value)) failed.push("satisfy regular expression pattern: [\\w]+");
  if (failed.length > 0) throw constraintError("policyName", value, ...(failed as [string, ...string[]]));
}

export function checkPolicyName(value: unknown): void {
  if (value !== undefined && value !== "default") throw validation("PolicyName must be 'default'");
}

/**
 * A GrantId member's model constraint (GrantIdType: 1 to 128 characters); absent is fine here.
 * @throws {KmsError} ValidationException
 */
export function checkGrantIdMember(value: unknown): void {
  optionalString(value, "GrantId", 1, 128);
}

/**
 * A GrantId: its model constraint (ValidationException), then the form of the ids this KMS issues.
 * @throws {KmsError} ValidationException, InvalidGrantIdException
 */
export function checkGrantId(value: unknown): void {
  checkGrantIdMember(value);
  if (typeof value !== "string" || !/^[A-Za-z0-9-]{1,128}$/.test(value))
    throw new KmsError("InvalidGrantIdException", "The grant id is not valid.");
}
