import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileAuditSink } from '@sochdb-policy/audit-file';
import { RedisRateLimitStore } from '@sochdb-policy/ratelimit-redis';
import { redisAvailability, startRedisServer } from '@sochdb-policy/ratelimit-redis/testing';
import { Database, type AuditSink, type KeyValueStore } from 'sochdb-policy';
import { combinations as combine, MEMORY_AUDIT, MEMORY_RATE_LIMITS, MEMORY_STORAGE, type AuditAdapter, type Combination, type RateLimitAdapter, type StorageAdapter } from './adapter-types.js';

export * from './adapter-types.js';

/**
 * This repository's adapters, which `pnpm conformance` combines: every case on every element of
 * the product of the three lists below, so a new adapter is one entry in one list. (Not part of
 * the published package: run your own adapters with `runConformance` or the CLI.)
 */

// `Database.open` is typed with a `this` parameter that TypeScript will not match against the
// protected constructor; at run time it is the plain static call the seed shows.
const openDatabase = (Database as unknown as { open(location: string): Promise<KeyValueStore> }).open.bind(Database);

/** A temp folder per session; each case gets a subfolder. */
function inTempFolder<T>(name: string, open: (folder: string) => Promise<T>): import('./adapter-types.js').Adapter<T> {
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
  MEMORY_STORAGE,
  inTempFolder('rocksdb', (folder) => openDatabase(folder)),
];

export const RATE_LIMIT_ADAPTERS: RateLimitAdapter[] = [
  MEMORY_RATE_LIMITS,
  redis,
];

export const AUDIT_ADAPTERS: AuditAdapter[] = [
  MEMORY_AUDIT,
  auditFile,
];

/** Every storage × rate-limit × audit adapter of this repository. */
export function combinations(
  storage: readonly StorageAdapter[] = STORAGE_ADAPTERS,
  rateLimits: readonly RateLimitAdapter[] = RATE_LIMIT_ADAPTERS,
  audit: readonly AuditAdapter[] = AUDIT_ADAPTERS,
): Combination[] {
  return combine(storage, rateLimits, audit);
}
