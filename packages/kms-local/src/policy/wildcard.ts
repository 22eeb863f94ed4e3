// IAM wildcard patterns (`*` any run of characters, `?` one character), compiled once, matched in linear time.
//
// Not RegExp: a pattern such as "*a*a*a*b" compiled to a backtracking RegExp takes minutes on a 200-character
// request value (measured), and request values are chosen by callers. Greedy leftmost matching of the literal
// segments between stars is exact for `*`/`?` globs and costs O(value length x pattern length) at worst.

/** True when `pattern` contains an IAM wildcard (`*` or `?`). */
export function hasWildcard(pattern: string): boolean {
  return pattern.includes("*") || pattern.includes("?");
}

/** A compiled wildcard pattern: the literal segments between `*`s (which may contain `?`). */
export interface Glob {
  readonly segments: readonly string[];
  /** Sum of the segment lengths: the shortest value that can match. */
  readonly minLength: number;
  /** Per segment: whether it contains `?` (otherwise indexOf finds it). */
  readonly hasQuestion: readonly boolean[];
}

/** Compiles an IAM wildcard pattern. */
export function compileGlob(pattern: string): Glob {
  const segments = pattern.split("*");
  return {
    segments,
    minLength: segments.reduce((n, s) => n + s.length, 0),
    hasQuestion: segments.map((s) => s.includes("?")),
  };
}

function segmentAt(value: string, at: number, segment: string): boolean {
  for (let i = 0; i < segment.length; i++) {
    const p = segment.charCodeAt(i);
    if (p !== 63 /* ? */ && p !== value.charCodeAt(at + i)) return false;
  }
  return true;
}

/** Leftmost index in [from, limit - segment.length] where `segment` matches, or -1. */
function find(value: string, segment: string, question: boolean, from: number, limit: number): number {
  if (!question) {
    const i = value.indexOf(segment, from);
    return i >= 0 && i + segment.length <= limit ? i : -1;
  }
  for (let i = from; i + segment.length <= limit; i++) if (segmentAt(value, i, segment)) return i;
  return -1;
}

/** Whether `value` matches the compiled pattern (case-sensitively; lower-case both for case-insensitivity). */
export function globMatches(glob: Glob, value: string): boolean {
  const { segments, hasQuestion } = glob;
  const n = segments.length;
  if (n === 1) return value.length === glob.minLength && segmentAt(value, 0, segments[0]!);
  if (value.length < glob.minLength) return false;
  const first = segments[0]!;
  const last = segments[n - 1]!;
  if (!segmentAt(value, 0, first)) return false;
  const end = value.length - last.length;
  if (!segmentAt(value, end, last)) return false;
  let pos = first.length;
  for (let k = 1; k < n - 1; k++) {
    const seg = segments[k]!;
    if (seg.length === 0) continue;
    const at = find(value, seg, hasQuestion[k]!, pos, end);
    if (at < 0) return false;
    pos = at + seg.length;
  }
  return pos <= end;
}

/**
 * A set of patterns compiled for fast matching: exact strings go to a Set, wildcard ones to Globs,
 * and a lone `*` short-circuits to "matches everything".
 */
export interface StringMatcher {
  readonly any: boolean;
  readonly exact: ReadonlySet<string>;
  readonly patterns: readonly Glob[];
}

/** Builds a StringMatcher. With `lowerCase`, patterns are lower-cased and the caller must lower-case input. */
export function compileMatcher(patterns: readonly string[], lowerCase = false): StringMatcher {
  const exact = new Set<string>();
  const globs: Glob[] = [];
  let any = false;
  for (const raw of patterns) {
    const p = lowerCase ? raw.toLowerCase() : raw;
    if (p === "*") any = true;
    else if (hasWildcard(p)) globs.push(compileGlob(p));
    else exact.add(p);
  }
  return { any, exact, patterns: globs };
}

/** True when `value` matches one of the matcher's patterns. */
export function matches(matcher: StringMatcher, value: string): boolean {
  if (matcher.any || matcher.exact.has(value)) return true;
  for (const g of matcher.patterns) if (globMatches(g, value)) return true;
  return false;
}
