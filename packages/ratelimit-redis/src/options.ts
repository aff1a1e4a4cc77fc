import type { RateLimitStore } from '@sochdb-policy/core';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { describe } from './describe.js';
import type { RedisRateLimitError } from './errors.js';

/** Whose clock refills the buckets. */
export type RedisClock = 'server' | 'caller';

interface CommonOptions {
  /**
   * `'server'`: the script reads Redis `TIME`, so hosts with skewed clocks agree.
   * `'caller'`: the script uses the `now` the engine passes (its `clock` option). Meant for
   * tests that control time with a fake clock, and for single-host setups: hosts whose clocks
   * differ would disagree on refill, and keys still expire on the server's clock.
   * @default 'server'
   */
  clock?: RedisClock;
  /** Prepended to every Redis key, before the hash tag. Must not contain `{` or `}`. @default 'sochdb-policy:rl:' */
  keyPrefix?: string;
  /**
   * Hash tag written as `{hashTag}` after the prefix. Redis Cluster hashes only the tag, so all
   * buckets of this store share one slot: any set of buckets may be consumed in one atomic
   * script. Give stores of separate tenants different tags to spread them over a Cluster.
   * Must not be empty or contain `{` or `}`. @default 'default'
   */
  hashTag?: string;
  /**
   * Milliseconds to wait for Redis before `consume` rejects (or answers from `insurance`).
   * Includes the reload of the script after a `NOSCRIPT` reply. @default 1000
   */
  timeoutMs?: number;
  /**
   * A second store that answers only while Redis fails (error, timeout, disconnected), never
   * when Redis rejects an operation. Redis is asked first on every call, so it takes over again
   * as soon as it answers. Typically `new MemoryRateLimitStore()`: each process then enforces
   * the limits on its own while Redis is down. Not closed by `close()`. @default undefined (fail closed)
   */
  insurance?: RateLimitStore;
  /** Called with every Redis failure, also those answered by `insurance`. @default undefined */
  onError?: (error: RedisRateLimitError) => void;
}

export interface RedisClientOptions extends CommonOptions {
  /** An ioredis client (or Cluster) you own: the store never closes it. */
  client: Redis | Cluster;
  url?: never;
  redisOptions?: never;
}

export interface RedisUrlOptions extends CommonOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`): the store opens the client and closes it in `close()`. */
  url: string;
  /**
   * Extra ioredis options for the client opened from `url`; they override the store's own
   * choices (no resend of unanswered commands after a reconnect, queued commands failed on
   * each reconnect attempt, reconnect delay up to 1 s). @default {}
   */
  redisOptions?: RedisOptions;
  client?: never;
}

export type RedisRateLimitStoreOptions = RedisClientOptions | RedisUrlOptions;

export const DEFAULT_KEY_PREFIX = 'sochdb-policy:rl:';
export const DEFAULT_HASH_TAG = 'default';
export const DEFAULT_TIMEOUT_MS = 1000;

export interface ParsedOptions {
  clock: RedisClock;
  keyPrefix: string;
  hashTag: string;
  timeoutMs: number;
  insurance: RateLimitStore | undefined;
  onError: ((error: RedisRateLimitError) => void) | undefined;
}

/** Validates everything but the client/url choice; bad options throw before any connection opens. */
export function parseOptions(options: RedisRateLimitStoreOptions): ParsedOptions {
  const {
    clock = 'server',
    keyPrefix = DEFAULT_KEY_PREFIX,
    hashTag = DEFAULT_HASH_TAG,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    insurance,
    onError,
  } = options;
  if (clock !== 'server' && clock !== 'caller') throw new RangeError(`options.clock must be 'server' or 'caller', got ${describe(clock)}`);
  if (typeof keyPrefix !== 'string') throw new TypeError(`options.keyPrefix must be a string, got ${describe(keyPrefix)}`);
  if (/[{}]/.test(keyPrefix)) throw new RangeError(`options.keyPrefix must not contain { or } (the hash tag follows it), got ${describe(keyPrefix)}`);
  if (typeof hashTag !== 'string') throw new TypeError(`options.hashTag must be a string, got ${describe(hashTag)}`);
  if (hashTag.length === 0 || /[{}]/.test(hashTag)) {
    throw new RangeError(`options.hashTag must be non-empty without { or }, got ${describe(hashTag)}`);
  }
  if (typeof timeoutMs !== 'number' || !Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    throw new RangeError(`options.timeoutMs must be a positive integer, got ${describe(timeoutMs)}`);
  }
  if (insurance !== undefined && typeof insurance?.consume !== 'function') {
    throw new TypeError(`options.insurance must be a RateLimitStore with a consume method, got ${describe(insurance)}`);
  }
  if (onError !== undefined && typeof onError !== 'function') throw new TypeError(`options.onError must be a function, got ${describe(onError)}`);
  return { clock, keyPrefix, hashTag, timeoutMs, insurance, onError };
}
