import { mkdir } from 'node:fs/promises';
import { RocksLevel } from '@nxtedition/rocksdb';
import type { KeyValueStore } from '@sochdb-policy/core';

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
}

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;
const SYNC = { ...BUFFERS, sync: true } as const;

type WriteOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

/**
 * A {@link KeyValueStore} on an embedded RocksDB in a local folder. Errors from RocksDB
 * escape as themselves (rule E2).
 */
export class RocksDBStore implements KeyValueStore {
  readonly location: string;
  readonly #db: RocksLevel;
  readonly #sync: boolean;
  #batch: { keys: Buffer[]; resolve: ((value: Buffer | null) => void)[]; reject: ((error: unknown) => void)[] } | undefined;
  #writes: { ops: WriteOp[]; resolve: (() => void)[]; reject: ((error: unknown) => void)[] } | undefined;

  protected constructor(location: string, db: RocksLevel, sync: boolean) {
    this.location = location;
    this.#db = db;
    this.#sync = sync;
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
    const { createIfMissing = true, errorIfExists = false, sync = false, rocksdb = {} } = options;
    if (createIfMissing) await mkdir(location, { recursive: true });
    const db = new RocksLevel(location, {});
    await db.open({ ...rocksdb, createIfMissing, errorIfExists });
    return Reflect.construct(this as unknown as typeof RocksDBStore, [location, db, sync]) as T;
  }

  get(key: Buffer): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      if (this.#batch === undefined) {
        this.#batch = { keys: [], resolve: [], reject: [] };
        // nextTick runs once the pending promise jobs have drained: gets that reach the store a
        // few microtasks apart (each behind its own hooks) still share the batch.
        process.nextTick(() => this.#flush());
      }
      this.#batch.keys.push(key);
      this.#batch.resolve.push(resolve);
      this.#batch.reject.push(reject);
    });
  }

  // Gets issued in the same tick share one getMany: one trip through libuv's thread pool
  // instead of one each; with many reads in flight that trip, not the read, is the cost.
  // getMany also answers a miss with undefined, where get would build and throw an error.
  #flush(): Promise<void> | undefined {
    const batch = this.#batch;
    if (batch === undefined) return undefined;
    this.#batch = undefined;
    let pending: Promise<(Buffer | undefined)[]>;
    try {
      pending = this.#db.getMany(batch.keys, BUFFERS);
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      (values) => values.forEach((value, i) => batch.resolve[i]!(value ?? null)),
      (error: unknown) => batch.reject.forEach((reject) => reject(error)),
    );
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    return this.#write({ type: 'put', key, value });
  }

  delete(key: Buffer): Promise<void> {
    return this.#write({ type: 'del', key });
  }

  // Writes issued in the same tick go to RocksDB as one write batch, in the order they were
  // issued: one write-ahead-log append (and with `sync`, one fsync) for all of them. The
  // batch is atomic, so its writes succeed or fail together.
  #write(op: WriteOp): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#writes === undefined) {
        this.#writes = { ops: [], resolve: [], reject: [] };
        process.nextTick(() => this.#flushWrites());
      }
      this.#writes.ops.push(op);
      this.#writes.resolve.push(resolve);
      this.#writes.reject.push(reject);
    });
  }

  #flushWrites(): Promise<void> | undefined {
    const writes = this.#writes;
    if (writes === undefined) return undefined;
    this.#writes = undefined;
    let pending: Promise<void>;
    try {
      pending = this.#db.batch(writes.ops, this.#sync ? SYNC : BUFFERS);
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      () => writes.resolve.forEach((resolve) => resolve()),
      (error: unknown) => writes.reject.forEach((reject) => reject(error)),
    );
  }

  async close(): Promise<void> {
    // Operations issued in the tick that closes still reach the database first.
    await Promise.all([this.#flushWrites(), this.#flush()]);
    if (this.#db.status === 'open' || this.#db.status === 'opening') await this.#db.close();
  }
}
