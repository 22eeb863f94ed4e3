// IAM wildcard patterns (`*` any run of characters, `?` one character) compiled once to RegExp.

const SPECIAL = /[.+^${}()|[\]\\/]/g;

/** True when `pattern` contains an IAM wildcard (`*` or `?`). */
export function hasWildcard(pattern: string): boolean {
  return pattern.includes("*") || pattern.includes("?");
}

/**
 * Compiles an IAM wildcard pattern to an anchored RegExp. `*` matches any run of characters (including none and
 * including `:` and `/`), `?` exactly one; everything else is literal.
 */
export function wildcardToRegExp(pattern: string, ignoreCase = false): RegExp {
  let source = "^";
  for (const ch of pattern) {
    if (ch === "*") source += "[\\s\\S]*";
    else if (ch === "?") source += "[\\s\\S]";
    else source += ch.replace(SPECIAL, "\\$&");
  }
  return new RegExp(source + "$", ignoreCase ? "iu" : "u");
}

/**
 * A set of patterns compiled for fast matching: exact strings go to a Set, wildcard ones to RegExps,
 * and a lone `*` short-circuits to "matches everything".
 */
export interface StringMatcher {
  readonly any: boolean;
  readonly exact: ReadonlySet<string>;
  readonly patterns: readonly RegExp[];
}

/** Builds a StringMatcher. With `lowerCase`, patterns are lower-cased and the caller must lower-case input. */
export function compileMatcher(patterns: readonly string[], lowerCase = false): StringMatcher {
  const exact = new Set<string>();
  const regexps: RegExp[] = [];
  let any = false;
  for (const raw of patterns) {
    const p = lowerCase ? raw.toLowerCase() : raw;
    if (p === "*") any = true;
    else if (hasWildcard(p)) regexps.push(wildcardToRegExp(p));
    else exact.add(p);
  }
  return { any, exact, patterns: regexps };
}

/** True when `value` matches one of the matcher's patterns. */
export function matches(matcher: StringMatcher, value: string): boolean {
  if (matcher.any || matcher.exact.has(value)) return true;
  for (const re of matcher.patterns) if (re.test(value)) return true;
  return false;
}
