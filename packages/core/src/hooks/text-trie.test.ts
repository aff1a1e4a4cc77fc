import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TextTrie } from './text-trie.js';

const text = fc.stringMatching(/^[abc]{1,6}$/);

describe('TextTrie', () => {
  it('visits exactly the filed texts a key begins with at a position, shortest first', () => {
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 12 }), fc.stringMatching(/^[abc/]{0,8}$/), fc.nat(8), (texts, key, start) => {
        const trie = new TextTrie<number>('forwards');
        texts.forEach((t, i) => trie.add(t, i));
        const seen: number[] = [];
        trie.visit(key, start, (values) => seen.push(...values));
        const expected = texts
          .map((t, i) => [t, i] as const)
          .filter(([t]) => key.startsWith(t, start) && start + t.length <= key.length)
          .sort((a, b) => a[0].length - b[0].length || a[1] - b[1])
          .map(([, i]) => i);
        expect(seen).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('visits exactly the filed texts a key ends with, shortest first', () => {
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 12 }), fc.stringMatching(/^[abc/]{0,8}$/), (texts, key) => {
        const trie = new TextTrie<number>('backwards');
        texts.forEach((t, i) => trie.add(t, i));
        const seen: number[] = [];
        trie.visit(key, 0, (values) => seen.push(...values));
        const expected = texts
          .map((t, i) => [t, i] as const)
          .filter(([t]) => key.endsWith(t))
          .sort((a, b) => a[0].length - b[0].length || a[1] - b[1])
          .map(([, i]) => i);
        expect(seen).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });
});
