import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nativeReader } from './native-reads.js';
import { RocksDBStore } from './rocksdb-store.js';

const dirs: string[] = [];
const folder = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'sochdb-policy-reads-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('native reads', () => {
  it('the pinned @nxtedition/rocksdb is read without an options object: values are Buffers, byte for byte', async () => {
    const store = await RocksDBStore.open(folder());
    expect(store.nativeReads).toBe(true);
    // Bytes that are not UTF-8: a reader that fell back to another value encoding would change them.
    const binary = Buffer.from([0xff, 0x00, 0xc3, 0x28, 0x80, 0xfe]);
    await store.put(Buffer.from([0xfe, 0x01]), binary);
    const lone = await store.get(Buffer.from([0xfe, 0x01]));
    expect(Buffer.isBuffer(lone)).toBe(true);
    expect(lone).toEqual(binary);
    // A tick of reads (one getMany), a miss among them.
    const [hit, miss] = await Promise.all([store.get(Buffer.from([0xfe, 0x01])), store.get(Buffer.from('none'))]);
    expect([hit, miss]).toEqual([binary, null]);
    await store.close();
  });

  it('close waits for a read that is out, which still answers', async () => {
    const store = await RocksDBStore.open(folder());
    await store.put(Buffer.from('k'), Buffer.from('v'));
    const read = store.get(Buffer.from('k'));
    const closed = store.close();
    expect((await read)!.toString()).toBe('v');
    await closed;
    await expect(store.get(Buffer.from('k'))).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' });
  });

  it('a database that does not look like the binding expects gets no native reader (the store then uses _getMany)', () => {
    expect(nativeReader({})).toBeUndefined();
    expect(nativeReader(Object.assign(Object.create(null) as object, { [Symbol('context')]: {} }))).toBeUndefined();
  });
});
