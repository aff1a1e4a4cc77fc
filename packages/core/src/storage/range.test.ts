import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inRange, normalizeRange, prefixEnd } from './range.js';
import { MemoryStore } from '../memory/memory-store.js';
import type { KeyRange } from '../contracts.js';

describe('normalizeRange', () => {
  it('turns a prefix into bounds that hold exactly the keys beginning with it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.uint8Array({ maxLength: 6 }), (prefix, key) => {
        const range = normalizeRange({ prefix: Buffer.from(prefix) });
        const k = Buffer.from(key);
        expect(inRange(k, range)).toBe(k.subarray(0, prefix.length).equals(Buffer.from(prefix)));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps the narrower bound when a prefix and a bound meet', () => {
    expect(normalizeRange({ prefix: 'a', gt: 'a/' })).toMatchObject({ gt: Buffer.from('a/'), lt: Buffer.from('b') });
    expect(normalizeRange({ prefix: 'a/', gte: 'a' })).toMatchObject({ gte: Buffer.from('a/'), lt: Buffer.from('a0') });
    expect(normalizeRange({ prefix: 'a', lte: 'a5' })).toMatchObject({ gte: Buffer.from('a'), lte: Buffer.from('a5') });
    expect(prefixEnd(Buffer.from([0x61, 0xff, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff]))).toBeUndefined();
  });

  it('copies the bounds: changing the caller’s buffer later changes nothing', () => {
    const gt = Buffer.from('a');
    const range = normalizeRange({ gt });
    gt.write('z');
    expect(range.gt).toEqual(Buffer.from('a'));
  });

  it('names the bad option, what it got and what it accepts', () => {
    expect(() => normalizeRange({ gt: 'a', gte: 'b' })).toThrow(/gt or gte, not both/);
    expect(() => normalizeRange({ lt: 'a', lte: 'b' })).toThrow(/lt or lte, not both/);
    expect(() => normalizeRange({ limit: -1 })).toThrow(/range\.limit must be a non-negative integer or Infinity, got number -1/);
    expect(() => normalizeRange({ reverse: 'yes' })).toThrow(/range\.reverse must be a boolean/);
    expect(() => normalizeRange({ from: 'a' })).toThrow(/range\.from is not a range option/);
    expect(() => normalizeRange({ gt: 5 })).toThrow(/range\.gt must be a Buffer, Uint8Array or string, got number 5/);
    expect(() => normalizeRange(null)).toThrow(/range must be an object/);
  });
});

describe('a store iterator given a range that was not normalized', () => {
  it('throws naming range.limit instead of yielding nothing', () => {
    const store = new MemoryStore();
    const raw = { gte: Buffer.from('a'), lt: Buffer.from('b') } as unknown as KeyRange;
    expect(() => store.iterator(raw)).toThrow('range.limit must be a non-negative number or Infinity');
    expect(() => store.iterator(normalizeRange({ gte: Buffer.from('a'), lt: Buffer.from('b') }))).not.toThrow();
  });
});
