// parsePolicy: validates a key policy in IAM's JSON policy language and compiles it for evaluation.

import { KmsError } from "../errors.js";
import { COMPILED, type CompiledPolicy, type CompiledStatement, type PrincipalMatcher } from "./compiled.js";
import { compileConditions } from "./conditions.js";
import type { Policy, PolicyStatement, PolicyVersion, PrincipalSpec } from "./types.js";
import { compileMatcher } from "./wildcard.js";

/**
 * The largest key policy AWS KMS accepts, in UTF-8 bytes: its key policy document size quota, 32 KB (32,768
 * bytes), which it enforces with LimitExceededException. (PutKeyPolicy's model allows up to 131,072 characters;
 * a character from U+0080 to U+00FF takes two bytes.)
 */
export const MAX_POLICY_LENGTH = 32768;

/** The UTF-8 length of `s` (a lone surrogate counts as U+FFFD, 3 bytes, as TextEncoder writes it). */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // the pair: 2 code units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

const VERSIONS: readonly PolicyVersion[] = ["2012-10-17", "2008-10-17"];
const TOP_LEVEL = new Set(["Version", "Id", "Statement"]);
const STATEMENT_FIELDS = new Set([
  "Sid",
  "Effect",
  "Principal",
  "NotPrincipal",
  "Action",
  "NotAction",
  "Resource",
  "NotResource",
  "Condition",
]);
/** Characters a key policy may contain (PutKeyPolicy): tab, LF, CR, and U+0020 to U+00FF. */
const ALLOWED_CHARS = /^[\t\n\r\u0020-\u00ff]*$/;
const ACCOUNT_ID = /^\d{12}$/;
const ROOT_ARN = /^arn:[a-z0-9-]+:iam::(\d{12}):root$/;
const PRINCIPAL_ARN = /^arn:[a-z0-9-]+:(iam|sts)::\d{12}:[^*?\s]+$/;
const SERVICE_PRINCIPAL = /^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)+$/;
const ACTION = /^[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+$/;

function malformed(message: string): KmsError {
  return new KmsError("MalformedPolicyDocumentException", message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "string" ? `"${v}"` : typeof v;
}

/** A string or a non-empty array of strings, as IAM allows for Action, Resource and principal lists. */
function stringList(raw: unknown, what: string, where: string): string[] {
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) throw malformed(`${where}: ${what} must not be an empty list`);
  for (const v of list) {
    if (typeof v !== "string") throw malformed(`${where}: ${what} must contain strings, got ${describe(v)}`);
    if (v.length === 0) throw malformed(`${where}: ${what} must not contain an empty string`);
  }
  return list as string[];
}

function parsePrincipal(
  raw: unknown,
  field: string,
  where: string,
): { spec: PrincipalSpec; matcher: PrincipalMatcher } {
  const accounts = new Set<string>();
  const arns = new Set<string>();
  const services = new Set<string>();
  if (raw === "*") {
    return { spec: "*", matcher: { any: true, accounts, arns, services } };
  }
  if (!isObject(raw)) {
    throw malformed(
      `${where}: ${field} must be "*" or an object such as {"AWS": "arn:aws:iam::111122223333:root"}, got ${describe(raw)}`,
    );
  }
  let any = false;
  const spec: { AWS?: readonly string[]; Service?: readonly string[] } = {};
  const entries = Object.entries(raw);
  if (entries.length === 0) throw malformed(`${where}: ${field} names no principal`);
  for (const [type, value] of entries) {
    if (type === "AWS") {
      const list = stringList(value, `${field}.AWS`, where);
      for (const p of list) {
        if (p === "*") any = true;
        else if (ACCOUNT_ID.test(p)) accounts.add(p);
        else if (ROOT_ARN.test(p)) accounts.add(ROOT_ARN.exec(p)![1]!);
        else if (PRINCIPAL_ARN.test(p)) arns.add(p);
        else
          throw malformed(
            `${where}: Policy contains a statement with one or more invalid principals: "${p}"`,
          );
      }
      spec.AWS = Object.freeze([...list]);
    } else if (type === "Service") {
      const list = stringList(value, `${field}.Service`, where);
      for (const s of list) {
        if (!SERVICE_PRINCIPAL.test(s)) throw malformed(`${where}: invalid service principal "${s}"`);
        services.add(s);
      }
      spec.Service = Object.freeze([...list]);
    } else if (type === "Federated" || type === "CanonicalUser") {
      throw malformed(
        `${where}: ${field} type "${type}" is not supported by this local KMS (use "AWS" or "Service")`,
      );
    } else {
      throw malformed(`${where}: unknown principal type "${type}" in ${field} (expected "AWS" or "Service")`);
    }
  }
  return { spec: Object.freeze(spec), matcher: { any, accounts, arns, services } };
}

function parseStatement(raw: unknown, index: number, version: PolicyVersion) {
  let where = `Statement ${index + 1}`;
  if (!isObject(raw)) throw malformed(`${where}: a statement must be an object, got ${describe(raw)}`);
  if ("Sid" in raw) {
    if (typeof raw.Sid !== "string")
      throw malformed(`${where}: Sid must be a string, got ${describe(raw.Sid)}`);
    where += ` (Sid "${raw.Sid}")`;
  }
  for (const field of Object.keys(raw)) {
    if (!STATEMENT_FIELDS.has(field)) throw malformed(`${where}: unknown field "${field}"`);
  }
  const statement: {
    -readonly [K in keyof PolicyStatement]: PolicyStatement[K];
  } = { effect: "Allow" };
  if (typeof raw.Sid === "string") statement.sid = raw.Sid;

  if (raw.Effect !== "Allow" && raw.Effect !== "Deny") {
    throw malformed(
      raw.Effect === undefined
        ? `${where}: Effect is missing`
        : `${where}: Effect must be "Allow" or "Deny", got ${describe(raw.Effect)}`,
    );
  }
  statement.effect = raw.Effect;

  // Principal: key policies must name one (AWS KMS refuses statements without).
  if ("Principal" in raw && "NotPrincipal" in raw)
    throw malformed(`${where}: has both Principal and NotPrincipal`);
  if (!("Principal" in raw) && !("NotPrincipal" in raw)) throw malformed(`${where}: Principal is missing`);
  const principalNegated = "NotPrincipal" in raw;
  const principalField = principalNegated ? "NotPrincipal" : "Principal";
  const principal = parsePrincipal(raw[principalField], principalField, where);
  if (principalNegated) statement.notPrincipal = principal.spec;
  else statement.principal = principal.spec;

  // A statement without Action/NotAction or without Resource/NotResource is accepted and has no effect, as AWS
  // KMS documents for PutKeyPolicy (only its console reports the missing element).
  let inert = false;
  if ("Action" in raw && "NotAction" in raw) throw malformed(`${where}: has both Action and NotAction`);
  if (!("Action" in raw) && !("NotAction" in raw)) inert = true;
  const actionNegated = "NotAction" in raw;
  const actionField = actionNegated ? "NotAction" : "Action";
  const actions = actionField in raw ? stringList(raw[actionField], actionField, where) : [];
  for (const a of actions) {
    if (a !== "*" && !ACTION.test(a))
      throw malformed(`${where}: invalid action "${a}" (expected "kms:Name", wildcards allowed)`);
  }
  if (actionField in raw) {
    if (actionNegated) statement.notAction = Object.freeze([...actions]);
    else statement.action = Object.freeze([...actions]);
  }

  if ("Resource" in raw && "NotResource" in raw)
    throw malformed(`${where}: has both Resource and NotResource`);
  if (!("Resource" in raw) && !("NotResource" in raw)) inert = true;
  const resourceNegated = "NotResource" in raw;
  const resourceField = resourceNegated ? "NotResource" : "Resource";
  const resources = resourceField in raw ? stringList(raw[resourceField], resourceField, where) : [];
  for (const r of resources) {
    if (r !== "*" && !r.startsWith("arn:"))
      throw malformed(`${where}: invalid resource "${r}" (expected "*" or a key ARN)`);
    if (version === "2012-10-17" && r.includes("${")) {
      throw malformed(
        `${where}: policy variables such as \${aws:username} are not supported (resource "${r}")`,
      );
    }
  }
  if (resourceField in raw) {
    if (resourceNegated) statement.notResource = Object.freeze([...resources]);
    else statement.resource = Object.freeze([...resources]);
  }

  let conditions: CompiledStatement["conditions"] = [];
  let writeProblem: string | undefined;
  if ("Condition" in raw) {
    const compiled = compileConditions(raw.Condition, where, version === "2012-10-17");
    conditions = compiled.conditions;
    writeProblem = compiled.overlyPermissive;
    statement.condition = Object.freeze(
      Object.fromEntries(
        Object.entries(compiled.normalized).map(([opName, keys]) => [
          opName,
          Object.freeze(Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, Object.freeze(v)]))),
        ]),
      ),
    );
  }

  const compiledStatement: CompiledStatement = {
    effect: statement.effect,
    principals: principal.matcher,
    principalNegated,
    actions: compileMatcher(actions, true),
    actionNegated,
    resources: compileMatcher(resources),
    resourceNegated,
    conditions,
    ...(inert ? { inert } : {}),
  };
  return {
    statement: Object.freeze(statement) as PolicyStatement,
    compiled: compiledStatement,
    ...(writeProblem !== undefined ? { writeProblem } : {}),
  };
}

/**
 * The first object key that appears twice in one object of a (valid) JSON text, if any. JSON.parse keeps the
 * last value silently, so `{"Effect": "Deny", "Effect": "Allow"}` would read as an Allow to the evaluator and
 * as a Deny to a reviewer: such documents are refused.
 */
function findDuplicateKey(json: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  let i = 0;
  while (i < json.length) {
    const ch = json.charCodeAt(i);
    if (ch === 34 /* " */) {
      let j = i + 1;
      while (json.charCodeAt(j) !== 34) j += json.charCodeAt(j) === 92 /* \ */ ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top && expectKey) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (top.has(key)) return key;
        top.add(key);
        expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (ch === 123 /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (ch === 91 /* [ */) {
      stack.push(null);
      expectKey = false;
    } else if (ch === 125 /* } */ || ch === 93 /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (ch === 44 /* , */) {
      expectKey = stack[stack.length - 1] != null;
    }
    i++;
  }
  return undefined;
}

function parseUncached(json: string): Policy {
  if (json.length === 0 || json.trim().length === 0) throw malformed("The policy document is empty");
  // At most 3 bytes per UTF-16 code unit: a shorter text cannot exceed the quota, so most skip the count.
  if (json.length > MAX_POLICY_LENGTH / 3) {
    const bytes = utf8Length(json);
    if (bytes > MAX_POLICY_LENGTH) {
      throw new KmsError(
        "LimitExceededException",
        `The key policy is ${bytes} bytes long; the key policy document size quota is ${MAX_POLICY_LENGTH} bytes (32 KB).`,
      );
    }
  }
  if (!ALLOWED_CHARS.test(json)) {
    throw malformed(
      "The policy document contains a character outside tab, line feed, carriage return and U+0020 to U+00FF",
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw malformed(`The policy document is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw malformed(`The policy document must be a JSON object, got ${describe(doc)}`);
  const duplicate = findDuplicateKey(json);
  if (duplicate !== undefined) throw malformed(`Duplicate field "${duplicate}" in the policy document`);
  for (const field of Object.keys(doc)) {
    if (!TOP_LEVEL.has(field)) throw malformed(`Unknown field "${field}" in the policy document`);
  }
  let version: PolicyVersion = "2008-10-17";
  if ("Version" in doc) {
    if (!VERSIONS.includes(doc.Version as PolicyVersion)) {
      throw malformed(`Version must be "2012-10-17" or "2008-10-17", got ${describe(doc.Version)}`);
    }
    version = doc.Version as PolicyVersion;
  }
  if ("Id" in doc && typeof doc.Id !== "string")
    throw malformed(`Id must be a string, got ${describe(doc.Id)}`);
  if (!("Statement" in doc)) throw malformed("The policy document has no Statement");
  const rawStatements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  if (rawStatements.length === 0) throw malformed("Statement must not be an empty list");

  const statements: PolicyStatement[] = [];
  const compiled: CompiledStatement[] = [];
  let writeProblem: string | undefined;
  rawStatements.forEach((raw, i) => {
    const parsed = parseStatement(raw, i, version);
    statements.push(parsed.statement);
    compiled.push(parsed.compiled);
    writeProblem ??= parsed.writeProblem;
  });
  const compiledPolicy: CompiledPolicy = {
    statements: compiled,
    hasConditions: compiled.some((s) => s.conditions.length > 0),
    conditionKeys: new Set(compiled.flatMap((s) => s.conditions.map((c) => c.key))),
    ...(writeProblem !== undefined ? { writeProblem } : {}),
  };
  const policy: Policy = {
    version,
    ...(typeof doc.Id === "string" ? { id: doc.Id } : {}),
    statements: Object.freeze(statements),
    json,
  };
  Object.defineProperty(policy, COMPILED, { value: compiledPolicy, enumerable: false });
  return Object.freeze(policy);
}

/** How many parsed policies are kept, keyed by their JSON text, and how many characters of text at most. */
const CACHE_SIZE = 1024;
const CACHE_CHARS = 8 * 1024 * 1024;
const cache = new Map<string, Policy>();
let cachedChars = 0;

/**
 * Parses a key policy written in AWS's IAM JSON policy language, as AWS KMS key policies use it, and compiles it
 * (wildcards to linear-time globs, condition operators to functions) so `evaluatePolicy` does no parsing per request.
 * Results are cached by JSON text (the 1,024 most recently used documents, at most 8 Mi characters of text), so
 * calling it on every request is cheap.
 *
 * Accepted: `Version` ("2012-10-17", "2008-10-17" or absent), `Id`, `Statement` (an object or a non-empty list)
 * with `Sid`, `Effect`, `Principal`/`NotPrincipal` (`"*"`, `{"AWS": ...}`, `{"Service": ...}`),
 * `Action`/`NotAction`, `Resource`/`NotResource` and `Condition` (see docs/KMS-LOCAL.md for the operators).
 * As AWS KMS, a statement without Action/NotAction or without Resource/NotResource is accepted and has no effect.
 *
 * @param json The policy document, at most 32,768 bytes in UTF-8, from tab, LF, CR and U+0020 to U+00FF.
 * @param options `{ stored: true }` for a policy read back from storage (see `ParsePolicyOptions`).
 * @returns An immutable Policy.
 * @throws TypeError when `json` is not a string.
 * @throws KmsError MalformedPolicyDocumentException with a message naming the statement and field at fault:
 *   invalid JSON, an unknown field, a bad Effect, a missing Principal, an invalid principal,
 *   an unknown or unsupported condition operator, a non-string value, a policy variable, and
 *   (unless `stored`) ForAllValues on kms:EncryptionContext:<key> or aws:RequestTag/<key> (OverlyPermissiveCondition).
 * @throws KmsError LimitExceededException for a document over 32,768 bytes in UTF-8 (the key policy size quota).
 */
export function parsePolicy(json: string, options: ParsePolicyOptions = {}): Policy {
  const policy = parseCached(json);
  const problem = (policy as Policy & { [COMPILED]: CompiledPolicy })[COMPILED].writeProblem;
  if (problem !== undefined && options.stored !== true) throw malformed(problem);
  return policy;
}

/** Options of `parsePolicy`. */
export interface ParsePolicyOptions {
  /**
   * True for a policy read back from storage rather than one being set: rules AWS KMS applies only when a policy
   * is created or changed (OverlyPermissiveCondition) are not applied, so a key whose policy was stored before
   * such a rule keeps working and its policy can still be replaced.
   */
  readonly stored?: boolean;
}

function parseCached(json: string): Policy {
  if (typeof json !== "string") throw new TypeError(`"json" expected a string, got ${typeof json}`);
  const hit = cache.get(json);
  if (hit) {
    // Refresh its position so the cache evicts the least recently used document.
    cache.delete(json);
    cache.set(json, hit);
    return hit;
  }
  const policy = parseUncached(json);
  while (cache.size > 0 && (cache.size >= CACHE_SIZE || cachedChars + json.length > CACHE_CHARS)) {
    const oldest = cache.keys().next().value!;
    cache.delete(oldest);
    cachedChars -= oldest.length;
  }
  cache.set(json, policy);
  cachedChars += json.length;
  return policy;
}

/** Reads the compiled form; throws TypeError for an object that did not come from parsePolicy. */
export function compiledOf(policy: Policy): CompiledPolicy {
  const compiled = (policy as Policy & { [COMPILED]?: CompiledPolicy })[COMPILED];
  if (!compiled) throw new TypeError('"policy" expected a Policy returned by parsePolicy');
  return compiled;
}

/**
 * Whether a statement of `policy` has a condition on `key` (compared case-insensitively, as IAM compares condition
 * key names). Lets a caller build a costly condition key, such as kms:ResourceAliases, only for policies that test it.
 * @throws TypeError when `policy` did not come from `parsePolicy`.
 */
export function policyUsesConditionKey(policy: Policy, key: string): boolean {
  return compiledOf(policy).conditionKeys.has(key.toLowerCase());
}

/**
 * Whether a statement of `policy` has a condition on a key starting with `prefix` (case-insensitively), such as
 * `aws:ResourceTag/`: lets a caller read the key's tags only for policies that test one.
 * @throws TypeError when `policy` did not come from `parsePolicy`.
 */
export function policyUsesConditionKeyPrefix(policy: Policy, prefix: string): boolean {
  const lower = prefix.toLowerCase();
  for (const key of compiledOf(policy).conditionKeys) if (key.startsWith(lower)) return true;
  return false;
}
