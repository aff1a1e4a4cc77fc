import type { KeyValueEntry, KeyValueIterator } from '../contracts.js';
import { describe } from '../bytes.js';

/** Why an iterator refused a call: `iterator_busy` or `iterator_closed`. */
export class IteratorError extends Error {
  override readonly name = 'IteratorError';
  constructor(
    readonly code: 'iterator_busy' | 'iterator_closed',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The shared half of every {@link KeyValueIterator}: the limit, one call at a time, close
 * once, `nextv` from `next`, and `for await` that closes in `finally` (so `break`, `return`
 * and a throw in the loop body all release the store's cursor). A store implements `_next`,
 * `_close` and, when it can do better than a loop, `_nextv`.
 */
export abstract class BaseKeyValueIterator implements KeyValueIterator {
  #busy = false;
  #closed = false;
  #yielded = 0;
  readonly #limit: number;

  constructor(limit: number) {
    // A store's iterator gets a KeyRange already normalized (normalizeRange); a range passed
    // as given, without a limit, would otherwise yield nothing at all, silently.
    if (typeof limit !== 'number' || !(limit >= 0)) {
      throw new TypeError(`range.limit must be a non-negative number or Infinity (store iterators take a KeyRange from normalizeRange), got ${describe(limit)}`);
    }
    this.#limit = limit;
  }

  protected abstract _next(): Promise<KeyValueEntry | undefined>;
  protected abstract _close(): Promise<void>;

  protected async _nextv(size: number): Promise<KeyValueEntry[]> {
    const out: KeyValueEntry[] = [];
    while (out.length < size) {
      const entry = await this._next();
      if (entry === undefined) break;
      out.push(entry);
    }
    return out;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async next(): Promise<KeyValueEntry | undefined> {
    this.#enter('next');
    try {
      if (this.#yielded >= this.#limit) return undefined;
      const entry = await this._next();
      if (entry !== undefined) this.#yielded++;
      return entry;
    } finally {
      this.#busy = false;
    }
  }

  async nextv(size: number): Promise<KeyValueEntry[]> {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) {
      throw new RangeError(`size must be a positive integer, got ${describe(size)}`);
    }
    this.#enter('nextv');
    try {
      const want = Math.min(size, this.#limit - this.#yielded);
      if (want <= 0) return [];
      const entries = await this._nextv(want);
      this.#yielded += entries.length;
      return entries;
    } finally {
      this.#busy = false;
    }
  }

  /** Releases the cursor; later calls reject with `iterator_closed`. Closing twice is fine. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this._close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<KeyValueEntry> {
    try {
      for (;;) {
        const entry = await this.next();
        if (entry === undefined) return;
        yield entry;
      }
    } finally {
      await this.close();
    }
  }

  #enter(call: string): void {
    if (this.#closed) throw new IteratorError('iterator_closed', `${call}() on a closed iterator`);
    if (this.#busy) throw new IteratorError('iterator_busy', `${call}() while another call on this iterator is pending; await it first`);
    this.#busy = true;
  }
}
