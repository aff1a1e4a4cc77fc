/**
 * The matcher patterns had before the linear-time one (pattern.ts up to issue 10): picomatch's
 * regular expression, adjusted. Kept only as the reference the property tests compare the new
 * matcher with; it backtracks exponentially on some keys, so never use it on untrusted input.
 */
import picomatch from 'picomatch';
import { expandBraces, type Refusal } from './brace-expansion.js';
import { classEnd } from './glob-class.js';

const OPTIONS: picomatch.PicomatchOptions = {
  dot: true,
  nonegate: true,
  noextglob: true,
  windows: false,
  strictSlashes: true,
  // A class is a class: without this picomatch also lets `[ab]x` match the text `[ab]x`.
  literalBrackets: false,
};

// picomatch guards against `.`/`..` segments and empty `*` runs because it matches paths;
// keys are not paths, so those guards would open a gap (a rule over `system/*` would not
// guard the key `system/..`).
const DOT_SEGMENT_GUARD = /\(\?!(?:\(\?:\^\|\\\/\))?\\\.\{\d,\d\}\(\?:\\\/\|\$\)\)/g;
const NON_EMPTY_GUARD = /\(\?=\.\)/g;
const MIDDLE_GLOBSTAR_END = /\|\\\/\|\$\)/g;

// Characters picomatch would pass through as regular-expression syntax (groups, alternation,
// anchors, quantifiers, quoting); in a glob they are literal (P6).
const REGEX_SYNTAX = new Set(['(', ')', '|', '$', '^', '"', '+']);

/**
 * Rewrites a glob so picomatch reads exactly the syntax of docs/patterns.md: classes
 * (`[!` spelt `[^`, which picomatch reads as negation without its `!` negation mode),
 * braces, `*`, `?`, `**`; every other character, and a `\`-escaped one, is literal.
 */
function toPicomatchGlob(pattern: string): string {
  let out = '';
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[++i];
      if (next === undefined) out += '\\\\';
      // `\d` would reach the regular expression as a digit class: an escaped letter or digit is itself.
      else out += /[A-Za-z0-9]/.test(next) ? next : '\\' + next;
    } else if (c === '[') {
      const close = classEnd(pattern, i);
      if (close === -1) {
        out += '\\[';
      } else {
        const body = pattern.slice(i + 1, close);
        out += '[' + (body.startsWith('!') ? '^' + body.slice(1) : body) + ']';
        i = close;
      }
    } else if (c === ']') {
      out += '\\]';
    } else if (c === '{') {
      braces++;
      out += c;
    } else if (c === '}') {
      if (braces > 0) {
        braces--;
        out += c;
      } else {
        out += '\\}';
      }
    } else if (REGEX_SYNTAX.has(c)) {
      out += '\\' + c;
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * Keys are matched by code point, so `?` takes a whole emoji: the expression is compiled with
 * the `u` flag, which rejects identity escapes such as `\-` or `\%` that picomatch emits;
 * those become `\xHH`, which means the same character.
 */
function toUnicodeSource(source: string): string {
  return source.replace(/\\([\x20-\x7e])/g, (escape, c: string) =>
    /[A-Za-z0-9^$\\.*+?()[\]{}|/]/.test(c) ? escape : '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'),
  );
}

/** Compiles a pattern to an anchored regular expression over the key text. */
export function legacyCompilePattern(pattern: string, name = 'pattern'): RegExp {
  const refuse: Refusal = (why) => new RangeError(`${name} ${JSON.stringify(pattern)} ${why}`);
  const alternatives = pattern.includes('{') ? expandBraces(pattern, refuse) : [pattern];
  const sources = alternatives.map((alternative) => globSource(collapseGlobstars(alternative), refuse));
  let source = sources.length === 1 ? sources[0]! : `^(?:${sources.map((s) => `(?:${stripAnchors(s)})`).join('|')})$`;
  source = source.replace(DOT_SEGMENT_GUARD, '');
  source = source.replace(NON_EMPTY_GUARD, '');
  // A globstar between segments (`a/**/b`) also lets picomatch end the key right there, safe
  // only with the non-empty guard just removed: without it `a/**/*` would match `a`. Between
  // segments it needs at least the one `/` (P3, P4).
  source = source.replace(MIDDLE_GLOBSTAR_END, '|\\/)');
  try {
    // `s`: a globstar's `.` must also cross line breaks, or `users/**` would not guard `users/a\nb`.
    return new RegExp(toUnicodeSource(source), 'us');
  } catch (cause) {
    throw new RangeError(`${name} ${JSON.stringify(pattern)} is not a valid glob`, { cause });
  }
}

/** picomatch's expression for one alternative of a pattern (its comma braces expanded), before the adjustments. */
function globSource(glob: string, refuse: Refusal): string {
  // A brace alternative may be empty (`{,a}`): it matches only the empty key, which no key is.
  if (glob === '') return '^$';
  if (glob.startsWith('./')) {
    throw refuse(`has an alternative starting with "./" (${JSON.stringify(glob)}); patterns match whole keys, write it without the "./"`);
  }
  // `users/**` must also match `users` (P4): picomatch's strict-slash output needs the
  // trailing `/**` made optional, which it does itself for a globstar in the middle.
  const compile = (g: string): string => {
    const source = picomatch.makeRe(toPicomatchGlob(g), OPTIONS).source;
    // picomatch's expression for a glob it cannot read.
    if (source === '$^') throw refuse('is not a valid glob (unbalanced brace or bracket?)');
    return source;
  };
  if (glob.endsWith('/**') && glob.length > 3) {
    return `^(?:(?:${stripAnchors(compile(glob.slice(0, -3)))})|(?:${stripAnchors(compile(glob))}))$`;
  }
  return compile(glob);
}

/**
 * `**` twice in a row matches exactly what one `**` matches (zero or more segments, P3/P4), so
 * a run of whole-segment globstars compiles as one. This keeps `a/**` the only shape with a
 * trailing globstar: `a/**\/**` compiled as written would not match `a`.
 */
function collapseGlobstars(pattern: string): string {
  if (!pattern.includes('**/**')) return pattern;
  const segments = pattern.split('/');
  return segments.filter((segment, i) => !(segment === '**' && segments[i - 1] === '**')).join('/');
}

function stripAnchors(source: string): string {
  return source.replace(/^\^/, '').replace(/\$$/, '');
}

