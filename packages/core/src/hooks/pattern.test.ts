import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HookIndex } from './hook-index.js';
import { compilePattern, matchPattern } from './pattern.js';

describe('patterns: the seed table', () => {
  it.each([
    ['system/*', 'system/config'],
    ['system/*', 'system/users'],
    ['users/*/email', 'users/alice/email'],
    ['users/*/email', 'users/bob/email'],
    ['users/**', 'users/alice'],
    ['users/**', 'users/alice/profile/photo'], // P3: no reference SDK matches this
    ['*.json', 'config.json'],
    ['*.json', 'data.json'],
  ])('%s matches %s', (pattern, key) => {
    expect(matchPattern(pattern, key)).toBe(true);
  });
});

describe('patterns: rules P1–P8', () => {
  it.each([
    // P1: anchored at both ends
    ['system/*', 'xsystem/config', false],
    ['system/*', 'system/config/x', false],
    ['users/*/email', 'users/alice/email2', false],
    // P2: `*` stays within one segment and may be empty
    ['*.json', 'a/config.json', false],
    ['system/*', 'system/', true],
    ['a*b', 'ab', true],
    ['users/*/email', 'users/a/b/email', false],
    // P3/P4: globstar crosses segments and matches zero segments
    ['users/**', 'users', true],
    ['users/**', 'users/', true],
    ['users/**', 'usersx', false],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['**/*.json', 'config.json', true],
    ['a/**/*', 'a', false],
    ['a/**/*', 'a/', true],
    // a run of globstars is one globstar (found by the property test)
    ['a/**/**', 'a', true],
    ['*/**/**', 'a', true],
    ['**/**', 'a', true],
    ['a/**/**/b', 'a/b', true],
    ['a/**/**/*', 'a', false],
    // braces are their alternatives, also around a globstar: `a/{**,b}` is `a/**` or `a/b`
    ['a/{**,b}', 'a', true],
    ['a/{**,b}', 'a/x/y', true],
    ['a/**/{b,**}', 'a', true],
    ['{a/**/**,x}', 'a', true],
    ['{a/**/**,x}', 'y', false],
    ['a/{,b}/**', 'a', false],
    ['a/{,b}/**', 'a/', true],
    ['a/{b,{c,d}}/**', 'a/d', true],
    ['a/{1..3}/**', 'a/2', true],
    ['a\\{b,c}/**', 'a{b,c}/x', true],
    ['[{,]/**', ',', true],
    ['a[$^]/**', 'a^', true],
    ['a[$^]', 'a$', true],
    // `..` inside braces is not a range unless the braces hold nothing else (found by the property test)
    ['{a,b/..}', 'a', true],
    ['{a,b/..}', 'b/..', true],
    ['{a,b/..}', '/', false],
    ['{*,*/..}', '/', false],
    ['x/{1..3}', 'x/2', true],
    ['x/{1..3}', 'x/4', false],
    // ranges are spelt out as a shell does (picomatch made `{1..10}` the class [1-10])
    ['x/{1..10}', 'x/7', true],
    ['x/{1..10}', 'x/10', true],
    ['x/{1..10}', 'x/0', false],
    ['x/{01..10}', 'x/07', true],
    ['x/{01..10}', 'x/7', false],
    ['x/{1..9..2}', 'x/4', false],
    ['x/{-2..2}', 'x/-1', true],
    ['x/{C..A}', 'x/B', true],
    ['x/{a{1..3},b}', 'x/a2', true],
    ['{,a}b', 'b', true],
    ['{,a}', 'a', true],
    ['*/**/*', 'b', false],
    ['**/*.json', 'a/b/c.json', true],
    // P5: dot names and dot segments are ordinary names
    ['system/*', 'system/.env', true],
    ['system/*', 'system/..', true],
    ['system/*', 'system/.', true],
    ['users/**', 'users/../system/config', true],
    ['**', '.hidden/x', true],
    // P6: glob syntax, everything else literal
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['a+b', 'a+b', true],
    ['a+b', 'aab', false],
    ['a(b)', 'a(b)', true],
    ['a(b)', 'ab', false],
    ['a.b', 'aXb', false],
    ['a|b', 'a', false],
    ['a|b', 'a|b', true],
    ['!a', '!a', true],
    ['!a', 'b', false],
    ['a$^b', 'a$^b', true],
    ['{a,b}x', 'bx', true],
    ['{a,b}x', '{a,b}x', false],
    ['[ab]x', 'bx', true],
    ['[ab]x', '[ab]x', false], // picomatch's default would match the class's own text too
    ['[a]', '[a]', false],
    ['\\[ab]x', '[ab]x', true],
    ['[a-c]x', 'cx', true],
    ['[!a]x', 'bx', true],
    ['a\\*', 'a*', true],
    ['a\\*', 'ab', false],
    ['*|*', 'x|y', true],
    ['*|*', 'x', false],
    ['x$$', 'x$$', true],
    ['x^^y', 'x^^y', true],
    ['[a]+', 'a+', true],
    ['[a]+', 'aa', false],
    ['"a*"', '"ab"', true],
    ['a\\d', 'ad', true],
    ['a\\d', 'a1', false],
    ['a}b', 'a}b', true],
    ['a]b', 'a]b', true],
    ['[a', '[a', true],
    ['a-b%c d', 'a-b%c d', true],
    ['[/]', '/', false],
    // `?` and classes take whole code points
    ['emoji-?', 'emoji-😀', true],
    ['log[!0-9]', 'log😀', true],
    ['??', '😀', false],
    // line breaks are ordinary characters, also for a globstar
    ['users/**', 'users/a\nb', true],
    ['users/**', 'users/\u2028/x', true],
    ['**', 'a\r\nb', true],
    ['a?b', 'a\nb', true],
    // P7: invalid UTF-8 decodes to U+FFFD, which is not `/`
    ['system/*', 'system/\uFFFD', true],
  ])('P1–P7: %s vs %j -> %s', (pattern, key, expected) => {
    expect(matchPattern(pattern, key)).toBe(expected);
  });

  it('P8: rejects the empty pattern', () => {
    expect(() => compilePattern('')).toThrow(RangeError);
    expect(() => compilePattern('')).toThrow(/pattern must not be empty/);
  });

  it('rejects a pattern that is not a string, an unbalanced brace, and a leading ./', () => {
    expect(() => compilePattern(42 as unknown as string)).toThrow(TypeError);
    expect(() => compilePattern('a{b')).toThrow(RangeError);
    expect(() => compilePattern('{a/**')).toThrow(/not a valid glob/);
    expect(() => compilePattern('a/**/{b,c')).toThrow(/not a valid glob/);
    expect(() => compilePattern('./a')).toThrow(/without the "\.\/"/);
    expect(() => compilePattern('{./a,b}')).toThrow(/alternative starting with "\.\/"/);
  });

  it('refuses what looks like a range and is not one, or spans more than 256 values', () => {
    expect(() => compilePattern('x/{ab..cd}')).toThrow(/\{ab\.\.cd\}, which is not a range/);
    expect(() => compilePattern('x/{a..1}')).toThrow(/not a range/);
    expect(() => compilePattern('x/{)..+}')).toThrow(/not a range/); // would spell out `*`
    expect(() => compilePattern('x/{1..1000}')).toThrow(/\{1\.\.1000\} alone has 1000/);
    expect(() => compilePattern('x/\\{ab..cd\\}')).not.toThrow();
  });

  it('refuses a brace pattern that expands to more than 256 alternatives', () => {
    expect(() => compilePattern('{a,b}'.repeat(8) + '/**')).not.toThrow(); // 256
    expect(() => compilePattern('{a,b}'.repeat(9) + '/**')).toThrow(/more than 256 alternatives/);
    expect(() => compilePattern('{a,b}'.repeat(9))).toThrow(/more than 256 alternatives/);
  });
});

// A model of the target semantics for the sub-grammar of literals, `*`, `?` and whole-segment
// `**`, matched segment by segment; the compiled picomatch expression must agree with it.
function modelMatch(pattern: string, key: string): boolean {
  const ps = pattern.split('/');
  const ks = key.split('/');
  const seg = (p: string, k: string): boolean => {
    if (p === '') return k === '';
    const c = p[0]!;
    if (c === '*') return seg(p.slice(1), k) || (k !== '' && seg(p, k.slice(1)));
    if (k === '') return false;
    if (c === '\\') return p[1] === k[0] && seg(p.slice(2), k.slice(1));
    if (c === '[') {
      // the generated classes: `[` then `!` or `^` to negate, then members, then `]`
      const close = p.indexOf(']', 2);
      const negated = p[1] === '!' || p[1] === '^';
      const members = p.slice(negated ? 2 : 1, close);
      return members.includes(k[0]!) !== negated && seg(p.slice(close + 1), k.slice(1));
    }
    if (c === '?' || c === k[0]) return seg(p.slice(1), k.slice(1));
    return false;
  };
  const go = (i: number, j: number): boolean => {
    if (i === ps.length) return j === ks.length;
    if (ps[i] === '**') {
      // zero segments, or one more; `users/**` also matches `users`
      if (go(i + 1, j)) return true;
      return j < ks.length && go(i, j + 1);
    }
    return j < ks.length && seg(ps[i]!, ks[j]!) && go(i + 1, j + 1);
  };
  return go(0, 0);
}

const segmentArb = fc.oneof(
  fc.constantFrom('*', '**', '?', 'a', 'b', '.', '..', '.a', 'a*', '*b', 'a?', '.*'),
  fc.stringMatching(/^[ab.]{1,3}$/),
  // P6: classes, escapes, and characters that are regular-expression syntax but literal here
  fc.constantFrom('[ab]', '[!a]', '[^.]', 'a[b.]', '[+$]*', '\\*', '\\?', 'a\\.', '\\a', '+', 'a+', '$', '(a)', 'a|b', '^a', '*$'),
);
const patternArb = fc.array(segmentArb, { minLength: 1, maxLength: 4 }).map((s) => s.join('/')).filter((p) => !p.startsWith('./'));
// `a/{b,**}/c`-like: braces anywhere, around whole segments or parts of one.
const bracePatternArb = fc
  .tuple(patternArb, patternArb, patternArb, fc.boolean())
  .map(([head, x, y, slash]) => `${head}${slash ? '/' : ''}{${x},${y}}`)
  .filter((p) => !p.startsWith('./') && !/(^|[{,/])\.\//.test(p));
const keyArb = fc
  .array(fc.oneof(fc.stringMatching(/^[ab.]{0,3}$/), fc.stringMatching(/^[ab.+$()|^*?[\]!]{1,4}$/)), { minLength: 1, maxLength: 5 })
  .map((s) => s.join('/'))
  .filter((k) => k.length > 0);

describe('patterns: property tests against a segment model', () => {
  it('compiled patterns agree with the model (P1–P5)', () => {
    fc.assert(
      fc.property(patternArb, keyArb, (pattern, key) => {
        // `**` not standing alone in its segment acts as `*` (picomatch), so the model's
        // `*`-run semantics cover it too.
        expect(matchPattern(pattern, key)).toBe(modelMatch(pattern, key));
      }),
      { numRuns: 20_000 },
    );
  });

  it('a brace pattern matches what any of its alternatives matches (P3, P4, P6)', () => {
    const segmentsArb = fc.array(segmentArb, { minLength: 1, maxLength: 3 }).map((s) => s.join('/'));
    fc.assert(
      fc.property(fc.array(segmentArb, { maxLength: 2 }), segmentsArb, segmentsArb, keyArb, (head, x, y, key) => {
        const prefix = head.map((s) => s + '/').join('');
        const pattern = `${prefix}{${x},${y}}`;
        if (pattern.startsWith('./')) return;
        const alternatives = [prefix + x, prefix + y];
        if (alternatives.some((p) => p.startsWith('./'))) {
          expect(() => compilePattern(pattern)).toThrow(/alternative starting with "\.\/"/);
          return;
        }
        expect(matchPattern(pattern, key)).toBe(alternatives.some((p) => modelMatch(p, key)));
      }),
      { numRuns: 10_000 },
    );
  });

  it('a numeric range matches exactly the numbers in it, zero-padded when an end is (P6)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -20, max: 40 }), fc.integer({ min: -20, max: 40 }), fc.integer({ min: -30, max: 50 }), fc.boolean(), (m, n, v, pad) => {
        const text = (x: number) => (pad && x >= 0 ? String(x).padStart(2, '0') : String(x));
        const inRange = v >= Math.min(m, n) && v <= Math.max(m, n);
        const width = pad ? Math.max(text(m).length, text(n).length) : 0;
        const spelt = v < 0 ? '-' + String(-v).padStart(width - 1, '0') : String(v).padStart(width, '0');
        const padded = pad && (/^-?0\d/.test(text(m)) || /^-?0\d/.test(text(n)));
        expect(matchPattern(`n/{${text(m)}..${text(n)}}`, `n/${padded ? spelt : String(v)}`)).toBe(inRange);
      }),
      { numRuns: 2_000 },
    );
  });

  it('the index finds exactly the hooks a linear scan finds, in registration order', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(patternArb, bracePatternArb), { minLength: 1, maxLength: 12 }), fc.array(keyArb, { minLength: 1, maxLength: 8 }), (patterns, keys) => {
        const index = new HookIndex<number>();
        patterns.forEach((p, i) => index.add(p, i, i));
        for (const key of keys) {
          const linear = patterns.map((p, i) => (matchPattern(p, key) ? i : -1)).filter((i) => i >= 0);
          expect(index.match(key).map((h) => h.value)).toEqual(linear);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a key with invalid UTF-8 under a namespace is matched by that namespace (P7)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 6 }), (tail) => {
        const bytes = Buffer.concat([Buffer.from('system/'), Buffer.from(tail.filter((b) => b !== 0x2f))]);
        if (bytes.length === 7) return;
        expect(matchPattern('system/*', bytes.toString('utf8'))).toBe(true);
      }),
    );
  });
});
