// Grants: their shape, AWS's validation of CreateGrant requests, and whether a grant allows a request.

import { KmsError, validation } from "../errors.js";
import { constraintError, missingError } from "../request-checks.js";
import { roleArnOfSession, sameRole } from "./evaluate-policy.js";
import { CONTEXT_OPERATIONS } from "./operations.js";

/** Every operation a grant may allow (AWS's GrantOperation enum). */
export const GRANT_OPERATIONS: readonly string[] = [
  "Decrypt",
  "Encrypt",
  "GenerateDataKey",
  "GenerateDataKeyWithoutPlaintext",
  "ReEncryptFrom",
  "ReEncryptTo",
  "Sign",
  "Verify",
  "GetPublicKey",
  "CreateGrant",
  "RetireGrant",
  "DescribeKey",
  "GenerateDataKeyPair",
  "GenerateDataKeyPairWithoutPlaintext",
  "GenerateMac",
  "VerifyMac",
  "DeriveSharedSecret",
];
const GRANT_OPERATION_SET = new Set(GRANT_OPERATIONS);

/** The grant operations valid for a symmetric encryption key (key usage ENCRYPT_DECRYPT). */
export const SYMMETRIC_GRANT_OPERATIONS: ReadonlySet<string> = new Set([
  "Decrypt",
  "Encrypt",
  "GenerateDataKey",
  "GenerateDataKeyWithoutPlaintext",
  "GenerateDataKeyPair",
  "GenerateDataKeyPairWithoutPlaintext",
  "ReEncryptFrom",
  "ReEncryptTo",
  "CreateGrant",
  "RetireGrant",
  "DescribeKey",
]);

/** Operations a constrained grant may also include, though the constraint does not apply to them. */
const CONSTRAINT_EXEMPT = new Set(["DescribeKey", "RetireGrant", "CreateGrant"]);

/** Encryption context constraints of a grant. Keys compare case-insensitively, values case-sensitively. */
export interface GrantConstraints {
  /** The request's encryption context must be exactly these pairs. */
  readonly EncryptionContextEquals?: Readonly<Record<string, string>>;
  /** The request's encryption context must include these pairs (it may have more). */
  readonly EncryptionContextSubset?: Readonly<Record<string, string>>;
}

/** A grant, with AWS's field names (as ListGrants returns them). */
export interface Grant {
  readonly GrantId: string;
  /** The key's ARN. */
  readonly KeyId: string;
  readonly GranteePrincipal: string;
  readonly RetiringPrincipal?: string;
  readonly Operations: readonly string[];
  readonly Constraints?: GrantConstraints;
  readonly Name?: string;
  /** The account that created the grant, as `arn:aws:iam::111122223333:root` (AWS's form) or a bare id. */
  readonly IssuingAccount: string;
  readonly CreationDate: Date;
}

/** A request checked against a grant. */
export interface GrantRequest {
  /** The caller's ARN. */
  readonly grantee: string;
  /** The caller's account id; taken from the caller's ARN when absent. */
  readonly account?: string;
  /** The AWS operation name: "Decrypt", "ReEncryptFrom", ... */
  readonly operation: string;
  /** The request's encryption context ({} or absent when none). */
  readonly context?: Readonly<Record<string, string>>;
}

const ACCOUNT_ID = /^\d{12}$/;
const ROOT_ARN = /^arn:[a-z0-9-]+:iam::(\d{12}):root$/;
const ARN_ACCOUNT = /^arn:[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):/;

function accountOf(principal: string): string | undefined {
  if (ACCOUNT_ID.test(principal)) return principal;
  return ARN_ACCOUNT.exec(principal)?.[1];
}

/**
 * Whether `principal` is the principal a grant names (`named`): the same ARN, a session of the named role (named
 * with or without its path), or any principal of the account when `named` is an account root (no IAM here: see
 * docs/KMS-LOCAL.md).
 */
export function grantPrincipalMatches(named: string, principal: string, account?: string): boolean {
  if (named === principal) return true;
  const root = ROOT_ARN.exec(named)?.[1] ?? (ACCOUNT_ID.test(named) ? named : undefined);
  if (root !== undefined) return (account ?? accountOf(principal)) === root;
  const role = roleArnOfSession(principal);
  return role !== undefined && sameRole(named, role);
}

/** A role ARN, with or without a path: partition, account and name (what `sameRole` compares). */
const ROLE_ARN = /^arn:([a-z0-9-]+):iam::(\d{12}):role\/(?:[^/]+\/)*([^/]+)$/;

/**
 * A key's grants, indexed by the principals their grantee can name (see `grantPrincipalMatches`): the grantee itself,
 * an account (an account root or a bare account id names every principal of it), or a role (whose sessions it names,
 * whatever its path). `candidates` gives, in a few map lookups, every grant that can name a caller, so that authorizing
 * a caller does not go through all of a key's grants (up to 50,000); each candidate is then checked in full.
 */
export class GranteeIndex<T extends { readonly grantee: string }> {
  readonly #exact = new Map<string, T[]>();
  readonly #accounts = new Map<string, T[]>();
  readonly #roles = new Map<string, T[]>();
  #size = 0;

  constructor(grants: Iterable<T>) {
    for (const grant of grants) this.add(grant);
  }

  /** Adds a grant (a new one: a grant added twice is given twice). */
  add(grant: T): void {
    for (const [map, key] of this.#slots(grant.grantee)) push(map, key, grant);
    this.#size++;
  }

  /** How many grants it holds. */
  get size(): number {
    return this.#size;
  }

  /** Removes the grants of `grantee` that `which` picks. */
  delete(grantee: string, which: (grant: T) => boolean): void {
    for (const [map, key] of this.#slots(grantee)) {
      const list = map.get(key);
      if (list === undefined) continue;
      const kept = list.filter((grant) => !which(grant));
      // Every grant of `grantee` is in its own slot, the first: count the removed ones there.
      if (map === this.#exact) this.#size -= list.length - kept.length;
      if (kept.length > 0) map.set(key, kept);
      else map.delete(key);
    }
  }

  /** Where the grants of `grantee` are filed: by itself, by its account, by its role. */
  #slots(grantee: string): [Map<string, T[]>, string][] {
    const slots: [Map<string, T[]>, string][] = [[this.#exact, grantee]];
    const account = ROOT_ARN.exec(grantee)?.[1] ?? (ACCOUNT_ID.test(grantee) ? grantee : undefined);
    if (account !== undefined) slots.push([this.#accounts, account]);
    const role = ROLE_ARN.exec(grantee);
    if (role) slots.push([this.#roles, `${role[1]}:${role[2]}:${role[3]}`]);
    return slots;
  }

  /**
   * Every grant whose grantee can name `principal` of `account` (its account is taken from the ARN when absent): a
   * superset of those `grantPrincipalMatches` accepts, possibly with repeats.
   */
  candidates(principal: string, account?: string): T[] {
    const out: T[] = [];
    const add = (list: T[] | undefined) => {
      if (list) for (const grant of list) out.push(grant);
    };
    add(this.#exact.get(principal));
    const callerAccount = account ?? accountOf(principal);
    if (callerAccount !== undefined) add(this.#accounts.get(callerAccount));
    const role = roleArnOfSession(principal);
    const parts = role === undefined ? null : ROLE_ARN.exec(role);
    if (parts) add(this.#roles.get(`${parts[1]}:${parts[2]}:${parts[3]}`));
    return out;
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * Lower-cases a context's keys for constraint matching; undefined when two keys differ only by case, which a
 * constraint cannot judge unambiguously (AWS advises against such contexts): such requests never match.
 */
function lowerKeys(context: Readonly<Record<string, string>>): Map<string, string> | undefined {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(context)) {
    const lower = k.toLowerCase();
    if (out.has(lower)) return undefined;
    out.set(lower, v);
  }
  return out;
}

function nonEmpty(
  map: Readonly<Record<string, string>> | undefined,
): map is Readonly<Record<string, string>> {
  return map !== undefined && map !== null && Object.keys(map).length > 0;
}

/** Whether a request's context satisfies a grant's constraints (AWS semantics; empty maps mean none). */
export function contextSatisfies(
  constraints: GrantConstraints | undefined,
  context: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!constraints) return true;
  const equals = constraints.EncryptionContextEquals;
  const subset = constraints.EncryptionContextSubset;
  if (!nonEmpty(equals) && !nonEmpty(subset)) return true;
  const request = lowerKeys(context ?? {});
  if (!request) return false;
  if (nonEmpty(equals)) {
    const pairs = Object.entries(equals);
    if (pairs.length !== request.size) return false;
    for (const [k, v] of pairs) if (request.get(k.toLowerCase()) !== v) return false;
  }
  if (nonEmpty(subset)) {
    for (const [k, v] of Object.entries(subset)) if (request.get(k.toLowerCase()) !== v) return false;
  }
  return true;
}

/**
 * Whether a grant allows a request: the caller is the grantee (see `grantPrincipalMatches`), the operation is
 * one of the grant's, and, for operations that take an encryption context, the context satisfies the grant's
 * constraints: EncryptionContextEquals requires exactly the constraint's pairs, EncryptionContextSubset
 * requires them and allows more. Constraint keys compare case-insensitively, values case-sensitively, as AWS
 * documents. Operations without a context (DescribeKey, RetireGrant, CreateGrant) ignore constraints; for
 * CreateGrant also use `grantAllowsCreateGrant`, which checks what the new grant may contain.
 *
 * @throws TypeError when `request.grantee` or `request.operation` is not a string.
 */
export function grantAllows(grant: Grant, request: GrantRequest): boolean {
  if (typeof request.grantee !== "string") throw new TypeError('"grantee" expected a string');
  if (typeof request.operation !== "string") throw new TypeError('"operation" expected a string');
  if (!grantPrincipalMatches(grant.GranteePrincipal, request.grantee, request.account)) return false;
  if (!grant.Operations.includes(request.operation)) return false;
  if (!CONTEXT_OPERATIONS.has(request.operation)) return true;
  return contextSatisfies(grant.Constraints, request.context);
}

/**
 * Whether `child` constraints are at least as strict as `parent`'s: what a grant created through a grant's
 * CreateGrant permission must satisfy. Equals parent: the child has Equals with the same pairs. Subset parent:
 * the child's Equals or Subset contains every parent pair. No parent constraint: anything.
 */
export function constraintsAtLeastAsStrict(
  parent: GrantConstraints | undefined,
  child: GrantConstraints | undefined,
): boolean {
  const pEquals = parent?.EncryptionContextEquals;
  const pSubset = parent?.EncryptionContextSubset;
  const cEquals = child?.EncryptionContextEquals;
  const cSubset = child?.EncryptionContextSubset;
  if (nonEmpty(pEquals)) {
    if (!nonEmpty(cEquals) || nonEmpty(cSubset)) return false;
    return contextSatisfies({ EncryptionContextEquals: pEquals }, cEquals);
  }
  if (nonEmpty(pSubset)) {
    if (nonEmpty(cEquals)) return contextSatisfies({ EncryptionContextSubset: pSubset }, cEquals);
    if (nonEmpty(cSubset)) return contextSatisfies({ EncryptionContextSubset: pSubset }, cSubset);
    return false;
  }
  return true;
}

/**
 * Whether a grant lets `grantee` create a new grant with `operations` and `constraints`: the grant allows
 * CreateGrant to the caller, the new grant's operations are among the grant's, and its constraints are at least
 * as strict (AWS: a grant cannot be used to create a less restricted grant).
 */
export function grantAllowsCreateGrant(
  grant: Grant,
  request: {
    grantee: string;
    account?: string;
    operations: readonly string[];
    constraints?: GrantConstraints;
  },
): boolean {
  if (!grantAllows(grant, { grantee: request.grantee, account: request.account, operation: "CreateGrant" }))
    return false;
  if (!request.operations.every((op) => grant.Operations.includes(op))) return false;
  return constraintsAtLeastAsStrict(grant.Constraints, request.constraints);
}

/**
 * Whether `principal` may retire a grant (RetireGrant): its retiring principal, its grantee when the grant
 * includes RetireGrant, or a principal of the issuing account (the account root, which stands for every
 * principal of the account here).
 */
export function canRetireGrant(grant: Grant, principal: string, account?: string): boolean {
  const callerAccount = account ?? accountOf(principal);
  if (
    grant.RetiringPrincipal !== undefined &&
    grantPrincipalMatches(grant.RetiringPrincipal, principal, callerAccount)
  ) {
    return true;
  }
  if (
    grant.Operations.includes("RetireGrant") &&
    grantPrincipalMatches(grant.GranteePrincipal, principal, callerAccount)
  ) {
    return true;
  }
  const issuing = ROOT_ARN.exec(grant.IssuingAccount)?.[1] ?? grant.IssuingAccount;
  return callerAccount !== undefined && callerAccount === issuing;
}

/**
 * Whether `principal` of `account` may list the grants whose retiring principal is `retiring` (ListRetirableGrants).
 * AWS KMS authorizes ListRetirableGrants by the IAM permission kms:ListRetirableGrants in the caller's account and
 * takes "a principal in your AWS account"; a service principal may list only its own grants
 * (RetiringServicePrincipal). There is no IAM here, so, as for ListKeys, every principal of an account may list
 * the grants retirable by any principal of that account: `retiring` must be an ARN in `account`, or the caller's
 * own service principal name.
 */
export function canListRetirableGrants(retiring: string, principal: string, account: string): boolean {
  if (!retiring.startsWith("arn:")) return retiring === principal;
  return accountOf(retiring) === account;
}

/**
 * Validates CreateGrant's `Operations`: a non-empty list of AWS grant operation names, each valid for the
 * key's usage. Returns the list.
 *
 * @param keyUsage The key's usage; with "ENCRYPT_DECRYPT" (the default) only symmetric operations are valid.
 * @throws KmsError ValidationException for a missing or empty list, an unknown name, or an operation the key
 *   does not support.
 */
export function validateGrantOperations(operations: unknown, keyUsage = "ENCRYPT_DECRYPT"): string[] {
  if (!Array.isArray(operations) || operations.length === 0) {
    throw constraintError("operations", undefined, "not be null or empty");
  }
  const unknown = operations.filter((op) => typeof op !== "string" || !GRANT_OPERATION_SET.has(op));
  if (unknown.length > 0) {
    throw constraintError(
      "operations",
      `[${unknown.map(String).join(", ")}]`,
      `satisfy constraint: [Member must satisfy enum value set: [${GRANT_OPERATIONS.join(", ")}]]`,
    );
  }
  if (keyUsage === "ENCRYPT_DECRYPT") {
    const invalid = (operations as string[]).filter((op) => !SYMMETRIC_GRANT_OPERATIONS.has(op));
    if (invalid.length > 0) {
      throw validation(
        `Grant operations [${invalid.join(", ")}] are not valid for a key with KeyUsage ENCRYPT_DECRYPT`,
      );
    }
  }
  return [...(operations as string[])];
}

/** The most pairs a grant constraint map may hold (AWS's CreateGrant limit). */
export const MAX_CONSTRAINT_PAIRS = 8;
/** The longest value, in characters, a grant constraint pair may have (AWS's CreateGrant limit). */
export const MAX_CONSTRAINT_VALUE_LENGTH = 384;

function validateContextMap(raw: unknown, field: string): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== "object" || Array.isArray(raw))
    throw validation(`${field} must be a map of strings to strings`);
  const entries = Object.entries(raw);
  if (entries.length > MAX_CONSTRAINT_PAIRS) {
    throw validation(
      `${field} has ${entries.length} pairs; a grant constraint can hold at most ${MAX_CONSTRAINT_PAIRS}`,
    );
  }
  const seen = new Set<string>();
  for (const [k, v] of entries) {
    if (k.length === 0) throw validation(`${field} has an empty key`);
    if (typeof v !== "string") throw validation(`${field} value of "${k}" must be a string`);
    if (v.length > MAX_CONSTRAINT_VALUE_LENGTH) {
      throw validation(`${field} value of "${k}" is longer than ${MAX_CONSTRAINT_VALUE_LENGTH} characters`);
    }
    // Constraint keys compare case-insensitively, so two that differ only by case would be ambiguous.
    const lower = k.toLowerCase();
    if (seen.has(lower)) throw validation(`${field} has keys that differ only by case ("${k}")`);
    seen.add(lower);
  }
  if (entries.length === 0) return undefined;
  // Keys sorted: a map has no order, so a CreateGrant retry with the pairs in another order is the same grant.
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries) as Record<string, string>;
}

/**
 * Validates CreateGrant's `Constraints` against its operations. Empty maps count as absent; returns the
 * normalised constraints (pairs sorted by key), or undefined when there are none.
 *
 * @throws KmsError ValidationException for unknown fields, non-string values, more than 8 pairs, values over 384
 *   characters, keys differing only by case, both Equals and Subset given, or constraints on a grant whose
 *   operations do not take an encryption context (other than DescribeKey, RetireGrant and CreateGrant).
 */
export function validateGrantConstraints(
  constraints: unknown,
  operations: readonly string[],
): GrantConstraints | undefined {
  if (constraints === undefined || constraints === null) return undefined;
  if (typeof constraints !== "object" || Array.isArray(constraints))
    throw validation("Constraints must be an object");
  for (const field of Object.keys(constraints)) {
    if (field !== "EncryptionContextEquals" && field !== "EncryptionContextSubset") {
      throw validation(`Constraints has an unknown field "${field}"`);
    }
  }
  const c = constraints as Record<string, unknown>;
  const equals = validateContextMap(c.EncryptionContextEquals, "EncryptionContextEquals");
  const subset = validateContextMap(c.EncryptionContextSubset, "EncryptionContextSubset");
  if (equals && subset) {
    throw validation("Constraints can contain EncryptionContextEquals or EncryptionContextSubset, not both");
  }
  if (!equals && !subset) return undefined;
  const unsupported = operations.filter((op) => !CONTEXT_OPERATIONS.has(op) && !CONSTRAINT_EXEMPT.has(op));
  if (unsupported.length > 0) {
    throw validation(
      `Encryption context grant constraints are not supported for the operations [${unsupported.join(", ")}], which take no encryption context`,
    );
  }
  return equals ? { EncryptionContextEquals: equals } : { EncryptionContextSubset: subset! };
}

const PRINCIPAL_PATTERN = /^[\w+=,.@:/-]+$/;
const PRINCIPAL_ARN = /^arn:[a-z0-9-]+:(iam|sts)::\d{12}:[^*?\s]+$/;
const SERVICE_PRINCIPAL = /^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)+$/;

/**
 * Validates a grantee or retiring principal: a principal ARN (user, role, assumed role, account root) or a
 * service principal such as `ec2.amazonaws.com`.
 *
 * @throws KmsError ValidationException when it is missing, longer than 256 characters or has invalid characters;
 *   InvalidArnException when it is not a principal ARN.
 */
export function validateGrantPrincipal(principal: unknown, field = "GranteePrincipal"): string {
  const member = field.charAt(0).toLowerCase() + field.slice(1);
  if (principal === undefined || principal === null) throw missingError(member);
  if (typeof principal !== "string") throw validation(`${field} must be a string`);
  const failed = modelViolations(principal, 256, PRINCIPAL_PATTERN, "^[\\w+=,.@:/-]+$");
  if (failed) throw constraintError(member, principal, ...failed);
  if (!PRINCIPAL_ARN.test(principal) && !SERVICE_PRINCIPAL.test(principal)) {
    throw new KmsError("InvalidArnException", `${field} ${principal} is not a valid principal ARN`);
  }
  return principal;
}

const GRANT_NAME = /^[a-zA-Z0-9:/_-]+$/;

/**
 * Validates a grant Name (used for idempotent CreateGrant): 1 to 256 of `a-z A-Z 0-9 : / _ -`.
 * @throws KmsError ValidationException otherwise.
 */
export function validateGrantName(name: unknown): string {
  if (typeof name !== "string") throw validation("Name must be a string");
  const failed = modelViolations(name, 256, GRANT_NAME, "^[a-zA-Z0-9:/_-]+$");
  if (failed) throw constraintError("name", name, ...failed);
  return name;
}

/**
 * The constraints of a string member with a length of 1 to `max` and a pattern that `value` fails, each its own
 * violation as AWS lists them (length first); undefined when it meets them.
 */
function modelViolations(
  value: string,
  max: number,
  pattern: RegExp,
  patternText: string,
): [string, ...string[]] | undefined {
  const failed: string[] = [];
  if (value.length < 1) failed.push("have length greater than or equal to 1");
  else if (value.length > max) failed.push(`have length less than or equal to ${max}`);
  if (!pattern.test(value)) failed.push(`satisfy regular expression pattern: ${patternText}`);
  return failed.length > 0 ? (failed as [string, ...string[]]) : undefined;
}
