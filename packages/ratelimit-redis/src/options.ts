import type { RateLimitStore } from '@sochdb-policy/core';
import type { Command, RedisOptions } from 'ioredis';
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

/**
 * What the store uses of a client you pass: an ioredis `Redis` or `Cluster`, of ioredis 5 or 6,
 * fits. Typed by this shape rather than by ioredis' classes, so that a client typechecks
 * whichever of those versions (and whichever installed copy of ioredis) made it.
 */
export interface RedisClient {
  readonly status: string;
  readonly options: object;
  sendCommand(command: Command): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  once(event: 'end', listener: () => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

export interface RedisClientOptions extends CommonOptions {
  /** An ioredis client (`Redis` or `Cluster`, ioredis 5 or 6) you own: the store never closes it. */
  client: RedisClient;
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

const OPTION_NAMES: readonly string[] = ['url', 'client', 'redisOptions', 'clock', 'keyPrefix', 'hashTag', 'timeoutMs', 'insurance', 'onError'];

// String.prototype.isWellFormed is in Node 20 but not in TypeScript's ES2022 library.
const isWellFormed = (text: string): boolean => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

/**
 * Validates every option but the client/url choice; bad options throw before any connection
 * opens. Every message names the option, what it got and what it accepts.
 */
export function parseOptions(options: RedisRateLimitStoreOptions): ParsedOptions {
  // Own options only, none unknown: a misspelt `timeout` must not silently mean the default.
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.includes(name)) {
      throw new RangeError(`options.${name} is not an option of RedisRateLimitStore; the options are ${OPTION_NAMES.join(', ')}`);
    }
  }
  const own = <T>(name: string, fallback: T): unknown =>
    Object.prototype.hasOwnProperty.call(options, name) && (options as unknown as Record<string, unknown>)[name] !== undefined
      ? (options as unknown as Record<string, unknown>)[name]
      : fallback;
  const clock = own('clock', 'server');
  const keyPrefix = own('keyPrefix', DEFAULT_KEY_PREFIX);
  const hashTag = own('hashTag', DEFAULT_HASH_TAG);
  const timeoutMs = own('timeoutMs', DEFAULT_TIMEOUT_MS);
  const insurance = own('insurance', undefined) as RateLimitStore | undefined;
  const onError = own('onError', undefined);
  if (clock !== 'server' && clock !== 'caller') throw new RangeError(`options.clock must be 'server' or 'caller', got ${describe(clock)}`);
  if (typeof keyPrefix !== 'string') throw new TypeError(`options.keyPrefix must be a string, got ${describe(keyPrefix)}`);
  if (/[{}]/.test(keyPrefix)) throw new RangeError(`options.keyPrefix must not contain { or } (the hash tag follows it), got ${describe(keyPrefix)}`);
  // Redis keys are bytes: a lone surrogate would be written as U+FFFD, so two prefixes would meet.
  if (!isWellFormed(keyPrefix)) throw new RangeError(`options.keyPrefix must be well-formed text (no lone surrogate), got ${describe(keyPrefix)}`);
  if (typeof hashTag !== 'string') throw new TypeError(`options.hashTag must be a string, got ${describe(hashTag)}`);
  if (hashTag.length === 0 || /[{}]/.test(hashTag) || !isWellFormed(hashTag)) {
    throw new RangeError(`options.hashTag must be non-empty well-formed text without { or }, got ${describe(hashTag)}`);
  }
  if (typeof timeoutMs !== 'number') throw new TypeError(`options.timeoutMs must be a number of milliseconds, got ${describe(timeoutMs)}`);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new RangeError(`options.timeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS} (milliseconds), got ${describe(timeoutMs)}`);
  }
  if (insurance !== undefined && typeof (insurance as Partial<RateLimitStore> | null)?.consume !== 'function') {
    throw new TypeError(`options.insurance must be a RateLimitStore with a consume method, got ${describe(insurance)}`);
  }
  if (onError !== undefined && typeof onError !== 'function') throw new TypeError(`options.onError must be a function, got ${describe(onError)}`);
  return { clock, keyPrefix, hashTag, timeoutMs, insurance, onError: onError as ParsedOptions['onError'] };
}

/** setTimeout's limit: a longer delay fires at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const URL_FORMS = 'redis://[user:password@]host[:port][/db] or rediss://… (TLS)';

/**
 * Checks `options.url` before ioredis sees it (ioredis would throw a bare `Invalid URL`, or
 * connect somewhere unexpected). The password never appears in the message.
 */
export function checkUrl(url: unknown): string {
  if (typeof url !== 'string' || url.length === 0) {
    throw new TypeError(`options.url must be a non-empty string, ${URL_FORMS} (or give options.client), got ${describeUrlOption(url)}`);
  }
  const bad = (why: string): RangeError => new RangeError(`options.url must be ${URL_FORMS}, got ${describeUrlOption(url)}: ${why}`);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1];
  // Lower case only: ioredis turns TLS on for `rediss://` as written, not for `REDISS://`.
  if (scheme === undefined || !/^rediss?$/.test(scheme)) {
    throw bad(scheme === undefined ? 'no redis:// or rediss:// scheme' : `scheme ${JSON.stringify(scheme + ':')} is not redis: or rediss: (lower case)`);
  }
  if (!/^rediss?:\/\//.test(url)) throw bad(`${JSON.stringify(scheme + ':')} must be followed by //`);
  // The port as written, for a better reason than WHATWG URL's bare "Invalid URL".
  const port = /^[A-Za-z]+:\/\/(?:[^@/?#]*@)?(?:\[[^\]]*\]|[^:/?#]*)(?::([^/?#]*))?/.exec(url)?.[1];
  if (port !== undefined && port !== '' && !(/^\d+$/.test(port) && Number(port) <= 65535)) {
    throw bad(`the port must be an integer from 0 to 65535, got ${JSON.stringify(port)}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw bad(`not a valid URL (${(error as Error).message})`);
  }
  if (parsed.hostname === '') throw bad('no host');
  if (parsed.pathname !== '' && parsed.pathname !== '/' && !/^\/\d+$/.test(parsed.pathname)) {
    throw bad(`the path must be a database number such as /0, got ${JSON.stringify(parsed.pathname)}`);
  }
  for (const [part, text] of [['user name', parsed.username], ['password', parsed.password]] as const) {
    try {
      decodeURIComponent(text);
    } catch {
      throw bad(`the ${part} holds a malformed %-escape`);
    }
  }
  return url;
}

/** describe(), with a URL's password replaced by *** so that it never reaches a log. */
export function describeUrlOption(url: unknown): string {
  if (typeof url !== 'string') return describe(url);
  return describe(url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^@/?#:]*:)[^@/?#]*@/, '$1***@'));
}
