import { matchesAuditQuery, normalizeAuditQuery } from '../audit/audit-query.js';
import { describe } from '../bytes.js';
import type { AuditEntry, AuditQuery, AuditSink } from '../contracts.js';

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
  #ring: AuditEntry[] = [];
  #capacity: number;
  #next = 0;

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
