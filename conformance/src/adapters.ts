import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileAuditSink } from '@sochdb-policy/audit-file';
import { RedisRateLimitStore } from '@sochdb-policy/ratelimit-redis';
import { redisAvailability, startRedisServer } from '@sochdb-policy/ratelimit-redis/testing';
import { Database, MemoryRateLimitStore, MemoryStore, type AuditSink, type KeyValueStore, type RateLimitStore } from 'sochdb-policy';

/**
 * The adapters the runner combines. Each kind is a list; `combinations()` runs every case
 * on every element of their product, so a new adapter is one entry in one list below.
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

// `Database.open` is typed with a `this` parameter that TypeScript will not match against the
// protected constructor; at run time it is the plain static call the seed shows.
const openDatabase = (Database as unknown as { open(location: string): Promise<KeyValueStore> }).open.bind(Database);

/** An adapter with nothing to start. */
function simple<T>(name: string, open: () => T | Promise<T>): Adapter<T> {
  return { name, start: async () => ({ open: async () => open(), close: async () => {} }) };
}

/** A temp folder per session; each case gets a subfolder. */
function inTempFolder<T>(name: string, open: (folder: string) => Promise<T>): Adapter<T> {
  return {
    name,
    async start() {
      const root = await mkdtemp(join(tmpdir(), `conformance-${name}-`));
      return {
        open: (n) => open(join(root, `case-${n}`)),
        close: () => rm(root, { recursive: true, force: true }),
      };
    },
  };
}

/**
 * Redis through `@sochdb-policy/ratelimit-redis`: REDIS_URL's server, or a `redis-server`
 * started for the run. The store uses the engine's clock (`clock: 'caller'`) so that
 * `advance_clock` refills its buckets, and each case gets its own key prefix, so no case
 * sees another's buckets.
 */
const redis: RateLimitAdapter = {
  name: 'redis',
  unavailable: () => redisAvailability().reason,
  async start() {
    const server = await startRedisServer();
    const run = `conformance:${process.pid}:${Date.now()}:`;
    return {
      open: async (n) => new RedisRateLimitStore({ url: server.url, clock: 'caller', keyPrefix: `${run}${n}:` }),
      close: () => server.stop(),
    };
  },
};

/** A hash-chained JSON Lines audit file per case, written with the default durability. */
const auditFile: AuditAdapter = {
  ...inTempFolder<AuditSink | undefined>('audit-file', async (folder) => {
    await mkdir(folder, { recursive: true });
    return FileAuditSink.open(join(folder, 'audit.log'));
  }),
  sizedLog: false,
};

// ---- the lists: add adapters here ------------------------------------------------------

export const STORAGE_ADAPTERS: StorageAdapter[] = [
  simple('memory', () => new MemoryStore()),
  inTempFolder('rocksdb', (folder) => openDatabase(folder)),
];

export const RATE_LIMIT_ADAPTERS: RateLimitAdapter[] = [
  simple('memory', () => new MemoryRateLimitStore()),
  redis,
];

export const AUDIT_ADAPTERS: AuditAdapter[] = [
  { ...simple<AuditSink | undefined>('memory', () => undefined), sizedLog: true },
  auditFile,
];

export interface Combination {
  readonly name: string;
  readonly storage: StorageAdapter;
  readonly rateLimits: RateLimitAdapter;
  readonly audit: AuditAdapter;
}

/** Every storage × rate-limit × audit adapter. */
export function combinations(
  storage: readonly StorageAdapter[] = STORAGE_ADAPTERS,
  rateLimits: readonly RateLimitAdapter[] = RATE_LIMIT_ADAPTERS,
  audit: readonly AuditAdapter[] = AUDIT_ADAPTERS,
): Combination[] {
  const out: Combination[] = [];
  for (const s of storage) {
    for (const r of rateLimits) {
      for (const a of audit) out.push({ name: `storage=${s.name} rate-limits=${r.name} audit=${a.name}`, storage: s, rateLimits: r, audit: a });
    }
  }
  return out;
}
