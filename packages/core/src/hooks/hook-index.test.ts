import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HookIndex } from './hook-index.js';
import { compilePattern, literalTail } from './pattern.js';

// The index is an optimization only: for every key it must return exactly the hooks a
// linear scan of the compiled patterns returns, in registration order (rule H1). These
// patterns lean on what the index keys on: literal prefixes, literal tails, and characters
// that are glob or regular-expression syntax near them.
const segmentArb = fc.oneof(
  fc.constantFrom('*', '**', '?', 'a', 'b', 'ab', '*.a', '*a', 'a*', 'ab*', 'a?', 'b[ab]', 'a{b,}', '[ab]', '{a,b}', 'a.b', '.a', '\\*', 'a|b', '"a"', 'a$', '^a', '(a)', 'a+', '[a]+', '[+'),
  fc.stringMatching(/^[ab.|$^+()"]{1,3}$/),
);
const patternArb = fc
  .array(segmentArb, { minLength: 1, maxLength: 4 })
  .map((s) => s.join('/'))
  .filter((p) => !p.startsWith('./') && isValid(p));
const keyArb = fc
  .array(fc.stringMatching(/^[ab.|$^+()"*\n]{0,3}$/), { minLength: 1, maxLength: 5 })
  .map((s) => s.join('/'))
  .filter((k) => k.length > 0);

function isValid(pattern: string): boolean {
  try {
    compilePattern(pattern);
    return true;
  } catch {
    return false;
  }
}

describe('HookIndex', () => {
  it('finds exactly what a linear scan finds, in registration order (H1)', () => {
    fc.assert(
      fc.property(fc.array(patternArb, { minLength: 1, maxLength: 16 }), fc.array(keyArb, { minLength: 1, maxLength: 8 }), (patterns, keys) => {
        const index = new HookIndex<number>();
        const compiled = patterns.map((p, i) => index.add(p, i, i).matcher);
        for (const key of keys) {
          const linear = compiled.map((m, i) => (m.test(key) ? i : -1)).filter((i) => i >= 0);
          expect(index.match(key).map((h) => h.value)).toEqual(linear);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('answers the same on either side of the few-hooks path (each hook tested in turn up to 4, the index past that)', () => {
    const patterns = ['users/*/email', '**/*.tmp', 'users/**', 'secrets/*', 'users/*/profile', '**', 'users/a*'];
    const keys = ['users/a/email', 'users/a/profile', 'x/y.tmp', 'users', 'secrets/k', 'users/ab', 'users//email', 'users/email'];
    const index = new HookIndex<number>();
    patterns.forEach((p, i) => {
      const matchers = patterns.slice(0, i + 1).map((q) => compilePattern(q));
      index.add(p, i, i);
      for (const key of keys) {
        const linear = matchers.map((m, j) => (m.test(key) ? j : -1)).filter((j) => j >= 0);
        expect(index.match(key).map((h) => h.value), `${key} with ${i + 1} hooks`).toEqual(linear);
      }
    });
  });

  // Issue 16: every shape, many patterns (so that the fragment automaton is built, and
  // rebuilt as patterns are added between lookups), keys that hit several of them.
  it('never misses a match and never returns a non-match, for patterns of every shape (issue 16)', () => {
    // Enough distinct texts that the fragment automaton is built (past 16 of them).
    const word = fc.oneof(fc.constantFrom('a', 'b', 'x1', 'x2', 'x12', '12', 'tmp', '.x', 'ab'), fc.nat(40).map((n) => `w${n}`));
    const shapes = [
      (w: string, v: string) => `users/*${w}*`,
      (w: string) => `*/${w}/**`,
      (w: string) => `**/${w}/*`,
      (w: string) => `*${w}*/b`,
      (w: string, v: string) => `{a,${v}}${w}/*`,
      (w: string, v: string) => `?${w}?/**/${v}`,
      (w: string, v: string) => `${w}/${v}*`,
      (w: string) => `**/*${w}`,
      (w: string) => `${w}*`,
      (w: string) => `users/${w}`,
      (w: string, v: string) => `[ab]${w}*${v}`,
      () => '*/*',
      () => '**',
      (w: string) => `users/*/${w}?`,
    ];
    const shaped = fc.tuple(fc.nat(shapes.length - 1), word, word).map(([s, w, v]) => shapes[s]!(w, v));
    const anyPattern = fc.oneof({ weight: 4, arbitrary: shaped }, { weight: 1, arbitrary: patternArb });
    const key = fc
      .array(fc.oneof(fc.constantFrom('users', 'a', 'b', 'x1', 'x12', '12', 'tmp', 'atmpb', '.x', 'ab', 'x2b', 'a12b', ''), fc.nat(40).map((n) => `aw${n}`), fc.nat(40).map((n) => `w${n}`)), {
        minLength: 1,
        maxLength: 5,
      })
      .map((s) => s.join('/'));
    let found = 0;
    fc.assert(
      fc.property(fc.array(anyPattern, { minLength: 1, maxLength: 120 }), fc.array(key, { minLength: 1, maxLength: 12 }), fc.nat(), (patterns, keys, split) => {
        const index = new HookIndex<number>();
        const compiled: ReturnType<typeof compilePattern>[] = [];
        const check = () => {
          for (const k of keys) {
            const linear = compiled.map((m, i) => (m.test(k) ? i : -1)).filter((i) => i >= 0);
            const got = index.match(k).map((h) => h.value);
            expect(got, `${JSON.stringify(k)} in ${JSON.stringify(patterns.slice(0, compiled.length))}`).toEqual(linear);
            found += got.length;
          }
        };
        // Some lookups between registrations, then all of them.
        const first = split % (patterns.length + 1);
        patterns.forEach((p, i) => {
          compiled.push(index.add(p, i, i).matcher);
          if (i === first) check();
        });
        check();
      }),
      { numRuns: 400 },
    );
    expect(found).toBeGreaterThan(1000);
  });

  it('files 10,000 patterns of shapes without a literal head or tail by a required text', () => {
    const kinds = [(i: number) => `users/*${i}*`, (i: number) => `*/x${i}/**`, (i: number) => `**/y${i}/*`, (i: number) => `*${i}*/z`, (i: number) => `{a,b}${i}/*`];
    const index = new HookIndex<number>();
    for (let i = 0; i < 2000; i++) kinds.forEach((kind, k) => index.add(kind(i), kinds.length * i + k, i));
    expect(index.match('users/q7q').map((h) => h.pattern)).toEqual(['users/*7*']);
    expect(index.match('vault/x1999/a/b').map((h) => h.pattern)).toEqual(['*/x1999/**']);
    expect(index.match('a/b/y42/doc').map((h) => h.pattern)).toEqual(['**/y42/*']);
    expect(index.match('q5q/z').map((h) => h.pattern)).toEqual(['*5*/z']);
    expect(index.match('b1234/doc').map((h) => h.pattern)).toEqual(['{a,b}1234/*']);
    // Every pattern whose text the key holds, in registration order.
    expect(index.match('users/12').map((h) => h.pattern)).toEqual(['users/*1*', 'users/*2*', 'users/*12*']);
  });

  it('keeps registration order across prefixes, heads and tails (H1)', () => {
    const index = new HookIndex<string>();
    index.add('**/*.json', 0, 'any json');
    index.add('users/**', 1, 'users');
    index.add('users/*/email', 2, 'email');
    index.add('**', 3, 'all');
    index.add('users/alice/config.json', 4, 'exact');
    index.add('users/alice/conf*', 5, 'head');
    expect(index.match('users/alice/config.json').map((h) => h.value)).toEqual(['any json', 'users', 'all', 'exact', 'head']);
    expect(index.match('users/alice/email').map((h) => h.value)).toEqual(['users', 'email', 'all']);
    expect(index.match('config.json').map((h) => h.value)).toEqual(['any json', 'all']);
  });

  it('scales with matching candidates, not registered patterns', () => {
    const index = new HookIndex<number>();
    const kinds = [(i: number) => `tenant/${i}/*`, (i: number) => `**/*.ext${i}`, (i: number) => `*/secret${i}`, (i: number) => `users/*/field${i}`, (i: number) => `sessions/s${i}-?`];
    for (let i = 0; i < 2000; i++) kinds.forEach((kind, k) => index.add(kind(i), kinds.length * i + k, i));
    // Counting regular-expression tests through the public surface is not possible, so the
    // index's answer is checked here and its cost in packages/bench.
    expect(index.match('tenant/7/doc').map((h) => h.pattern)).toEqual(['tenant/7/*']);
    expect(index.match('a/b/c.ext12').map((h) => h.pattern)).toEqual(['**/*.ext12']);
    expect(index.match('x/secret5').map((h) => h.pattern)).toEqual(['*/secret5']);
    expect(index.match('users/bob/field1999').map((h) => h.pattern)).toEqual(['users/*/field1999']);
    expect(index.match('sessions/s42-x').map((h) => h.pattern)).toEqual(['sessions/s42-?']);
    expect(index.match('nothing/here')).toEqual([]);
  });
});

describe('literalTail', () => {
  it.each([
    ['**/*.json', '.json'],
    ['users/*/email', 'email'],
    ['users/**', ''],
    ['tenant/7/*', ''],
    ['config', 'config'],
    ['a/\\*b', 'b'],
    ['*.{json,yaml}', ''],
    ['a|b/*.json', '.json'],
    ['"a"/b', 'b'],
    ['$$/**', ''],
    ['**/[ab]+', '+'],
  ])('%s ends with %s', (pattern, tail) => {
    expect(literalTail(pattern)).toBe(tail);
  });
});
