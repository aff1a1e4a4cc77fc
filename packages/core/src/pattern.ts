import picomatch from 'picomatch';

/**
 * Glob patterns, compiled once at registration with picomatch and adjusted to the rules in
 * reference-semantics.md:
 * - P1: anchored at both ends, matched against the key as UTF-8 text.
 * - P2: `*` is any run of characters within one segment, including the empty run.
 * - P3/P4: `**` as a whole segment matches zero or more segments, so `users/**` matches
 *   `users`, `users/alice` and `users/alice/profile/photo`.
 * - P5: `*` matches names beginning with a dot, and the segments `.` and `..` too: keys are
 *   opaque strings, not paths, so `system/..` is just another key under `system/`.
 * - P6: `?` is one character within a segment; `[abc]`/`[a-z]`/`[!a]` classes and `{a,b}`
 *   alternatives are glob syntax; `\` escapes the next character; everything else, including
 *   `( ) + @ ! | $ ^ .`, is literal.
 * - P8: the empty pattern is rejected.
 */

const OPTIONS: picomatch.PicomatchOptions = {
  dot: true,
  nonegate: true,
  noextglob: true,
  windows: false,
  strictSlashes: true,
};

// picomatch guards against `.`/`..` segments and empty `*` runs because it matches paths;
// keys are not paths, so those guards would open a gap (a rule over `system/*` would not
// guard the key `system/..`).
const DOT_SEGMENT_GUARDS = [/\(\?!\\\.\{1,2\}\(\?:\\\/\|\$\)\)/g, /\(\?!\(\?:\^\|\\\/\)\\\.\{1,2\}\(\?:\\\/\|\$\)\)/g];
const NON_EMPTY_GUARD = /\(\?=\.\)/g;

/** Characters that give a segment glob meaning; a segment without them is literal. */
const MAGIC = /[*?[\]{}\\]/;

export function isLiteralSegment(segment: string): boolean {
  return !MAGIC.test(segment);
}

/** Validates a pattern, throwing a TypeError/RangeError naming `name`. */
export function assertPattern(pattern: unknown, name = 'pattern'): asserts pattern is string {
  if (typeof pattern !== 'string') throw new TypeError(`${name} must be a string, got ${typeof pattern}`);
  if (pattern.length === 0) throw new RangeError(`${name} must not be empty (rule P8)`);
  if (pattern.startsWith('./')) {
    throw new RangeError(`${name} ${JSON.stringify(pattern)} starts with "./"; patterns match whole keys, write it without the "./"`);
  }
}

/** Escapes parentheses, which picomatch would otherwise read as regex groups (P6), and spells class negation `[^`. */
function escapeLiterals(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) {
      out += c + pattern[++i];
    } else if (c === '(' || c === ')') {
      out += '\\' + c;
    } else if (c === '[' && pattern[i + 1] === '!') {
      // Glob class negation; picomatch reads `[!` as negation only with negation enabled,
      // which would also turn a leading `!` into "not" — `[^` means the same to it.
      out += '[^';
      i++;
    } else {
      out += c;
    }
  }
  return out;
}

/** Compiles a pattern to an anchored regular expression over the key text. */
export function compilePattern(pattern: string, name = 'pattern'): RegExp {
  assertPattern(pattern, name);
  // `users/**` must also match `users` (P4): picomatch's strict-slash output needs the
  // trailing `/**` made optional, which it does itself for a globstar in the middle.
  let source: string;
  if (pattern.endsWith('/**') && pattern.length > 3) {
    const base = picomatch.makeRe(escapeLiterals(pattern.slice(0, -3)), OPTIONS).source;
    const rest = picomatch.makeRe(escapeLiterals(pattern), OPTIONS).source;
    source = `(?:${stripAnchors(base)})|(?:${stripAnchors(rest)})`;
    source = `^(?:${source})$`;
  } else {
    source = picomatch.makeRe(escapeLiterals(pattern), OPTIONS).source;
  }
  if (source === '$^') {
    throw new RangeError(`${name} ${JSON.stringify(pattern)} is not a valid glob (unbalanced brace or bracket?)`);
  }
  for (const guard of DOT_SEGMENT_GUARDS) source = source.replace(guard, '');
  source = source.replace(NON_EMPTY_GUARD, '');
  try {
    return new RegExp(source);
  } catch (cause) {
    throw new RangeError(`${name} ${JSON.stringify(pattern)} is not a valid glob`, { cause });
  }
}

function stripAnchors(source: string): string {
  return source.replace(/^\^/, '').replace(/\$$/, '');
}

/** One-off match, for tests and tools; the engine compiles once and reuses the RegExp. */
export function matchPattern(pattern: string, key: string): boolean {
  return compilePattern(pattern).test(key);
}
