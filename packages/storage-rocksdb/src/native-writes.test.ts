import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optionsForPlainWrites, type Binding } from './native-writes.js';

/** A binding whose batch records calls and, like an older or stricter binding might, can refuse `undefined` options. */
function fakeBinding(refuseUndefined: boolean | 'write'): Binding & { ops: string[] } {
  const ops: string[] = [];
  const check = (options: object | undefined): void => {
    if (options === undefined && refuseUndefined === true) throw new TypeError('options must be an object');
  };
  return {
    ops,
    batch_init: () => ({}),
    batch_put: (_b, key, _v, options) => (check(options), ops.push(`put ${key.toString()}`)),
    batch_del: (_b, key, options) => (check(options), ops.push(`del ${key.toString()}`)),
    batch_write: (_db, _b, options) => {
      if (options === undefined && refuseUndefined !== false) throw new TypeError('options must be an object');
      ops.push('write');
    },
    batch_clear: () => void ops.push('clear'),
  };
}

describe('optionsForPlainWrites', () => {
  it('passes no options object to a binding that takes undefined, and leaves its batch cleared', () => {
    const b = fakeBinding(false);
    expect(optionsForPlainWrites(b, b.batch_init(), {})).toBeUndefined();
    expect(b.ops).toEqual(['put probe', 'del probe', 'clear', 'write']);
  });

  it('falls back to an empty options object when the binding refuses undefined, its batch still cleared', () => {
    const b = fakeBinding(true);
    expect(optionsForPlainWrites(b, b.batch_init(), {})).toEqual({});
    expect(b.ops).toEqual(['clear']);
  });

  it('falls back as well when only the write refuses undefined, having written nothing', () => {
    const b = fakeBinding('write');
    expect(optionsForPlainWrites(b, b.batch_init(), {})).toEqual({});
    expect(b.ops).toEqual(['put probe', 'del probe', 'clear']);
  });

  it('the pinned @nxtedition/rocksdb takes undefined; the probe leaves its batch empty and the database as it was', async () => {
    const require = createRequire(import.meta.url);
    const root = dirname(require.resolve('@nxtedition/rocksdb/package.json'));
    const binding = require(join(root, 'binding.js')) as Binding & { batch_count(batch: unknown): number };
    const { RocksLevel } = require('@nxtedition/rocksdb') as typeof import('@nxtedition/rocksdb');
    const dir = mkdtempSync(join(tmpdir(), 'sochdb-policy-probe-'));
    const db = new RocksLevel(dir, {});
    try {
      await db.open({ createIfMissing: true });
      const context = (db as unknown as Record<symbol, unknown>)[Object.getOwnPropertySymbols(db).find((s) => s.description === 'context')!];
      const batch = binding.batch_init();
      expect(optionsForPlainWrites(binding, batch, context)).toBeUndefined();
      expect(binding.batch_count(batch)).toBe(0);
      expect(await db.getMany([Buffer.from('probe')], { keyEncoding: 'buffer', valueEncoding: 'buffer' })).toEqual([undefined]);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
