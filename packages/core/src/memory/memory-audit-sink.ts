import { matchesAuditQuery, normalizeAuditQuery } from '../audit/audit-query.js';
import { describe } from '../bytes.js';
import type { AuditEntry, AuditQuery, AuditSink } from '../contracts.js';

export interface MemoryAuditSinkOptions {
  /** Newest entries kept; older ones are dropped (rule A1). @default 10000 */
  maxEntries?: number;
}

export const DEFAULT_MAX_ENTRIES = 10_000;

export function assertMaxEntries(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_ENTRIES;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`maxEntries must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

/** A ring of the newest `maxEntries` audit entries, in memory. */
export class MemoryAuditSink implements AuditSink {
  #ring: (AuditEntry | undefined)[];
  #next = 0;
  #count = 0;

  constructor(options: MemoryAuditSinkOptions = {}) {
    this.#ring = new Array(assertMaxEntries(options.maxEntries));
  }

  get maxEntries(): number {
    return this.#ring.length;
  }

  get size(): number {
    return this.#count;
  }

  /** Changes the capacity, keeping the newest entries that fit. */
  resize(maxEntries: number): void {
    const capacity = assertMaxEntries(maxEntries);
    const kept = this.#newest(Math.min(capacity, this.#count));
    this.#ring = new Array(capacity);
    this.#next = 0;
    this.#count = 0;
    for (const e of kept) this.append(e);
  }

  append(entry: AuditEntry): void {
    this.#ring[this.#next] = entry;
    this.#next = (this.#next + 1) % this.#ring.length;
    if (this.#count < this.#ring.length) this.#count++;
  }

  query(query: AuditQuery = {}): AuditEntry[] {
    const q = normalizeAuditQuery(query);
    const out: AuditEntry[] = [];
    const n = this.#ring.length;
    for (let i = 1; i <= this.#count && out.length < q.limit; i++) {
      const e = this.#ring[(this.#next - i + n) % n]!;
      if (matchesAuditQuery(e, q)) out.push({ ...e });
    }
    return out.reverse();
  }

  clear(): void {
    this.#ring = new Array(this.#ring.length);
    this.#next = 0;
    this.#count = 0;
  }

  #newest(k: number): AuditEntry[] {
    const n = this.#ring.length;
    const out: AuditEntry[] = [];
    for (let i = k; i >= 1; i--) out.push(this.#ring[(this.#next - i + n) % n]!);
    return out;
  }
}
