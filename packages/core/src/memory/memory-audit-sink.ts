import { normalizeAuditQuery } from '../audit/audit-query.js';
import { describe } from '../bytes.js';
import type { AuditEntry, AuditEntryIterator, AuditQuery, AuditResult, AuditSink, AuditStreamQuery } from '../contracts.js';
import type { PolicyContext } from '../context.js';
import type { DecisionState } from '../events/decision-record.js';
import { IteratorError } from '../storage/iterator.js';
import { AuditRing } from './audit-ring.js';

/** Engine-only: records a decision without making an entry object (see {@link AuditRing}). */
export const RECORD_DECISION = Symbol('recordDecision');

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
  #ring: AuditRing;
  /** Entries held. */
  #size = 0;
  #capacity: number;
  /** The slot the next entry goes to. */
  #next = 0;
  /** Entries ever appended: the position (cursor) of the next one. */
  #appended = 0;

  constructor(options: MemoryAuditSinkOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
    this.#capacity = assertMaxEntries(options.maxEntries, 'options.maxEntries');
    this.#ring = new AuditRing(this.#capacity);
  }

  get maxEntries(): number {
    return this.#capacity;
  }

  get size(): number {
    return this.#size;
  }

  /** Changes the capacity, keeping the newest entries that fit. */
  resize(maxEntries: number): void {
    const capacity = assertMaxEntries(maxEntries);
    const kept = this.#newest(Math.min(capacity, this.#size));
    this.#capacity = capacity;
    this.#ring = new AuditRing(capacity);
    kept.forEach((e, slot) => this.#ring.setEntry(slot, e));
    this.#size = kept.length;
    this.#next = kept.length % capacity;
  }

  append(entry: AuditEntry): void {
    this.#ring.setEntry(this.#take(), entry);
  }

  /** The engine's append: the same entry as `append(decisionRecord(ctx, result))`, without the object. */
  [RECORD_DECISION](ctx: PolicyContext, decision: DecisionState, result: AuditResult): void {
    this.#ring.setDecision(this.#take(), ctx, decision, result);
  }

  /** The slot of the entry being appended (the oldest one's, once full). */
  #take(): number {
    this.#appended++;
    const slot = this.#next;
    if (this.#size < this.#capacity) this.#size++;
    this.#next = slot + 1 === this.#capacity ? 0 : slot + 1;
    return slot;
  }

  /** The slot of the `i`-th newest entry (1: the newest). */
  #slotOfNewest(i: number): number {
    const n = this.#size;
    return (this.#next - i + n) % n;
  }

  #matches(slot: number, q: AuditQuery): boolean {
    const r = this.#ring;
    return (
      (q.agentId === undefined || r.agentId(slot) === q.agentId) &&
      (q.operation === undefined || r.operation(slot) === q.operation) &&
      (q.result === undefined || r.result(slot) === q.result) &&
      (q.ruleId === undefined || r.ruleId(slot) === q.ruleId) &&
      (q.since === undefined || r.timestamp(slot) >= q.since) &&
      (q.until === undefined || r.timestamp(slot) <= q.until)
    );
  }

  query(query: AuditQuery = {}): AuditEntry[] {
    const q = normalizeAuditQuery(query);
    const out: AuditEntry[] = [];
    const n = this.#size;
    for (let i = 1; i <= n && out.length < q.limit; i++) {
      const slot = this.#slotOfNewest(i);
      if (this.#matches(slot, q)) out.push(this.#ring.entry(slot));
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
        const oldest = this.#appended - this.#size;
        if (asc ? pos >= end : pos < oldest) return undefined;
        if (asc && pos < oldest) pos = oldest;
        if (!asc && pos >= this.#appended) pos = this.#appended - 1;
        const at = pos;
        pos += asc ? 1 : -1;
        const start = this.#size < this.#capacity ? 0 : this.#next;
        const slot = (start + (at - oldest)) % this.#size;
        if (this.#matches(slot, q)) {
          cursor = String(at);
          return this.#ring.entry(slot);
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
    this.#ring.clear();
    this.#size = 0;
    this.#next = 0;
  }

  /** The newest `k` entries, oldest first. */
  #newest(k: number): AuditEntry[] {
    const out: AuditEntry[] = [];
    for (let i = k; i >= 1; i--) out.push(this.#ring.entry(this.#slotOfNewest(i)));
    return out;
  }
}
