import type { BatchDone } from './tick-batch.js';

/**
 * A synchronous multi-get: one value per key, `undefined` for a key that is not there, `null`
 * for a key whose read did not finish before the deadline (RocksDB's `ReadOptions.deadline`).
 */
export type SyncGetMany = (keys: Buffer[]) => (Buffer | null | undefined)[];
/** The thread-pool multi-get: `undefined` for a key that is not there. */
export type AsyncGetMany = (keys: Buffer[], done: (error: unknown, values?: (Buffer | undefined)[]) => void) => void;

/** Milliseconds a synchronous read may take before its keys are read again on the thread pool. */
export const SYNC_READ_DEADLINE_MS = 1;

/**
 * Reads `keys` on the JavaScript thread, with no trip through libuv's thread pool; the keys
 * whose read passed the deadline (data that had to come from disk) are read again through
 * `readAsync`. Answers `done` once with one value per key (`null` for a miss) or an error.
 */
export function readSyncFirst(keys: Buffer[], readSync: SyncGetMany, readAsync: AsyncGetMany, done: BatchDone<Buffer | null>): void {
  let got: (Buffer | null | undefined)[];
  try {
    got = readSync(keys);
  } catch (error) {
    return done(error);
  }
  let late: number[] | undefined;
  const values = got as (Buffer | null)[];
  for (let i = 0; i < got.length; i++) {
    const value = got[i];
    if (value === undefined) values[i] = null;
    else if (value === null) (late ??= []).push(i);
  }
  if (late === undefined) return done(null, values);
  const again = late;
  readAsync(
    again.map((i) => keys[i]!),
    (error, reread) => {
      if (error !== null && error !== undefined) return done(error);
      for (let j = 0; j < again.length; j++) values[again[j]!] = reread![j] ?? null;
      done(null, values);
    },
  );
}

/**
 * The binding's synchronous multi-get with a deadline, or undefined when this version of
 * @nxtedition/rocksdb has none. It is an implementation method of the binding (not part of
 * abstract-level's interface), so it is looked for, not assumed.
 */
export function syncGetMany(db: object): SyncGetMany | undefined {
  const method = (db as { _getManySync?: unknown })._getManySync;
  if (typeof method !== 'function') return undefined;
  const options = Object.freeze({ keyEncoding: 'buffer', valueEncoding: 'buffer', timeout: SYNC_READ_DEADLINE_MS });
  return (keys) => (method as (keys: Buffer[], options: object) => (Buffer | null | undefined)[]).call(db, keys, options);
}
