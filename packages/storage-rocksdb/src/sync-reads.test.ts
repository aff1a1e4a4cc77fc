import { describe, expect, it } from 'vitest';
import { readSyncFirst, syncGetMany, type AsyncGetMany, type SyncGetMany } from './sync-reads.js';

const b = (s: string) => Buffer.from(s);
const answer = () => {
  const calls: { error: unknown; values: readonly (Buffer | null)[] | undefined }[] = [];
  return { calls, done: (error: unknown, values?: readonly (Buffer | null)[]) => void calls.push({ error, values }) };
};
const noAsync: AsyncGetMany = () => {
  throw new Error('the thread pool must not be asked');
};

describe('readSyncFirst', () => {
  it('answers from the synchronous read alone when every key finished: misses become null', () => {
    const { calls, done } = answer();
    readSyncFirst([b('a'), b('b')], () => [b('1'), undefined], noAsync, done);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.error).toBeNull();
    expect(calls[0]!.values!.map((v) => v?.toString() ?? null)).toEqual(['1', null]);
    expect(calls[0]!.values![1]).toBeNull();
  });

  it('reads the keys that passed the deadline again on the thread pool, each answer in its place', () => {
    const { calls, done } = answer();
    let asked: string[] = [];
    const readAsync: AsyncGetMany = (keys, cb) => {
      asked = keys.map(String);
      cb(null, [b('late-b'), undefined]);
    };
    readSyncFirst([b('a'), b('b'), b('c'), b('d')], () => [b('1'), null, undefined, null], readAsync, done);
    expect(asked).toEqual(['b', 'd']);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.values!.map((v) => v?.toString() ?? null)).toEqual(['1', 'late-b', null, null]);
  });

  it('a synchronous error or a failed re-read is the answer: nothing partial', () => {
    const thrown = answer();
    const failing: SyncGetMany = () => {
      throw new Error('corruption');
    };
    readSyncFirst([b('a')], failing, noAsync, thrown.done);
    expect(thrown.calls).toEqual([{ error: new Error('corruption'), values: undefined }]);
    const reread = answer();
    readSyncFirst([b('a'), b('b')], () => [b('1'), null], (_keys, cb) => cb(new Error('io')), reread.done);
    expect(reread.calls).toEqual([{ error: new Error('io'), values: undefined }]);
  });
});

describe('syncGetMany', () => {
  it('is undefined when the binding has no synchronous multi-get, and passes a deadline when it has', () => {
    expect(syncGetMany({})).toBeUndefined();
    let options: unknown;
    const db = {
      _getManySync(keys: Buffer[], o: unknown) {
        options = o;
        return keys.map(() => undefined);
      },
    };
    expect(syncGetMany(db)!([b('a')])).toEqual([undefined]);
    expect(options).toMatchObject({ keyEncoding: 'buffer', valueEncoding: 'buffer', timeout: 1 });
  });
});
