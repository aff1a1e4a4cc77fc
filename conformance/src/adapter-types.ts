import { MemoryRateLimitStore, MemoryStore, type AuditSink, type KeyValueStore, type RateLimitStore } from '@sochdb-policy/core';

/**
 * An adapter, as `runConformance` and the CLI take it. Each kind (storage, rate limits,
 * audit) is a list; every case runs on every element of their product.
 *
 * An adapter is started once per combination (to start a server or make a temp folder)
 * and then opens a fresh instance per case, so no case sees another's data or buckets.
 */
export interface Adapter<T> {
  readonly name: string;
  /**
   * Why the adapter cannot run here (e.g. no Redis server), or undefined. The runner then
   * skips its combinations and says so; an adapter that must run (REQUIRE_REDIS=1 on CI)
   * throws instead, which fails the run.
   */
  unavailable?(): string | undefined;
  start(): Promise<AdapterSession<T>>;
}

export interface AdapterSession<T> {
  /** A fresh instance for one case; `caseNumber` is unique within the session. */
  open(caseNumber: number): Promise<T>;
  /** Ends the session: stops servers, removes temp folders. */
  close(): Promise<void>;
}

/**
 * A rate-limit adapter yields the engine's `rateLimitStore`. Stores must take the time from
 * the engine's clock (the `now` argument) so the cases' `advance_clock` steps apply.
 */
export type RateLimitAdapter = Adapter<RateLimitStore>;

/**
 * An audit adapter yields the engine's `auditSink`, or `undefined` for the engine's own
 * in-memory log. `sizedLog` says whether `enable_audit(max_entries)` can size the log; with
 * a sink of its own the engine rejects `maxEntries`, so cases that size the log do not apply.
 */
export interface AuditAdapter extends Adapter<AuditSink | undefined> {
  readonly sizedLog: boolean;
}

export type StorageAdapter = Adapter<KeyValueStore>;

/** An adapter with nothing to start: `open` makes each case's instance. */
export function simple<T>(name: string, open: () => T | Promise<T>): Adapter<T> {
  return { name, start: async () => ({ open: async () => open(), close: async () => {} }) };
}

/** Core's `MemoryStore`: the storage used when none is given. */
export const MEMORY_STORAGE: StorageAdapter = simple('memory', () => new MemoryStore());
/** Core's `MemoryRateLimitStore`: the rate-limit store used when none is given. */
export const MEMORY_RATE_LIMITS: RateLimitAdapter = simple('memory', () => new MemoryRateLimitStore());
/** The engine's own in-memory audit log: the audit used when none is given. */
export const MEMORY_AUDIT: AuditAdapter = { ...simple<AuditSink | undefined>('memory', () => undefined), sizedLog: true };

export interface Combination {
  readonly name: string;
  readonly storage: StorageAdapter;
  readonly rateLimits: RateLimitAdapter;
  readonly audit: AuditAdapter;
}

/** Every storage × rate-limit × audit adapter. */
export function combinations(
  storage: readonly StorageAdapter[],
  rateLimits: readonly RateLimitAdapter[],
  audit: readonly AuditAdapter[],
): Combination[] {
  const out: Combination[] = [];
  for (const s of storage) {
    for (const r of rateLimits) {
      for (const a of audit) out.push({ name: `storage=${s.name} rate-limits=${r.name} audit=${a.name}`, storage: s, rateLimits: r, audit: a });
    }
  }
  return out;
}
