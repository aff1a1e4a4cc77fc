import { nativeHandle, rocksdbModule } from './native-binding.js';
import type { AsyncGetMany } from './sync-reads.js';

/** The binding's thread-pool multi-get, as ./native-reads.ts calls it. */
type GetMany = (db: object, keys: Buffer[], options: object | undefined, callback: (error: unknown, values?: (Buffer | undefined)[]) => void) => void;

/**
 * A reader straight onto the binding's thread-pool multi-get, or undefined when this version of
 * @nxtedition/rocksdb does not look as expected (the store then calls abstract-level's
 * `_getMany`).
 *
 * It passes no options object: the binding looks up each option of an object (`fillCache`,
 * `column`, `valueEncoding`, `highWaterMarkBytes`, `unsafe`) through N-API on every call, and
 * skips all of them for `undefined`, whose defaults are the store's (values as Buffers, the
 * default column, filling the block cache). The public path and `_getMany` always pass an
 * object: with the store's encodings object that lookup cost about 0.7 µs per read on the
 * project's machine, as much as the rest of the main thread's work for a lone read
 * (docs/performance.md). Like `_getMany`, it holds a reference on the database while the read is
 * out (abstract-level's close waits for it), and the caller checks that the database is open.
 */
export function nativeReader(db: object): AsyncGetMany | undefined {
  const binding = rocksdbModule('binding.js');
  const util = rocksdbModule('util.js');
  const getMany = binding?.db_get_many;
  const kRef = util?.kRef;
  const kUnref = util?.kUnref;
  if (typeof getMany !== 'function' || typeof kRef !== 'symbol' || typeof kUnref !== 'symbol') return undefined;
  const ref = (db as Record<symbol, unknown>)[kRef];
  const unref = (db as Record<symbol, unknown>)[kUnref];
  const handle = nativeHandle(db);
  if (typeof ref !== 'function' || typeof unref !== 'function' || handle === undefined) return undefined;
  const get = getMany as GetMany;
  return (keys, done) => {
    ref.call(db);
    try {
      get(handle, keys, undefined, (error, values) => {
        unref.call(db);
        done(error, values);
      });
    } catch (error) {
      unref.call(db);
      done(error);
    }
  };
}
