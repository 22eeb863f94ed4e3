// The Condition element: IAM condition operators compiled at parse time and evaluated per request.

import { KmsError } from "../errors.js";
import { ipInRange, parseIp, parseIpRange } from "./ip-address.js";
import type { ConditionValue } from "./types.js";
import { compileGlob, compileMatcher, type Glob, globMatches, hasWildcard, matches } from "./wildcard.js";

type Kind = "string" | "numeric" | "date" | "bool" | "null" | "arn" | "ip";
type Comparison = "eq" | "lt" | "le" | "gt" | "ge";

interface BaseOperator {
  readonly name: string;
  readonly kind: Kind;
  readonly negated: boolean;
  readonly ignoreCase?: boolean;
  readonly like?: boolean;
  readonly comparison?: Comparison;
}

function op(name: string, kind: Kind, negated: boolean, extra: Partial<BaseOperator> = {}): BaseOperator {
  return { name, kind, negated, ...extra };
}

/** Every base operator this evaluator implements (IAM's names; see the IAM condition operator reference). */
const BASE_OPERATORS: readonly BaseOperator[] = [
  op("StringEquals", "string", false),
  op("StringNotEquals", "string", true),
  op("StringEqualsIgnoreCase", "string", false, { ignoreCase: true }),
  op("StringNotEqualsIgnoreCase", "string", true, { ignoreCase: true }),
  op("StringLike", "string", false, { like: true }),
  op("StringNotLike", "string", true, { like: true }),
  op("NumericEquals", "numeric", false, { comparison: "eq" }),
  op("NumericNotEquals", "numeric", true, { comparison: "eq" }),
  op("NumericLessThan", "numeric", false, { comparison: "lt" }),
  op("NumericLessThanEquals", "numeric", false, { comparison: "le" }),
  op("NumericGreaterThan", "numeric", false, { comparison: "gt" }),
  op("NumericGreaterThanEquals", "numeric", false, { comparison: "ge" }),
  op("DateEquals", "date", false, { comparison: "eq" }),
  op("DateNotEquals", "date", true, { comparison: "eq" }),
  op("DateLessThan", "date", false, { comparison: "lt" }),
  op("DateLessThanEquals", "date", false, { comparison: "le" }),
  op("DateGreaterThan", "date", false, { comparison: "gt" }),
  op("DateGreaterThanEquals", "date", false, { comparison: "ge" }),
  op("Bool", "bool", false),
  op("Null", "null", false),
  op("ArnEquals", "arn", false),
  op("ArnLike", "arn", false),
  op("ArnNotEquals", "arn", true),
  op("ArnNotLike", "arn", true),
  op("IpAddress", "ip", false),
  op("NotIpAddress", "ip", true),
];

const BY_LOWER_NAME = new Map(BASE_OPERATORS.map((o) => [o.name.toLowerCase(), o]));

/** IAM operators that exist but that this local KMS does not implement: refused rather than ignored. */
const UNSUPPORTED = new Set(["binaryequals"]);

/** The operator names `parsePolicy` accepts (before the IfExists suffix and set prefixes). */
export const CONDITION_OPERATORS: readonly string[] = BASE_OPERATORS.map((o) => o.name);

/** A condition (one operator, one key, its values) compiled for evaluation. */
export interface CompiledCondition {
  /** The condition key, lower-cased (IAM condition key names are case-insensitive). */
  readonly key: string;
  readonly set: "any" | "all" | null;
  readonly ifExists: boolean;
  readonly negated: boolean;
  /** For Null: the expected "is absent" answers (ORed). */
  readonly nullExpect?: readonly boolean[];
  /** False when a request value cannot be compared (not a number, date or boolean): the pair never matches. */
  readonly accepts: (value: string) => boolean;
  /** True when the request value matches at least one of the policy's values (before negation). */
  readonly test: (value: string) => boolean;
}

function malformed(message: string): KmsError {
  return new KmsError("MalformedPolicyDocumentException", message);
}

/** Parses an operator such as `ForAnyValue:StringNotLikeIfExists`. */
function parseOperator(raw: string, where: string) {
  let rest = raw;
  let set: "any" | "all" | null = null;
  const lower = raw.toLowerCase();
  if (lower.startsWith("foranyvalue:")) {
    set = "any";
    rest = raw.slice("ForAnyValue:".length);
  } else if (lower.startsWith("forallvalues:")) {
    set = "all";
    rest = raw.slice("ForAllValues:".length);
  }
  let ifExists = false;
  if (rest.toLowerCase().endsWith("ifexists")) {
    ifExists = true;
    rest = rest.slice(0, -"IfExists".length);
  }
  const lowerRest = rest.toLowerCase();
  if (UNSUPPORTED.has(lowerRest)) {
    throw malformed(`${where}: condition operator "${raw}" is not supported by this local KMS`);
  }
  const base = BY_LOWER_NAME.get(lowerRest);
  if (!base) throw malformed(`${where}: unknown condition operator "${raw}"`);
  if (base.kind === "null" && (ifExists || set)) {
    throw malformed(
      `${where}: condition operator "${raw}" is not valid: Null takes no IfExists suffix or set prefix`,
    );
  }
  return { base, set, ifExists };
}

const CONDITION_KEY = /^[A-Za-z0-9-]+:.+$/s;
/**
 * Single-valued keys with which AWS KMS refuses the ForAllValues set operator (OverlyPermissiveCondition): such a
 * condition would also match requests without that encryption context pair or tag.
 */
const OVERLY_PERMISSIVE_WITH_FOR_ALL = /^(kms:encryptioncontext:|aws:requesttag\/)/i;
const TRUE_FALSE = /^(true|false)$/i;

/** Values of a condition key in a policy: a string, or a non-empty array of them; booleans/numbers where sensible. */
function parseValues(raw: unknown, kind: Kind, where: string): string[] {
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) throw malformed(`${where}: the condition has an empty list of values`);
  return list.map((v) => {
    if (typeof v === "string") return v;
    if (typeof v === "boolean" && (kind === "bool" || kind === "null")) return String(v);
    if (typeof v === "number" && Number.isFinite(v) && (kind === "numeric" || kind === "date"))
      return String(v);
    throw malformed(`${where}: condition values must be strings, got ${v === null ? "null" : typeof v}`);
  });
}

function parseNumber(s: string): number | undefined {
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(s.trim())) return undefined;
  return Number(s);
}

function parseDate(s: string): number | undefined {
  // Epoch seconds or ISO 8601, as IAM's date operators accept.
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  if (!/^\d{4}-\d{2}-\d{2}/.test(s)) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

function compare(a: number, b: number, c: Comparison): boolean {
  switch (c) {
    case "eq":
      return a === b;
    case "lt":
      return a < b;
    case "le":
      return a <= b;
    case "gt":
      return a > b;
    case "ge":
      return a >= b;
  }
}

const SIX_PARTS = /^([^:]*):([^:]*):([^:]*):([^:]*):([^:]*):([\s\S]*)$/;

/**
 * ArnEquals/ArnLike: each of the six colon-separated parts is matched on its own, so a wildcard stays within
 * its part (IAM's rule). A policy value with fewer than six parts is matched as a plain wildcard pattern.
 */
function arnMatcher(value: string): (v: string) => boolean {
  const parts = SIX_PARTS.exec(value);
  if (!parts) {
    const glob = compileGlob(value);
    return (v) => globMatches(glob, v);
  }
  const globs: Glob[] = parts.slice(1).map(compileGlob);
  return (v) => {
    const got = SIX_PARTS.exec(v);
    if (!got) return false;
    for (let i = 0; i < 6; i++) if (!globMatches(globs[i]!, got[i + 1]!)) return false;
    return true;
  };
}

const always = () => true;

function compileTest(base: BaseOperator, values: string[], where: string) {
  switch (base.kind) {
    case "string": {
      if (base.like) {
        const m = compileMatcher(values);
        return { accepts: always, test: (v: string) => matches(m, v) };
      }
      if (base.ignoreCase) {
        const set = new Set(values.map((v) => v.toLowerCase()));
        return { accepts: always, test: (v: string) => set.has(v.toLowerCase()) };
      }
      const set = new Set(values);
      return { accepts: always, test: (v: string) => set.has(v) };
    }
    case "arn": {
      const exact = new Set(values.filter((v) => !hasWildcard(v)));
      const patterns = values.filter(hasWildcard).map(arnMatcher);
      return { accepts: always, test: (v: string) => exact.has(v) || patterns.some((m) => m(v)) };
    }
    case "bool": {
      for (const v of values)
        if (!TRUE_FALSE.test(v)) throw malformed(`${where}: Bool expects "true" or "false", got "${v}"`);
      const set = new Set(values.map((v) => v.toLowerCase()));
      return { accepts: (v: string) => TRUE_FALSE.test(v), test: (v: string) => set.has(v.toLowerCase()) };
    }
    case "numeric":
    case "date": {
      const parse = base.kind === "numeric" ? parseNumber : parseDate;
      const nums = values.map((v) => {
        const n = parse(v);
        if (n === undefined)
          throw malformed(
            `${where}: ${base.name} expects ${base.kind === "numeric" ? "a number" : "a date"}, got "${v}"`,
          );
        return n;
      });
      const c = base.comparison ?? "eq";
      return {
        accepts: (v: string) => parse(v) !== undefined,
        test: (v: string) => {
          const n = parse(v)!;
          return nums.some((p) => compare(n, p, c));
        },
      };
    }
    case "ip": {
      const ranges = values.map((v) => {
        const range = parseIpRange(v);
        if (!range)
          throw malformed(
            `${where}: ${base.name} expects an IP address or CIDR range such as "203.0.113.0/24", got "${v}"`,
          );
        return range;
      });
      return {
        accepts: (v: string) => parseIp(v) !== undefined,
        test: (v: string) => {
          const address = parseIp(v)!;
          return ranges.some((r) => ipInRange(address, r));
        },
      };
    }
    case "null":
      return { accepts: always, test: always };
  }
}

/**
 * Compiles a statement's Condition block. `overlyPermissive` reports (rather than throws) the first ForAllValues
 * on a single-valued key that AWS KMS refuses in a new policy (OverlyPermissiveCondition), so a policy stored
 * before that rule still evaluates; `parsePolicy` decides.
 * @throws KmsError MalformedPolicyDocumentException naming the operator, key or value at fault.
 */
export function compileConditions(
  raw: unknown,
  where: string,
  variablesForbidden: boolean,
): {
  conditions: CompiledCondition[];
  normalized: Record<string, Record<string, string[]>>;
  overlyPermissive?: string;
} {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw malformed(`${where}: Condition must be an object of condition operators`);
  }
  const conditions: CompiledCondition[] = [];
  const normalized: Record<string, Record<string, string[]>> = {};
  let overlyPermissive: string | undefined;
  for (const [operator, block] of Object.entries(raw)) {
    const { base, set, ifExists } = parseOperator(operator, where);
    if (typeof block !== "object" || block === null || Array.isArray(block)) {
      throw malformed(`${where}: condition operator "${operator}" must map condition keys to values`);
    }
    const keys = Object.entries(block);
    if (keys.length === 0)
      throw malformed(`${where}: condition operator "${operator}" has no condition keys`);
    const out: Record<string, string[]> = {};
    for (const [key, rawValues] of keys) {
      if (!CONDITION_KEY.test(key))
        throw malformed(`${where}: condition key "${key}" is not valid (expected "prefix:name")`);
      if (set === "all" && OVERLY_PERMISSIVE_WITH_FOR_ALL.test(key) && overlyPermissive === undefined) {
        const what = key.toLowerCase().startsWith("kms:") ? "encryption context" : "tag";
        overlyPermissive =
          `${where}: OverlyPermissiveCondition: Using the ForAllValues set operator with a single-valued condition key ("${key}") ` +
          `matches requests without the specified ${what} or with an unspecified ${what}. To fix, remove ForAllValues.`;
      }
      const values = parseValues(rawValues, base.kind, `${where}, ${operator} "${key}"`);
      if (variablesForbidden && values.some((v) => v.includes("${"))) {
        throw malformed(
          `${where}: policy variables such as \${aws:username} are not supported (condition key "${key}")`,
        );
      }
      out[key] = values;
      const compiled = compileTest(base, values, `${where}, ${operator} "${key}"`);
      let nullExpect: boolean[] | undefined;
      if (base.kind === "null") {
        for (const v of values) {
          if (!TRUE_FALSE.test(v)) throw malformed(`${where}: Null expects "true" or "false", got "${v}"`);
        }
        nullExpect = values.map((v) => v.toLowerCase() === "true");
      }
      conditions.push({
        key: key.toLowerCase(),
        set,
        ifExists,
        negated: base.negated,
        ...(nullExpect ? { nullExpect } : {}),
        accepts: compiled.accepts,
        test: compiled.test,
      });
    }
    normalized[operator] = out;
  }
  return overlyPermissive === undefined
    ? { conditions, normalized }
    : { conditions, normalized, overlyPermissive };
}

/** A request's condition keys, lower-cased, each as a list of strings; absent and empty lists are left out. */
export type RequestConditions = ReadonlyMap<string, readonly string[]>;

/**
 * Normalises a request's condition keys. Keys differing only by case are merged into one multi-valued key,
 * which `conditionHolds` then evaluates fail-safe (see there).
 */
export function normalizeConditions(
  conditions: Readonly<Record<string, ConditionValue>> | undefined,
): RequestConditions {
  const map = new Map<string, readonly string[]>();
  if (!conditions) return map;
  for (const [name, value] of Object.entries(conditions)) {
    if (value === undefined || value === null) continue;
    let list: readonly string[];
    if (typeof value === "boolean") list = [String(value)];
    else if (typeof value === "string") list = [value];
    else if (Array.isArray(value)) list = value.filter((v): v is string => typeof v === "string");
    else continue;
    if (list.length === 0) continue;
    const key = name.toLowerCase();
    const prior = map.get(key);
    map.set(key, prior ? [...prior, ...list] : list);
  }
  return map;
}

/**
 * Whether one compiled condition holds, following IAM:
 * - a missing key makes a positive operator false and a negated one (StringNotEquals, ...) true;
 * - `...IfExists` is true when the key is missing;
 * - `ForAllValues:` is true when every request value matches (and when the key is missing or empty);
 * - `ForAnyValue:` is true when at least one request value matches (false when the key is missing or empty,
 *   with or without IfExists);
 * - several policy values are ORed for positive operators; a negated operator is true when no value matches.
 * A key with several values and no set operator is evaluated fail-safe: in an Allow statement the condition
 * must hold for every value, in a Deny statement for any value.
 */
export function conditionHolds(
  c: CompiledCondition,
  values: readonly string[] | undefined,
  effect: "Allow" | "Deny",
): boolean {
  if (c.nullExpect) {
    const absent = values === undefined;
    return c.nullExpect.some((expectAbsent) => expectAbsent === absent);
  }
  if (values === undefined) {
    if (c.set === "all") return true;
    // ForAnyValue is false on a missing key even with IfExists: AWS denies a ForAnyValue:StringEqualsIfExists
    // Allow when the key is absent (observed behaviour, reported on AWS re:Post).
    if (c.set === "any") return false;
    if (c.ifExists) return true;
    return c.negated;
  }
  const one = (v: string) => c.accepts(v) && (c.negated ? !c.test(v) : c.test(v));
  if (c.set === "all") return values.every(one);
  if (c.set === "any") return values.some(one);
  if (values.length === 1) return one(values[0]!);
  return effect === "Deny" ? values.some(one) : values.every(one);
}
