import type { RocksIterator } from '@nxtedition/rocksdb';
import { BaseKeyValueIterator, type KeyRange, type KeyValueEntry } from '@sochdb-policy/core';

/**
 * A {@link BaseKeyValueIterator} over RocksDB's native iterator, which reads from an implicit
 * snapshot taken when it is made. Entries are fetched in chunks (`nextv`), so a scan crosses
 * into the native side once per chunk, not once per key.
 */
export class RocksDBIterator extends BaseKeyValueIterator {
  readonly #native: RocksIterator;
  readonly #onClose: () => void;
  #buffer: [Buffer, Buffer | undefined][] = [];
  #at = 0;
  #ended = false;

  // `native` is typed `unknown` so the shipped declarations never name the untyped binding.
  constructor(native: unknown, range: KeyRange, onClose: () => void) {
    super(range.limit);
    this.#native = native as RocksIterator;
    this.#onClose = onClose;
  }

  protected async _next(): Promise<KeyValueEntry | undefined> {
    if (this.#at === this.#buffer.length) {
      if (this.#ended) return undefined;
      this.#buffer = await this.#native.nextv(CHUNK);
      this.#at = 0;
      if (this.#buffer.length === 0) {
        this.#ended = true;
        return undefined;
      }
    }
    const [key, value] = this.#buffer[this.#at++]!;
    return { key, value };
  }

  protected override async _nextv(size: number): Promise<KeyValueEntry[]> {
    const out: KeyValueEntry[] = [];
    while (out.length < size) {
      if (this.#at === this.#buffer.length) {
        if (this.#ended) break;
        this.#buffer = await this.#native.nextv(Math.max(CHUNK, size - out.length));
        this.#at = 0;
        if (this.#buffer.length === 0) {
          this.#ended = true;
          break;
        }
      }
      const [key, value] = this.#buffer[this.#at++]!;
      out.push({ key, value });
    }
    return out;
  }

  protected async _close(): Promise<void> {
    this.#buffer = [];
    this.#onClose();
    await this.#native.close();
  }
}

const CHUNK = 256;
