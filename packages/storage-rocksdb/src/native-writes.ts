import { nativeHandle, rocksdbModule } from './native-binding.js';

/** One write of a tick batch. */
export type WriteOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

/** The functions of @nxtedition/rocksdb's native binding that a write needs. */
export interface Binding {
  batch_init(): unknown;
  batch_put(batch: unknown, key: Buffer, value: Buffer, options: object | undefined): void;
  batch_del(batch: unknown, key: Buffer, options: object | undefined): void;
  batch_write(db: unknown, batch: unknown, options: object | undefined): void;
  batch_clear(batch: unknown): void;
}

/** Writes a list of operations as one atomic RocksDB write batch, synchronously; throws RocksDB's error. */
export type NativeWrite = (ops: readonly WriteOp[], sync: boolean) => void;

const EMPTY = Object.freeze({});
const SYNC = Object.freeze({ sync: true });

/**
 * A writer straight onto the binding's native write batch, or undefined when this version of
 * @nxtedition/rocksdb does not look as expected (the store then uses abstract-level's `_batch`).
 *
 * The binding writes synchronously on the JavaScript thread either way (its `put` and `batch`
 * call the same `batch_write`); going to it directly skips what the public path adds around it:
 * a chained-batch object per write registered with and removed from the database, a native
 * batch allocated and freed per write, and a `process.nextTick` before the callback. One native
 * batch is kept and cleared after every write. The caller must check that the database is open
 * (a closed database's native handle is gone).
 */
export function nativeWriter(db: object): NativeWrite | undefined {
  try {
    const binding = rocksdbModule('binding.js') as Partial<Binding> | undefined;
    if (binding === undefined) return undefined;
    for (const name of ['batch_init', 'batch_put', 'batch_del', 'batch_write', 'batch_clear'] as const) {
      if (typeof binding[name] !== 'function') return undefined;
    }
    const context = nativeHandle(db);
    if (context === undefined) return undefined;
    const b = binding as Binding;
    const batch = b.batch_init();
    const none = optionsForPlainWrites(b, batch, context);
    return (ops, sync) => {
      try {
        for (let i = 0; i < ops.length; i++) {
          const op = ops[i]!;
          if (op.type === 'put') b.batch_put(batch, op.key, op.value, none);
          else b.batch_del(batch, op.key, none);
        }
        b.batch_write(context, batch, sync ? SYNC : none);
      } finally {
        b.batch_clear(batch);
      }
    };
  } catch {
    return undefined;
  }
}

/**
 * The options argument for a put, delete or write with no options: `undefined` when the binding
 * takes it for all three (checked once: a put and a delete on the store's own batch, which is
 * then cleared, and the write of that empty batch), else an empty object. The binding reads an
 * options object's properties (`column`; `sync`, `lowPriority`) through N-API lookups that cost
 * more than RocksDB's `WriteBatch::Put` itself (154 against 89 ns per put on the project's
 * machine) and skips them for `undefined`.
 */
export function optionsForPlainWrites(b: Binding, batch: unknown, db: unknown): object | undefined {
  try {
    try {
      b.batch_put(batch, PROBE, PROBE, undefined);
      b.batch_del(batch, PROBE, undefined);
    } finally {
      b.batch_clear(batch);
    }
    b.batch_write(db, batch, undefined);
    return undefined;
  } catch {
    return EMPTY;
  }
}

const PROBE = Buffer.from('probe');
