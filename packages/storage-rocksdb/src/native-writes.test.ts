import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optionsForPlainWrites, type Binding } from './native-writes.js';

/** A binding whose batch records calls and, like an older or stricter binding might, can refuse `undefined` options. */
function fakeBinding(refuseUndefined: boolean): Binding & { ops: string[] } {
  const ops: string[] = [];
  const check = (options: object | undefined): void => {
    if (options === undefined && refuseUndefined) throw new TypeError('options must be an object');
  };
  return {
    ops,
    batch_init: () => ({}),
    batch_put: (_b, key, _v, options) => (check(options), ops.push(`put ${key.toString()}`)),
    batch_del: (_b, key, options) => (check(options), ops.push(`del ${key.toString()}`)),
    batch_write: (_db, _b, options) => check(options),
    batch_clear: () => void ops.push('clear'),
  };
}

describe('optionsForPlainWrites', () => {
  it('passes no options object to a binding that takes undefined, and leaves its batch cleared', () => {
    const b = fakeBinding(false);
    expect(optionsForPlainWrites(b, b.batch_init())).toBeUndefined();
    expect(b.ops.at(-1)).toBe('clear');
  });

  it('falls back to an empty options object when the binding refuses undefined, its batch still cleared', () => {
    const b = fakeBinding(true);
    expect(optionsForPlainWrites(b, b.batch_init())).toEqual({});
    expect(b.ops).toEqual(['clear']);
  });

  it('the pinned @nxtedition/rocksdb takes undefined, and its probed batch is empty afterwards', () => {
    const require = createRequire(import.meta.url);
    const root = dirname(require.resolve('@nxtedition/rocksdb/package.json'));
    const binding = require(join(root, 'binding.js')) as Binding & { batch_count(batch: unknown): number };
    const batch = binding.batch_init();
    expect(optionsForPlainWrites(binding, batch)).toBeUndefined();
    expect(binding.batch_count(batch)).toBe(0);
  });
});
