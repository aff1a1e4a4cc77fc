import { classEnd } from './glob-class.js';
import type { Refusal } from './brace-expansion.js';

/**
 * The matcher behind every pattern: no regular expression and no backtracking search, so a
 * key costs time linear in its length times the pattern's size, whatever either holds.
 *
 * One alternative of a pattern (its braces expanded, its globstar runs collapsed, its escaped
 * slashes made plain) is a list of segments; a key is the list of its `/`-separated segments.
 *
 * - Segments: a whole-segment `**` matches zero or more key segments; every other pattern
 *   segment matches exactly one. That is wildcard matching with one kind of star, which the
 *   classic greedy scan decides exactly: on a mismatch, the last globstar takes one more key
 *   segment and the segments after it start over. Each (pattern segment, key segment) pair is
 *   compared at most once per globstar phase, and a later globstar ends the earlier one's
 *   phase, so at most once in all: O(pattern segments × key segments) comparisons.
 * - Within a segment: a pattern segment is a fixed-width head, then `*`-separated fixed-width
 *   chunks, then a fixed-width tail (fixed width in code points: literal runs, `?`, classes).
 *   The head is matched at the segment's start, the tail at its end, and each chunk at its
 *   leftmost place after the previous one. Leftmost is always right for fixed-width chunks
 *   between stars, so there is nothing to undo: O(segment length × pattern segment length).
 *
 * Summed over all pairs: O(key length × pattern length) for one alternative, and for a brace
 * pattern the sum over its alternatives (bounded at registration).
 */

/** A `?` or a class: one code point, never `/`. */
export class CharSet {
  /** Members below 128, looked up directly. */
  readonly #ascii = new Uint8Array(128);
  /** Inclusive [from, to] pairs of code points, before negation. */
  readonly #ranges: number[];
  readonly #negated: boolean;

  constructor(ranges: number[], negated: boolean) {
    this.#ranges = ranges;
    this.#negated = negated;
    for (let c = 0; c < 128; c++) this.#ascii[c] = c !== SLASH && this.#inRanges(c) !== negated ? 1 : 0;
  }

  test(cp: number): boolean {
    if (cp < 128) return this.#ascii[cp] === 1;
    return this.#inRanges(cp) !== this.#negated;
  }

  #inRanges(cp: number): boolean {
    const r = this.#ranges;
    for (let i = 0; i < r.length; i += 2) if (cp >= r[i]! && cp <= r[i + 1]!) return true;
    return false;
  }
}

const SLASH = 0x2f;
/** `?`: any code point but `/`. */
const ANY = new CharSet([], true);

/** A fixed-width piece of a segment: literal text, or one code point of a set. */
type Unit = string | CharSet;

const enum Kind {
  /** A whole-segment `**`. */
  Globstar,
  /** Literal text only. */
  Literal,
  /** `*` (or `***`...): any one segment. */
  Any,
  /** Anything else: head, chunks and tail around its stars. */
  Glob,
}

interface Segment {
  readonly kind: Kind;
  /** Literal: the text. */
  readonly text: string;
  /** Glob: units before the first star (all of them when there is no star). */
  readonly head: readonly Unit[];
  /** Glob: whether the segment has a star. */
  readonly star: boolean;
  /** Glob: the fixed-width runs between stars, in order. */
  readonly chunks: readonly (readonly Unit[])[];
  /** Glob: units after the last star. */
  readonly tail: readonly Unit[];
}

function segment(kind: Kind, text = '', head: Unit[] = [], star = false, chunks: Unit[][] = [], tail: Unit[] = []): Segment {
  return { kind, text, head, star, chunks, tail };
}

/**
 * Compiles one alternative (no braces left to expand, escaped slashes already plain) into
 * segments. `refuse` makes the error for a class that cannot be read.
 */
export function compileAlternative(alternative: string, refuse: Refusal): readonly Segment[] {
  return alternative.split('/').map((text) => compileSegment(text, refuse));
}

function compileSegment(text: string, refuse: Refusal): Segment {
  if (text === '**') return segment(Kind.Globstar);
  // Pieces separated by stars; `star` marks that at least one star was seen.
  const pieces: Unit[][] = [[]];
  let literal = '';
  const flush = (): void => {
    if (literal !== '') pieces[pieces.length - 1]!.push(literal);
    literal = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      // An escaped character is itself; a lone trailing backslash is a backslash.
      i++;
      literal += i < text.length ? text[i] : '\\';
      // A surrogate pair escaped as a whole: `\😀` is the emoji.
      if (i < text.length && isHigh(text.charCodeAt(i)) && i + 1 < text.length && isLow(text.charCodeAt(i + 1))) literal += text[++i];
    } else if (c === '*') {
      flush();
      while (text[i + 1] === '*') i++;
      pieces.push([]);
    } else if (c === '?') {
      flush();
      pieces[pieces.length - 1]!.push(ANY);
    } else if (c === '[') {
      const close = classEnd(text, i);
      if (close === -1) {
        literal += c;
      } else {
        flush();
        pieces[pieces.length - 1]!.push(compileClass(text.slice(i + 1, close), refuse));
        i = close;
      }
    } else {
      literal += c;
    }
  }
  flush();
  if (pieces.length === 1) {
    const only = pieces[0]!;
    if (only.length === 0) return segment(Kind.Literal, '');
    if (only.length === 1 && typeof only[0] === 'string') return segment(Kind.Literal, only[0]);
    return segment(Kind.Glob, '', only);
  }
  if (pieces.length === 2 && pieces[0]!.length === 0 && pieces[1]!.length === 0) return segment(Kind.Any);
  return segment(Kind.Glob, '', pieces[0]!, true, pieces.slice(1, -1).filter((chunk) => chunk.length > 0), pieces[pieces.length - 1]!);
}

/**
 * A class body (between `[` and `]`): a leading `!` or `^` negates; `x-y` is a range of code
 * points; `\x` is the character x, whatever x is; every other character is itself. A class
 * never matches `/` (it is always a separator), negated or not.
 */
function compileClass(body: string, refuse: Refusal): CharSet {
  const posix = /(?<!\\)\[:([A-Za-z]*):/.exec(body);
  if (posix !== null) {
    throw refuse(
      `has the POSIX class [:${posix[1]}:], which patterns do not support: write its characters as a class such as [0-9] or [a-zA-Z], or escape the bracket (\\[) for the text`,
    );
  }
  const negated = body[0] === '!' || body[0] === '^';
  const atoms: number[] = [];
  /** Positions in `atoms` of a `-` that was written plainly (could make a range). */
  const dashes = new Set<number>();
  for (let i = negated ? 1 : 0; i < body.length; ) {
    let escaped = false;
    if (body[i] === '\\' && i + 1 < body.length) {
      i++;
      escaped = true;
    }
    const cp = body.codePointAt(i)!;
    if (!escaped && cp === 0x2d) dashes.add(atoms.length);
    atoms.push(cp);
    i += cp > 0xffff ? 2 : 1;
  }
  const ranges: number[] = [];
  for (let k = 0; k < atoms.length; k++) {
    // `a-z`: a plain dash between two atoms, as in a regular-expression class; a dash first
    // or last, or right after a range, is itself.
    if (k + 2 < atoms.length && dashes.has(k + 1)) {
      const [from, to] = [atoms[k]!, atoms[k + 2]!];
      if (from > to) {
        throw refuse(`has the class [${body}], whose range ${String.fromCodePoint(from)}-${String.fromCodePoint(to)} runs backwards: write the lower end first, as in [a-z]`);
      }
      ranges.push(from, to);
      k += 2;
    } else {
      ranges.push(atoms[k]!, atoms[k]!);
    }
  }
  return new CharSet(ranges, negated);
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

/**
 * The longest literal text every key matching the alternative contains (a literal segment, or a
 * literal run of a glob segment), or '': a native `includes` rejects most keys before the scan.
 */
export function requiredText(segments: readonly Segment[]): string {
  let best = '';
  const consider = (units: readonly Unit[]): void => {
    for (const u of units) if (typeof u === 'string' && u.length > best.length) best = u;
  };
  for (const seg of segments) {
    if (seg.kind === Kind.Literal && seg.text.length > best.length) best = seg.text;
    consider(seg.head);
    consider(seg.tail);
    for (const chunk of seg.chunks) consider(chunk);
  }
  return best;
}

/**
 * The literal runs of the alternative's segments from `from` on, each a text every matching
 * key contains: literal segments whole, and the literal runs of glob segments. The hook
 * index files a pattern under one of them (its literal leading segments it files by itself).
 */
export function literalRuns(segments: readonly Segment[], from: number): string[] {
  const runs: string[] = [];
  const add = (units: readonly Unit[]): void => {
    for (const u of units) if (typeof u === 'string' && u.length > 0) runs.push(u);
  };
  for (let s = from; s < segments.length; s++) {
    const seg = segments[s]!;
    if (seg.kind === Kind.Literal) {
      if (seg.text.length > 0) runs.push(seg.text);
      continue;
    }
    add(seg.head);
    for (const chunk of seg.chunks) add(chunk);
    add(seg.tail);
  }
  return runs;
}

/** A compiled test of one alternative against a whole key. */
export type KeyTest = (key: string) => boolean;

/**
 * The alternative's test, specialised at compile time to its shape. Each form answers exactly
 * what {@link matchSegments} answers and stays within its bound (every form reads each key
 * character a bounded number of times per pattern segment, or calls `matchSegment` on disjoint
 * key segments):
 *
 * - no globstar (`tenant/7/*`, `*\/secret`, `users/*\/email`): the key has exactly as many
 *   segments, matched in turn; all literal is one comparison, literal segments then a final
 *   `*` one `startsWith` and one `indexOf`;
 * - a last globstar (`logs/7/**`): the leading segments match the key's first ones;
 * - a first globstar (`**\/*.json`, `**\/secret`): the other segments match the key's last ones;
 *   `**\/*.json` is one `endsWith`;
 * - globstars around literal segments (`**\/tmp/**`): the key holds that run of segments;
 * - anything else: {@link matchSegments}, after a native `includes` of the longest literal run.
 */
export function compileTest(segments: readonly Segment[]): KeyTest {
  const n = segments.length;
  let globstars = 0;
  for (const seg of segments) if (seg.kind === Kind.Globstar) globstars++;
  if (globstars === 0) return fixedTest(segments);
  const first = segments[0]!.kind === Kind.Globstar;
  const last = segments[n - 1]!.kind === Kind.Globstar;
  if (n === 1) return () => true; // `**`
  if (globstars === 1 && last) return prefixTest(segments.slice(0, n - 1));
  if (globstars === 1 && first) return suffixTest(segments.slice(1));
  if (globstars === 2 && n > 2 && first && last && segments.slice(1, n - 1).every((s) => s.kind === Kind.Literal)) {
    const run = segments
      .slice(1, n - 1)
      .map((s) => s.text)
      .join('/');
    const [head, tail, inner] = [run + '/', '/' + run, '/' + run + '/'];
    return (key) => key.includes(run) && (key === run || key.startsWith(head) || key.endsWith(tail) || key.includes(inner));
  }
  const required = requiredText(segments);
  if (required.length > 1) return (key) => key.includes(required) && matchSegments(segments, key);
  return (key) => matchSegments(segments, key);
}

/** How many leading segments are literal. */
function literalCount(segments: readonly Segment[]): number {
  let k = 0;
  while (k < segments.length && segments[k]!.kind === Kind.Literal) k++;
  return k;
}

/** Exactly `segments.length` key segments, each matching its pattern segment (no globstar). */
function fixedTest(segments: readonly Segment[]): KeyTest {
  const n = segments.length;
  const k = literalCount(segments);
  const text = segments
    .slice(0, k)
    .map((s) => s.text)
    .join('/');
  if (k === n) return (key) => key === text;
  const prefix = k === 0 ? '' : text + '/';
  const at = prefix.length;
  if (k === n - 1 && segments[k]!.kind === Kind.Any) return (key) => key.startsWith(prefix) && key.indexOf('/', at) === -1;
  const rest = segments.slice(k);
  if (rest.length === 1) {
    const only = rest[0]!;
    return (key) => key.startsWith(prefix) && key.indexOf('/', at) === -1 && matchSegment(only, key, at, key.length);
  }
  const last = rest[rest.length - 1]!;
  if (last.kind === Kind.Literal) {
    // A literal last segment is checked first, in one piece: keys of one namespace share their
    // beginning far more often than their end, so most keys that do not match fail here.
    const tail = '/' + last.text;
    const middle = rest.slice(0, -1);
    return (key) => key.endsWith(tail) && key.startsWith(prefix) && matchRunTo(middle, key, at, key.length - tail.length);
  }
  return (key) => key.startsWith(prefix) && matchRun(rest, key, at);
}

/**
 * {@link matchRun} of `segments` over the key's text from `pos` to `limit` (exclusive), where
 * `key[limit]` is a `/` already matched: the segments must cover exactly that stretch.
 */
function matchRunTo(segments: readonly Segment[], key: string, pos: number, limit: number): boolean {
  const last = segments.length - 1;
  for (let i = 0; i <= last; i++) {
    const end = key.indexOf('/', pos);
    if (i < last ? end === -1 || end >= limit : end !== limit) return false;
    if (!matchSegment(segments[i]!, key, pos, end)) return false;
    pos = end + 1;
  }
  return true;
}

/** Key segments from `pos` on: exactly as many as `segments`, each matching. */
function matchRun(segments: readonly Segment[], key: string, pos: number): boolean {
  const last = segments.length - 1;
  for (let i = 0; i <= last; i++) {
    let end = key.indexOf('/', pos);
    if (i < last) {
      if (end === -1) return false;
    } else if (end !== -1) return false;
    else end = key.length;
    if (!matchSegment(segments[i]!, key, pos, end)) return false;
    pos = end + 1;
  }
  return true;
}

/** `segments` then a globstar: the key's first segments match `segments`, whatever follows. */
function prefixTest(segments: readonly Segment[]): KeyTest {
  const n = segments.length;
  const k = literalCount(segments);
  if (k === n) {
    const text = segments.map((s) => s.text).join('/');
    return (key) => key.startsWith(text) && (key.length === text.length || key.charCodeAt(text.length) === SLASH);
  }
  return (key) => {
    let pos = 0;
    for (let i = 0; i < n; i++) {
      let end = key.indexOf('/', pos);
      if (end === -1) {
        if (i < n - 1) return false;
        end = key.length;
      }
      if (!matchSegment(segments[i]!, key, pos, end)) return false;
      pos = end + 1;
    }
    return true;
  };
}

/** A globstar then `segments`: the key's last segments match `segments`, whatever precedes. */
function suffixTest(segments: readonly Segment[]): KeyTest {
  const m = segments.length;
  if (segments.every((s) => s.kind === Kind.Literal)) {
    const text = segments.map((s) => s.text).join('/');
    const tail = '/' + text;
    return (key) => key === text || key.endsWith(tail);
  }
  if (m === 1) {
    const only = segments[0]!;
    // `*.json`: a literal tail holds no `/`, so a key ending with it ends its last segment with it.
    if (only.kind === Kind.Glob && only.star && only.head.length === 0 && only.chunks.length === 0 && only.tail.length === 1 && typeof only.tail[0] === 'string') {
      const tail = only.tail[0];
      return (key) => key.endsWith(tail);
    }
    return (key) => matchSegment(only, key, key.lastIndexOf('/') + 1, key.length);
  }
  return (key) => {
    // The start of the key's last m segments, if it has that many.
    let at = key.length;
    for (let j = 0; j < m; j++) {
      const slash = at === 0 ? -1 : key.lastIndexOf('/', at - 1);
      if (slash === -1) {
        if (j < m - 1) return false;
        at = 0;
        break;
      }
      at = j < m - 1 ? slash : slash + 1;
    }
    return matchRun(segments, key, at);
  };
}

/** Whether `key` (all of it) matches the compiled alternative. */
export function matchSegments(segments: readonly Segment[], key: string): boolean {
  const n = segments.length;
  const length = key.length;
  let i = 0;
  let pos = 0; // start of the current key segment; length + 1 once every segment is used
  let globstar = -1; // index of the last globstar passed
  let resume = 0; // where the key segments after that globstar start
  for (;;) {
    if (pos > length) {
      while (i < n && segments[i]!.kind === Kind.Globstar) i++;
      return i === n;
    }
    if (i < n) {
      const seg = segments[i]!;
      if (seg.kind === Kind.Globstar) {
        // A trailing globstar takes whatever is left.
        if (i === n - 1) return true;
        globstar = i++;
        resume = pos;
        continue;
      }
      let end = key.indexOf('/', pos);
      if (end === -1) end = length;
      if (matchSegment(seg, key, pos, end)) {
        i++;
        pos = end + 1;
        continue;
      }
    }
    if (globstar === -1) return false;
    // The globstar takes one more key segment; the segments after it start over there.
    const slash = key.indexOf('/', resume);
    resume = slash === -1 ? length + 1 : slash + 1;
    pos = resume;
    i = globstar + 1;
  }
}

/** Whether key[start, end) — one key segment — matches `seg`. */
function matchSegment(seg: Segment, key: string, start: number, end: number): boolean {
  switch (seg.kind) {
    case Kind.Literal:
      return end - start === seg.text.length && key.startsWith(seg.text, start);
    case Kind.Any:
      return true;
    case Kind.Globstar:
      return false; // handled by matchSegments
    default:
      break;
  }
  let from = forwards(seg.head, key, start, end);
  if (from === -1) return false;
  if (!seg.star) return from === end;
  let to = end;
  if (seg.tail.length > 0) {
    to = backwards(seg.tail, key, end, from);
    if (to === -1) return false;
  }
  // Each chunk at its leftmost place: a later place would only leave less room for the rest.
  const chunks = seg.chunks;
  for (let c = 0; c < chunks.length; c++) {
    const chunk = chunks[c]!;
    const first = chunk[0]!;
    const firstCode = typeof first === 'string' ? first.charCodeAt(0) : -1;
    let found = -1;
    for (let at = from; at < to; at += isHigh(key.charCodeAt(at)) && isLow(key.charCodeAt(at + 1)) ? 2 : 1) {
      if (firstCode !== -1 && key.charCodeAt(at) !== firstCode) continue;
      found = forwards(chunk, key, at, to);
      if (found !== -1) break;
    }
    if (found === -1) return false;
    from = found;
  }
  return true;
}

/** Matches `units` at key[at...] without passing `limit`; the end, or -1. */
function forwards(units: readonly Unit[], key: string, at: number, limit: number): number {
  for (let u = 0; u < units.length; u++) {
    const unit = units[u]!;
    if (typeof unit === 'string') {
      if (at + unit.length > limit || !key.startsWith(unit, at)) return -1;
      at += unit.length;
    } else {
      if (at >= limit) return -1;
      const cp = key.codePointAt(at)!;
      if (!unit.test(cp)) return -1;
      at += cp > 0xffff ? 2 : 1;
    }
  }
  return at;
}

/** Matches `units` so that they end at key[end], without going below `limit`; the start, or -1. */
function backwards(units: readonly Unit[], key: string, end: number, limit: number): number {
  for (let u = units.length - 1; u >= 0; u--) {
    const unit = units[u]!;
    if (typeof unit === 'string') {
      if (end - unit.length < limit || !key.startsWith(unit, end - unit.length)) return -1;
      end -= unit.length;
    } else {
      if (end <= limit) return -1;
      let cp = key.charCodeAt(end - 1);
      let width = 1;
      if (isLow(cp) && end - 2 >= limit && isHigh(key.charCodeAt(end - 2))) {
        cp = key.codePointAt(end - 2)!;
        width = 2;
      }
      if (!unit.test(cp)) return -1;
      end -= width;
    }
  }
  return end;
}
