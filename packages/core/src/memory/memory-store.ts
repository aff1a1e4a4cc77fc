import type { BatchOperation, KeyRange, KeyValueEntry, KeyValueIterator, KeyValueStore, StoreSupports } from '../contracts.js';
import { assertBatchOperations } from '../storage/batch.js';
import { BaseKeyValueIterator } from '../storage/iterator.js';
import { inRange } from '../storage/range.js';

/**
 * An in-memory {@link KeyValueStore}; values are copied in and out. Keys are held as latin1
 * strings, one character per byte, so string order is byte order (as in RocksDB).
 */
export class MemoryStore implements KeyValueStore {
  readonly supports: StoreSupports = Object.freeze({ iterator: true, batch: true });
  readonly #data = new Map<string, Buffer>();
  readonly #iterators = new Set<MemoryIterator>();
  #closed = false;

  async get(key: Buffer): Promise<Buffer | null> {
    this.#assertOpen();
    const value = this.#data.get(key.toString('latin1'));
    return value === undefined ? null : Buffer.from(value);
  }

  async put(key: Buffer, value: Buffer): Promise<void> {
    this.#assertOpen();
    this.#data.set(key.toString('latin1'), Buffer.from(value));
  }

  async delete(key: Buffer): Promise<void> {
    this.#assertOpen();
    this.#data.delete(key.toString('latin1'));
  }

  /**
   * The keys in `range`, in byte order, as they were when the iterator was made (a snapshot,
   * like RocksDB's implicit one). Sorting at creation makes it O(n log n) per iterator: this
   * store is for tests and small data.
   */
  iterator(range: KeyRange): KeyValueIterator {
    this.#assertOpen();
    const entries: [string, Buffer][] = [];
    for (const [k, v] of this.#data) if (inRange(Buffer.from(k, 'latin1'), range)) entries.push([k, v]);
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    if (range.reverse) entries.reverse();
    const iterator = new MemoryIterator(entries, range, () => this.#iterators.delete(iterator));
    this.#iterators.add(iterator);
    return iterator;
  }

  /** Applies every operation or none: all are checked before any is applied. */
  async batch(operations: readonly BatchOperation[]): Promise<void> {
    this.#assertOpen();
    assertBatchOperations(operations);
    for (const op of operations) {
      if (op.type === 'put') this.#data.set(op.key.toString('latin1'), Buffer.from(op.value));
      else this.#data.delete(op.key.toString('latin1'));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const iterator of [...this.#iterators]) await iterator.close();
  }

  /** Number of keys held. */
  get size(): number {
    return this.#data.size;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('MemoryStore is closed');
  }
}

class MemoryIterator extends BaseKeyValueIterator {
  #entries: [string, Buffer][];
  #at = 0;
  readonly #values: boolean;
  readonly #onClose: () => void;

  constructor(entries: [string, Buffer][], range: KeyRange, onClose: () => void) {
    super(range.limit);
    this.#entries = entries;
    this.#values = range.values;
    this.#onClose = onClose;
  }

  protected async _next(): Promise<KeyValueEntry | undefined> {
    const entry = this.#entries[this.#at];
    if (entry === undefined) return undefined;
    this.#at++;
    return { key: Buffer.from(entry[0], 'latin1'), value: this.#values ? Buffer.from(entry[1]) : undefined };
  }

  protected async _close(): Promise<void> {
    this.#entries = [];
    this.#onClose();
  }
}
