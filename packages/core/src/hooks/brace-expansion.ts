import { classEnd } from './glob-class.js';

/** Alternatives a pattern's braces may expand to before it is refused (`{a,b}` 9 times over is 512). */
export const MAX_ALTERNATIVES = 256;

/** Makes the error for a pattern that cannot be expanded; `why` continues the pattern's name. */
export type Refusal = (why: string) => RangeError;

interface Alternation {
  open: number;
  close: number;
  alternatives: string[];
}

/**
 * The patterns a brace pattern stands for, as a shell spells them: `a/{**,b}` is `a/**` and
 * `a/b`, `x/{1..3}` is `x/1`, `x/2` and `x/3`. compilePattern compiles each on its own, because
 * picomatch's own alternation gets some wrong: inside it a trailing `**` cannot match zero
 * segments (`a/{**,b}` would not match `a`, which `a/**` does, P4), and it reads a `..`
 * anywhere in braces as a character range (`{a,b/..}` matched the key `/` and not `a`). A
 * brace with neither a top-level comma nor a range (`{a}`) is left as it is: picomatch reads it
 * as text. Escapes and classes are skipped, as `toPicomatchGlob` reads them.
 */
export function expandBraces(pattern: string, refuse: Refusal): string[] {
  const done: string[] = [];
  const todo = [pattern];
  while (todo.length > 0) {
    const p = todo.pop()!;
    const brace = firstAlternation(p, refuse);
    if (brace === undefined) {
      done.push(p);
    } else {
      for (let i = brace.alternatives.length - 1; i >= 0; i--) todo.push(p.slice(0, brace.open) + brace.alternatives[i] + p.slice(brace.close + 1));
    }
    if (done.length + todo.length > MAX_ALTERNATIVES) throw refuse(`expands to more than ${MAX_ALTERNATIVES} alternatives`);
  }
  return done;
}

/** Where a scan of `p` goes on after position `i`: past an escaped character or a whole class. */
function skipLiteral(p: string, i: number): number {
  if (p[i] === '\\') return i + 1;
  if (p[i] === '[') {
    const close = classEnd(p, i);
    if (close !== -1) return close;
  }
  return i;
}

/** The first `{...}` of `p` with a top-level comma, or a range. */
function firstAlternation(p: string, refuse: Refusal): Alternation | undefined {
  for (let i = 0; i < p.length; i++) {
    const skipped = skipLiteral(p, i);
    if (skipped !== i) {
      i = skipped;
    } else if (p[i] === '{') {
      const found = alternationAt(p, i, refuse);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/**
 * The brace opening at `open` split at its top-level commas, or the values of the range it
 * holds; undefined when it has neither (`{a}` is text) or never closes.
 */
function alternationAt(p: string, open: number, refuse: Refusal): Alternation | undefined {
  const alternatives: string[] = [];
  let depth = 0;
  let from = open + 1;
  for (let i = open + 1; i < p.length; i++) {
    const skipped = skipLiteral(p, i);
    const c = p[i]!;
    if (skipped !== i) {
      i = skipped;
    } else if (c === '{') {
      depth++;
    } else if (c === '}' && depth > 0) {
      depth--;
    } else if (c === ',' && depth === 0) {
      alternatives.push(p.slice(from, i));
      from = i + 1;
    } else if (c === '}') {
      const body = p.slice(from, i);
      if (alternatives.length > 0) return { open, close: i, alternatives: [...alternatives, body] };
      const values = rangeValues(body, refuse);
      return values === undefined ? undefined : { open, close: i, alternatives: values };
    }
  }
  return undefined;
}

const NUMBER_RANGE = /^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$/;
// Letters of one case only: a range over other characters could spell `*`, `?`, `[` or a backslash.
const LETTER_RANGE = /^(?:([a-z])\.\.([a-z])|([A-Z])\.\.([A-Z]))(?:\.\.(-?\d+))?$/;

/**
 * The values of a range: `1..10`, `01..10` (zero-padded to the wider end), `a..e` or `A..E`,
 * each with an optional `..step`. (picomatch alone makes a range a character class, right only
 * for single characters: `{1..10}` became `[1-10]`, the digits 1 and 0.) undefined for a body
 * that is no range; refused when it tries to be one (has `..`) and is not, or spans more than
 * {@link MAX_ALTERNATIVES} values.
 */
function rangeValues(body: string, refuse: Refusal): string[] | undefined {
  if (!body.includes('..')) return undefined;
  const numbers = NUMBER_RANGE.exec(body);
  const letters = numbers === null ? LETTER_RANGE.exec(body) : null;
  if (numbers === null && letters === null) {
    // Nested braces (`{a{1..3}}`) are read from the inside.
    if (/[{}\\]/.test(body)) return undefined;
    throw refuse(`has {${body}}, which is not a range: write {1..10}, {01..10}, {a..z} or {A..Z} (with an optional ..step), or escape the braces`);
  }
  const [first, last, stepText] = numbers !== null ? numbers.slice(1) : [letters![1] ?? letters![3], letters![2] ?? letters![4], letters![5]];
  // BigInt: a shell spells `{12345678901234567890..12345678901234567892}` exactly; doubles
  // would round its ends past 2^53 and spell numbers no key holds.
  const abs = (v: bigint): bigint => (v < 0n ? -v : v);
  const step = abs(BigInt(stepText ?? 1)) || 1n;
  const [from, to] = numbers !== null ? [BigInt(first!), BigInt(last!)] : [BigInt(first!.charCodeAt(0)), BigInt(last!.charCodeAt(0))];
  const count = abs(to - from) / step + 1n;
  if (count > BigInt(MAX_ALTERNATIVES)) throw refuse(`expands to more than ${MAX_ALTERNATIVES} alternatives ({${body}} alone has ${count})`);
  const width = numbers !== null && (/^-?0\d/.test(first!) || /^-?0\d/.test(last!)) ? Math.max(first!.length, last!.length) : 0;
  const values: string[] = [];
  for (let k = 0n, v = from; k < count; k++, v += from <= to ? step : -step) {
    if (numbers === null) values.push(String.fromCharCode(Number(v)));
    else values.push(v < 0n ? '-' + String(-v).padStart(width - 1, '0') : String(v).padStart(width, '0'));
  }
  return values;
}
