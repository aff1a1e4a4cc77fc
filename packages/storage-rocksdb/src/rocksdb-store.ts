import { mkdir } from 'node:fs/promises';
import { RocksLevel } from '@nxtedition/rocksdb';
import { assertBatchOperations, type BatchOperation, type KeyRange, type KeyValueIterator, type KeyValueStore, type StoreSupports } from '@sochdb-policy/core';
import { RocksDBIterator } from './rocksdb-iterator.js';
import { nativeReader } from './native-reads.js';
import { nativeWriter, type NativeWrite, type WriteOp } from './native-writes.js';
import { readSyncFirst, syncGetMany, type AsyncGetMany, type SyncGetMany } from './sync-reads.js';
import { TickBatch } from './tick-batch.js';

export interface RocksDBStoreOptions {
  /** Create the database when the folder has none. @default true */
  createIfMissing?: boolean;
  /** Fail when a database already exists in the folder. @default false */
  errorIfExists?: boolean;
  /**
   * fsync the write-ahead log before each put/delete resolves. Off, a crash of the machine
   * (not of the process) can lose the last writes. @default false
   */
  sync?: boolean;
  /** Further options passed to RocksDB's open as they are (see @nxtedition/rocksdb). @default {} */
  rocksdb?: Record<string, unknown>;
  /**
   * Read on the JavaScript thread, as writes already are: a tick's reads, when there are at most
   * 16 of them, go to RocksDB's synchronous MultiGet instead of a trip through libuv's thread
   * pool, which costs tens of microseconds per trip (docs/storage-rocksdb.md). A read that
   * needs the disk blocks the event loop for its I/O, up to a 1 ms deadline, after which its
   * keys are read again on the thread pool. For working sets in memory (memtables and block
   * cache); busier ticks are read on the thread pool either way. @default false
   */
  syncReads?: boolean;
}

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;
const SYNC = { ...BUFFERS, sync: true } as const;

/**
 * Reads of one tick are split into up to this many getMany calls: one per thread of libuv's
 * pool (4 unless UV_THREADPOOL_SIZE says otherwise), whatever the number of cores: a read
 * mostly waits on memory and disk, and fewer parts than threads measured slower (docs/performance.md)…
 */
const READ_PARALLELISM = Math.max(1, Math.min(16, Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4));
/** …of at least this many keys each. Also the most keys a tick reads synchronously (`syncReads`). */
const READS_PER_PART = 16;


/**
 * A {@link KeyValueStore} on an embedded RocksDB in a local folder. Errors from RocksDB
 * escape as themselves (rule E2).
 */
export class RocksDBStore implements KeyValueStore {
  readonly supports: StoreSupports = Object.freeze({ iterator: true, batch: true });
  readonly location: string;
  readonly #iterators = new Set<RocksDBIterator>();
  readonly #db: RocksLevel;
  readonly #sync: boolean;
  // Writes issued in the same tick go to RocksDB as one write batch, in the order they were
  // issued: one write-ahead-log append (and with `sync`, one fsync) for all of them. The
  // batch is atomic, so its writes succeed or fail together.
  // A `batch` call is one item (its operations in order), so that a thousand-operation batch
  // costs one promise, not a thousand.
  readonly #writes = new TickBatch<WriteOp | readonly BatchOperation[], void>((items, done) => {
    this.#assertOpen();
    const native = this.#native;
    if (native === undefined) return this.#db._batch(flatten(items), this.#sync ? SYNC : BUFFERS, done);
    try {
      native(flatten(items), this.#sync);
    } catch (error) {
      return done(error);
    }
    done(null);
  }, { leading: true });
  /** Writes straight onto the binding's native batch (./native-writes.ts); undefined: through `_batch`. */
  readonly #native: NativeWrite | undefined;
  /** The store's reads, batched per tick ({@link #readBatch}). */
  readonly #reads: TickBatch<Buffer, Buffer | null>;
  /** Reads straight through the binding's multi-get (./native-reads.ts), or through `_getMany`. */
  readonly #getMany: AsyncGetMany;
  readonly #nativeReads: boolean;
  /** The binding's synchronous multi-get when `syncReads` is on (./sync-reads.ts). */
  readonly #syncRead: SyncGetMany | undefined;

  // `db` is typed `unknown` here so that the shipped declarations never name the binding's
  // types: @nxtedition/rocksdb ships none, and a consumer with skipLibCheck off would fail.
  protected constructor(location: string, db: unknown, sync: boolean, syncReads = false) {
    this.location = location;
    this.#db = db as RocksLevel;
    this.#sync = sync;
    this.#native = nativeWriter(this.#db);
    const reader = nativeReader(this.#db);
    this.#nativeReads = reader !== undefined;
    this.#getMany = reader ?? ((keys, done) => this.#db._getMany(keys, BUFFERS, done));
    this.#syncRead = syncReads ? syncGetMany(this.#db) : undefined;
    this.#reads = this.#readBatch();
  }

  // Gets issued in the same tick share one getMany: one trip through libuv's thread pool
  // instead of one each; with many reads in flight that trip, not the read, is the cost.
  // A lone read (none out, none waiting, the last read alone too) goes to the pool at once
  // instead of at the end of the tick: a sequential reader does not pay for the tick
  // (docs/performance.md), and nothing is there to join. Not with `syncReads`, whose reads
  // wait for the tick so that it can count them (at most 16 on the JavaScript thread, more on
  // the pool). Writes still waiting for their tick are written first, whenever reads run: a
  // read answers every write issued before it.
  // getMany also answers a miss with undefined, where get would build and throw an error;
  // it is answered as null here, so that `get` hands on the batch's promise itself (no async
  // wrapper, no extra promise and turn per read).
  #readBatch(): TickBatch<Buffer, Buffer | null> {
    return new TickBatch<Buffer, Buffer | null>((keys, done) => {
      this.#assertOpen();
      this.#writes.runPending();
      if (this.#syncRead !== undefined && keys.length <= READS_PER_PART) {
        return readSyncFirst(keys, this.#syncRead, this.#getMany, done);
      }
      const parts = Math.min(READ_PARALLELISM, Math.floor(keys.length / READS_PER_PART));
      if (parts <= 1) {
        return this.#getMany(keys, (error, got) => {
          if (error !== null && error !== undefined) return done(error);
          const values = got as (Buffer | null | undefined)[];
          for (let i = 0; i < values.length; i++) if (values[i] === undefined) values[i] = null;
          done(null, values as (Buffer | null)[]);
        });
      }
      // Many reads at once: split over several of the thread pool's threads, as that many
      // separate gets would be, but still one trip each instead of one per key.
      const values: (Buffer | null)[] = new Array(keys.length);
      const size = Math.ceil(keys.length / parts);
      let left = Math.ceil(keys.length / size);
      let failed = false;
      for (let from = 0; from < keys.length; from += size) {
        this.#getMany(keys.slice(from, from + size), (error, got) => {
          if (failed) return;
          if (error !== null && error !== undefined) {
            failed = true;
            return done(error);
          }
          for (let i = 0; i < got!.length; i++) values[from + i] = got![i] ?? null;
          if (--left === 0) done(null, values);
        });
      }
    }, { leading: this.#syncRead === undefined ? 'idle' : false });
  }

  /**
   * Whether writes go straight to the binding's native write batch (true with the version of
   * @nxtedition/rocksdb this package pins) or through abstract-level's `_batch` (a version that
   * does not look as expected). Same atomicity and durability either way; see docs/performance.md.
   */
  get nativeWrites(): boolean {
    return this.#native !== undefined;
  }

  /**
   * Whether reads go straight to the binding's multi-get without an options object (true with
   * the version of @nxtedition/rocksdb this package pins) or through abstract-level's `_getMany`.
   * Same values either way; see docs/performance.md.
   */
  get nativeReads(): boolean {
    return this.#nativeReads;
  }

  /** Whether lone and small ticks of reads are read on the JavaScript thread (`syncReads`). */
  get syncReads(): boolean {
    return this.#syncRead !== undefined;
  }

  /** Opens (creating by default) the database in folder `location`. */
  static async open<T extends RocksDBStore>(
    // `{ prototype: T }` rather than a constructor type, so subclasses such as the facade's
    // `Database` get `Promise<Database>` while the constructor stays protected.
    this: { prototype: T },
    location: string,
    options: RocksDBStoreOptions = {},
  ): Promise<T> {
    if (typeof location !== 'string' || location.length === 0) {
      throw new TypeError(`location must be a non-empty folder path, got ${typeof location === 'string' ? '""' : typeof location}`);
    }
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    const { createIfMissing = true, errorIfExists = false, sync = false, rocksdb = {}, syncReads = false } = options;
    if (typeof syncReads !== 'boolean') throw new TypeError(`options.syncReads must be a boolean, got ${syncReads === null ? 'null' : typeof syncReads}`);
    // Before anything is created on disk.
    if (syncReads && syncGetMany(RocksLevel.prototype) === undefined) {
      throw new TypeError('options.syncReads needs the synchronous multi-get (_getManySync) of @nxtedition/rocksdb, which this version of it does not have');
    }
    if (createIfMissing) await mkdir(location, { recursive: true });
    const db = new RocksLevel(location, {});
    try {
      await db.open({ ...rocksdb, createIfMissing, errorIfExists });
    } catch (error) {
      // abstract-level reports a locked folder as "Database is not open", the reason in `cause`.
      const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
      if (cause?.code === 'LEVEL_LOCKED') {
        throw Object.assign(
          new Error(`RocksDB folder ${location} is in use: another process, or another open store in this process, holds its lock; close that one first or open another folder`, { cause: error }),
          { code: 'LEVEL_LOCKED' },
        );
      }
      throw error;
    }
    return Reflect.construct(this as unknown as typeof RocksDBStore, [location, db, sync, syncReads]) as T;
  }

  get(key: Buffer): Promise<Buffer | null> {
    return this.#reads.add(key);
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    return this.#writes.add({ type: 'put', key, value });
  }

  delete(key: Buffer): Promise<void> {
    return this.#writes.add({ type: 'del', key });
  }

  /** Keys in `range` in byte order, from RocksDB's native iterator (a snapshot at creation). */
  iterator(range: KeyRange): KeyValueIterator {
    this.#assertOpen();
    const options: Record<string, unknown> = { ...BUFFERS, reverse: range.reverse, values: range.values, keys: true };
    // Only the bounds that are set: abstract-level reads a bound given as undefined as a bound.
    for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) if (range[bound] !== undefined) options[bound] = range[bound];
    const native = this.#db.iterator(options);
    let iterator: RocksDBIterator;
    try {
      iterator = new RocksDBIterator(native, range, () => this.#iterators.delete(iterator));
    } catch (error) {
      // A range that was not normalized (no limit): nothing of the native cursor stays open.
      void native.close().catch(() => {});
      throw error;
    }
    this.#iterators.add(iterator);
    return iterator;
  }

  /**
   * Every operation or none. The operations join the writes issued in this tick, in order, so
   * a batch never overtakes a `put` issued before it; they go to RocksDB as one write batch.
   */
  async batch(operations: readonly BatchOperation[]): Promise<void> {
    assertBatchOperations(operations);
    this.#assertOpen();
    // A copy of the list: the operations go to RocksDB on the next tick, as they are now.
    if (operations.length > 0) await this.#writes.add(operations.slice());
  }

  /**
   * The reads and writes above call abstract-level's implementation methods (`_getMany`,
   * `_batch`) directly: the public ones add argument checks, encodings and a promise per call,
   * all of which this store does itself (keys and values are Buffers, an operation's promise
   * is its own). What those methods rely on the public ones for is that the database is open.
   */
  #assertOpen(): void {
    if (this.#db.status !== 'open') throw Object.assign(new Error(`RocksDB store ${this.location} is not open`), { code: 'LEVEL_DATABASE_NOT_OPEN' });
  }

  async close(): Promise<void> {
    // Operations issued in the tick that closes still reach the database first.
    await Promise.all([this.#writes.flush(), this.#reads.flush()]);
    for (const iterator of [...this.#iterators]) await iterator.close();
    if (this.#db.status === 'open' || this.#db.status === 'opening') await this.#db.close();
  }
}

/** The write operations of one tick in order, a batch's operations in place of the batch. */
function flatten(items: (WriteOp | readonly BatchOperation[])[]): WriteOp[] {
  let batches = false;
  for (let i = 0; i < items.length && !batches; i++) batches = Array.isArray(items[i]);
  if (!batches) return items as WriteOp[];
  // A batch alone in its tick (the usual case: writes lead their tick) is its own list.
  if (items.length === 1) return items[0] as WriteOp[];
  const ops: WriteOp[] = [];
  for (const item of items) {
    if (Array.isArray(item)) for (const op of item as readonly BatchOperation[]) ops.push(op);
    else ops.push(item as WriteOp);
  }
  return ops;
}
