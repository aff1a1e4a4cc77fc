import { matchesAuditQuery, normalizeAuditQuery } from '../audit/audit-query.js';
import { describe } from '../bytes.js';
import type { AuditEntry, AuditEntryIterator, AuditQuery, AuditSink, AuditStreamQuery } from '../contracts.js';
import { IteratorError } from '../storage/iterator.js';

export interface MemoryAuditSinkOptions {
  /** Newest entries kept; older ones are dropped (rule A1). @default 10000 */
  maxEntries?: number;
}

export const DEFAULT_MAX_ENTRIES = 10_000;
/** The most entries one JavaScript array can hold. */
export const MAX_MAX_ENTRIES = 2 ** 32 - 1;

export function assertMaxEntries(value: unknown, name = 'maxEntries'): number {
  if (value === undefined) return DEFAULT_MAX_ENTRIES;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_MAX_ENTRIES) {
    throw new RangeError(`${name} must be an integer from 1 to ${MAX_MAX_ENTRIES} (2^32 - 1), got ${describe(value)}`);
  }
  return value;
}

/**
 * A ring of the newest `maxEntries` audit entries, in memory. The ring grows as entries
 * arrive, so a large `maxEntries` costs memory only for entries really held.
 */
export class MemoryAuditSink implements AuditSink {
  readonly supports = { stream: true, decisionFields: true } as const;
  #ring: AuditEntry[] = [];
  #capacity: number;
  #next = 0;
  /** Entries ever appended: the position (cursor) of the next one. */
  #appended = 0;

  constructor(options: MemoryAuditSinkOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
    this.#capacity = assertMaxEntries(options.maxEntries, 'options.maxEntries');
  }

  get maxEntries(): number {
    return this.#capacity;
  }

  get size(): number {
    return this.#ring.length;
  }

  /** Changes the capacity, keeping the newest entries that fit. */
  resize(maxEntries: number): void {
    const capacity = assertMaxEntries(maxEntries);
    const kept = this.#newest(Math.min(capacity, this.#ring.length));
    this.#capacity = capacity;
    this.#ring = kept;
    this.#next = kept.length % capacity;
  }

  append(entry: AuditEntry): void {
    this.#appended++;
    if (this.#ring.length < this.#capacity) {
      this.#ring.push(entry);
      this.#next = this.#ring.length % this.#capacity;
      return;
    }
    this.#ring[this.#next] = entry;
    this.#next = (this.#next + 1) % this.#capacity;
  }

  query(query: AuditQuery = {}): AuditEntry[] {
    const q = normalizeAuditQuery(query);
    const out: AuditEntry[] = [];
    const n = this.#ring.length;
    for (let i = 1; i <= n && out.length < q.limit; i++) {
      const e = this.#ring[(this.#next - i + n) % n]!;
      if (matchesAuditQuery(e, q)) out.push({ ...e });
    }
    return out.reverse();
  }

  /**
   * Capability `stream`: matching entries one at a time, oldest first (or newest first with
   * `order: 'desc'`). The cursor is the entry's position since the sink was made; entries
   * dropped from the ring meanwhile are skipped.
   */
  entries(query: AuditStreamQuery = {}): AuditEntryIterator {
    const { order = 'asc', after, signal, ...filters } = query ?? {};
    const q = normalizeAuditQuery({ ...filters, limit: filters.limit === undefined || filters.limit === Infinity ? Number.MAX_SAFE_INTEGER : filters.limit });
    if (order !== 'asc' && order !== 'desc') throw new RangeError(`order must be 'asc' or 'desc', got ${describe(order)}`);
    if (after !== undefined && !/^(0|[1-9][0-9]{0,15})$/.test(String(after))) throw new TypeError(`after must be a cursor from this sink, got ${describe(after)}`);
    const asc = order === 'asc';
    // Position of the next entry to look at; the end is fixed at the first pull.
    let pos = after === undefined ? undefined : asc ? Number(after) + 1 : Number(after) - 1;
    let end = -1;
    const step = (): AuditEntry | undefined => {
      if (pos === undefined) {
        end = this.#appended;
        pos = asc ? 0 : end - 1;
      } else if (end < 0) end = this.#appended;
      for (;;) {
        const oldest = this.#appended - this.#ring.length;
        if (asc ? pos >= end : pos < oldest) return undefined;
        if (asc && pos < oldest) pos = oldest;
        if (!asc && pos >= this.#appended) pos = this.#appended - 1;
        const at = pos;
        pos += asc ? 1 : -1;
        const start = this.#ring.length < this.#capacity ? 0 : this.#next;
        const e = this.#ring[(start + (at - oldest)) % this.#ring.length]!;
        if (matchesAuditQuery(e, q)) {
          cursor = String(at);
          return { ...e };
        }
      }
    };
    let cursor: string | undefined = after === undefined ? undefined : String(after);
    let yielded = 0;
    let busy = false;
    let closed = false;
    const enter = (call: string) => {
      if (closed) throw new IteratorError('iterator_closed', `${call}() on a closed iterator`);
      if (busy) throw new IteratorError('iterator_busy', `${call}() while another call on this iterator is pending; await it first`);
      if (signal?.aborted) {
        closed = true;
        throw signal.reason;
      }
    };
    /** Busy until the answer is delivered, as a store-backed iterator would be. */
    const settle = async <T>(fn: () => T): Promise<T> => {
      busy = true;
      try {
        await undefined;
        return fn();
      } finally {
        busy = false;
      }
    };
    const take = (size: number): AuditEntry[] => {
      const out: AuditEntry[] = [];
      while (out.length < size && yielded < q.limit) {
        const e = step();
        if (e === undefined) break;
        out.push(e);
        yielded++;
      }
      return out;
    };
    const it: AuditEntryIterator = {
      get cursor() {
        return cursor;
      },
      async next() {
        enter('next');
        return settle(() => take(1)[0]);
      },
      async nextv(size: number) {
        if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) throw new RangeError(`size must be a positive integer, got ${describe(size)}`);
        enter('nextv');
        return settle(() => take(size));
      },
      async close() {
        closed = true;
      },
      async *[Symbol.asyncIterator]() {
        try {
          for (;;) {
            const e = await it.next();
            if (e === undefined) return;
            yield e;
          }
        } finally {
          await it.close();
        }
      },
    };
    return it;
  }

  clear(): void {
    this.#ring = [];
    this.#next = 0;
  }

  /** The newest `k` entries, oldest first. */
  #newest(k: number): AuditEntry[] {
    const n = this.#ring.length;
    const out: AuditEntry[] = [];
    for (let i = k; i >= 1; i--) out.push(this.#ring[(this.#next - i + n) % n]!);
    return out;
  }
}
