import { expandBraces, MAX_ALTERNATIVES, type Refusal } from './brace-expansion.js';
import { classEnd } from './glob-class.js';
import { compileAlternative, compileTest, literalRuns } from './matcher.js';

/**
 * Glob patterns, compiled once at registration to the linear-time matcher of matcher.ts
 * (picomatch's syntax, read by our own parser: see docs/patterns.md), with the rules of
 * reference-semantics.md:
 * - P1: anchored at both ends, matched against the key as UTF-8 text.
 * - P2: `*` is any run of characters within one segment, including the empty run.
 * - P3/P4: `**` as a whole segment matches zero or more segments, so `users/**` matches
 *   `users`, `users/alice` and `users/alice/profile/photo`.
 * - P5: `*` matches names beginning with a dot, and the segments `.` and `..` too: keys are
 *   opaque strings, not paths, so `system/..` is just another key under `system/`.
 * - P6: `?` is one character within a segment; `[abc]`/`[a-z]`/`[!a]` classes and `{a,b}`
 *   alternatives are glob syntax; `\` escapes the next character; everything else, including
 *   `( ) + @ ! | $ ^ .`, is literal. `/` is always a separator: `\/` is one, and no class
 *   matches `/`.
 * - P8: the empty pattern is rejected.
 *
 * Matching costs O(key length × pattern length) for every pattern accepted: there is no
 * regular expression to backtrack (matcher.ts says why).
 */

/** The longest pattern accepted, in UTF-16 code units (JavaScript string length). */
export const MAX_PATTERN_LENGTH = 4096;
/** The most text a pattern's brace alternatives may add up to, in UTF-16 code units. */
export const MAX_EXPANDED_LENGTH = 65_536;

/** Characters that give a segment glob meaning; a segment without them is literal. */
const MAGIC = /[*?[\]{}\\]/;

export function isLiteralSegment(segment: string): boolean {
  return !MAGIC.test(segment);
}

/**
 * The literal text every key matching `pattern` ends with: the end of its last segment after
 * the last glob character. `.json` for `**\/*.json`, `email` for `users/*\/email`, `''` for
 * `users/**`. The hook index files patterns by it. Exact because every character outside glob
 * syntax is literal. Index with {@link plainSlashes} applied (`a\\/b` ends with `b`).
 */
export function literalTail(pattern: string): string {
  let start = pattern.length;
  while (start > 0 && pattern[start - 1] !== '/' && !MAGIC.test(pattern[start - 1]!)) start--;
  return pattern.slice(start);
}

/** The literal text a pattern segment begins with, before its first glob character: `s1-` for `s1-?`. */
export function literalHead(segment: string): string {
  let end = 0;
  while (end < segment.length && !MAGIC.test(segment[end]!)) end++;
  return segment.slice(0, end);
}

/** Validates a pattern, throwing a TypeError/RangeError naming `name`, what it got and what is accepted. */
export function assertPattern(pattern: unknown, name = 'pattern'): asserts pattern is string {
  if (typeof pattern !== 'string') {
    const got = pattern === null ? 'null' : Array.isArray(pattern) ? 'an array' : typeof pattern;
    throw new TypeError(`${name} must be a string holding a glob such as "users/*", got ${got}`);
  }
  if (pattern.length === 0) throw new RangeError(`${name} must not be empty (rule P8): write a glob such as "users/*", or "**" for every key`);
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new RangeError(`${name} is ${pattern.length} characters long, got ${JSON.stringify(pattern.slice(0, 40) + '...')}; patterns may be at most ${MAX_PATTERN_LENGTH} characters`);
  }
  if (pattern.startsWith('./')) {
    throw new RangeError(`${name} ${JSON.stringify(pattern)} starts with "./"; patterns match whole keys, write it without the "./"`);
  }
  const lone = LONE_SURROGATE.exec(pattern);
  if (lone !== null) {
    throw new RangeError(`${name} ${JSON.stringify(pattern)} holds a lone UTF-16 surrogate at index ${lone.index}; keys are UTF-8 text, which never holds one, so write whole characters`);
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * `\/` is a slash: escaping gives a character no glob meaning it already has, and `/` has
 * exactly one, the separator (rule P3's segments). Written out, so that `users\/**` is
 * `users/**` (and matches `users`, P4), not a pattern whose globstar is no whole segment.
 * An escaped backslash (`\\`) stays as it is.
 */
export function plainSlashes(pattern: string): string {
  if (!pattern.includes('\\/')) return pattern;
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) {
      const next = pattern[++i]!;
      out += next === '/' ? '/' : c + next;
    } else {
      out += c;
    }
  }
  return out;
}

/** A compiled pattern: `test(key)` tells whether the pattern matches the whole key. */
export class PatternMatcher {
  /** The pattern as written. */
  readonly pattern: string;
  /**
   * Whether `key` (the whole of it) matches; O(key length × pattern length). Each alternative's
   * test is chosen for its shape at compile time (matcher.ts, `compileTest`).
   */
  readonly test: (key: string) => boolean;
  readonly #alternatives: readonly ReturnType<typeof compileAlternative>[];

  /** @internal Use {@link compilePattern}. */
  constructor(pattern: string, alternatives: readonly ReturnType<typeof compileAlternative>[]) {
    this.pattern = pattern;
    this.#alternatives = alternatives;
    const tests = alternatives.map(compileTest);
    this.test =
      tests.length === 1
        ? tests[0]!
        : (key) => {
            for (let i = 0; i < tests.length; i++) if (tests[i]!(key)) return true;
            return false;
          };
  }

  /**
   * @internal For the hook index: per alternative, the literal texts every key matching that
   * alternative contains, from its segment `from` on (none when it has no literal text there).
   */
  literalRuns(from: number): string[][] {
    return this.#alternatives.map((segments) => literalRuns(segments, from));
  }
}

/** Compiles a pattern once, for many keys; throws a TypeError/RangeError naming `name` for a bad one. */
export function compilePattern(pattern: string, name = 'pattern'): PatternMatcher {
  assertPattern(pattern, name);
  const refuse: Refusal = (why) => new RangeError(`${name} ${JSON.stringify(pattern)} ${why}`);
  const plain = plainSlashes(pattern);
  const alternatives = plain.includes('{') ? expandBraces(plain, refuse) : [plain];
  let expanded = 0;
  for (const alternative of alternatives) expanded += alternative.length;
  if (expanded > MAX_EXPANDED_LENGTH) {
    throw refuse(`expands to ${alternatives.length} alternatives of ${expanded} characters in all; braces may spell at most ${MAX_EXPANDED_LENGTH} characters (and ${MAX_ALTERNATIVES} alternatives)`);
  }
  return new PatternMatcher(
    pattern,
    alternatives.map((alternative) => {
      if (alternative.startsWith('./')) {
        throw refuse(`has an alternative starting with "./" (${JSON.stringify(alternative)}); patterns match whole keys, write it without the "./"`);
      }
      const unclosed = unclosedBrace(alternative);
      if (unclosed !== -1) {
        throw refuse(`is not a valid glob: the { at index ${unclosed} of ${JSON.stringify(alternative)} is never closed; close it, or escape it (\\{) for the text`);
      }
      return compileAlternative(collapseGlobstars(alternative), refuse);
    }),
  );
}

/** Index of a `{` (outside escapes and classes) that no `}` closes, or -1. Braces left after expansion are text. */
function unclosedBrace(p: string): number {
  const open: number[] = [];
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\') i++;
    else if (c === '[') {
      const close = classEnd(p, i);
      if (close !== -1) i = close;
    } else if (c === '{') open.push(i);
    else if (c === '}') open.pop();
  }
  return open.length > 0 ? open[0]! : -1;
}

/**
 * `**` twice in a row matches exactly what one `**` matches (zero or more segments, P3/P4), so
 * a run of whole-segment globstars compiles as one.
 */
function collapseGlobstars(pattern: string): string {
  if (!pattern.includes('**/**')) return pattern;
  const segments = pattern.split('/');
  return segments.filter((segment, i) => !(segment === '**' && segments[i - 1] === '**')).join('/');
}

/** One-off match, for tests and tools; the engine compiles once and reuses the matcher. */
export function matchPattern(pattern: string, key: string): boolean {
  return compilePattern(pattern).test(key);
}
