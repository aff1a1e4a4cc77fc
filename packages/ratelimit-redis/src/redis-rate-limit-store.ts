import type { BucketRequest, RateLimitDecision, RateLimitStore } from '@sochdb-policy/core';
import type { Writable } from 'node:stream';
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { Deadlines } from './deadlines.js';
import { RedisRateLimitError } from './errors.js';
import { keyBase } from './keys.js';
import { describe } from './describe.js';
import { checkUrl, describeUrlOption, parseOptions, type RedisClock, type RedisRateLimitStoreOptions } from './options.js';
import { CONSUME_SCRIPT, CONSUME_SCRIPT_SHA, PEEK_SCRIPT, PEEK_SCRIPT_SHA } from './script.js';
import { scriptCommand } from './script-command.js';
import { scriptArgs, toDecision, validateRequest } from './script-protocol.js';

// The two scripts: a take (consume) and a look that writes nothing (peek).
const CONSUME = { source: CONSUME_SCRIPT, sha: CONSUME_SCRIPT_SHA };
const PEEK = { source: PEEK_SCRIPT, sha: PEEK_SCRIPT_SHA };

/**
 * Defaults for a client the store opens itself. A call that already failed (timed out, or
 * lost with its connection) must not take tokens later, so nothing is resent after a
 * reconnect and queued calls fail at each reconnect attempt instead of waiting for it.
 */
const OWNED_CLIENT_OPTIONS: RedisOptions = {
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  retryStrategy: (times: number) => Math.min(times * 50, 1000),
};

/** Client states in which a command could only wait in the offline queue: fail at once instead. */
const DOWN = new Set(['reconnecting', 'close', 'end', 'disconnecting']);

const EMPTY: RateLimitDecision = Object.freeze({ allowed: true, remaining: 0, retryAfterMs: 0 });

/**
 * Token buckets in Redis, shared exactly by every process and host that uses the same
 * server and key prefix. One Lua script per `consume` takes a token from every bucket or
 * from none (rule R7) with continuous refill (rule R4): one round trip per operation.
 */
export class RedisRateLimitStore implements RateLimitStore {
  /**
   * `tokens`: a bucket request may take several tokens at once (`BucketRequest.tokens`, what an
   * engine batch asks), all or none, checked and taken in the same script.
   */
  readonly supports = Object.freeze({ tokens: true });
  /** The ioredis client in use: yours, or the one opened from `url`. */
  readonly client: Redis | Cluster;
  readonly clock: RedisClock;
  /** `<keyPrefix>{<hashTag>}:`, the start of every key this store writes. */
  readonly keyBase: string;
  readonly timeoutMs: number;
  readonly #owned: boolean;
  readonly #insurance: RateLimitStore | undefined;
  readonly #onError: ((error: RedisRateLimitError) => void) | undefined;
  readonly #deadlines: Deadlines;
  #closed = false;
  #corked = false;
  #inFlight = 0;

  constructor(options: RedisRateLimitStoreOptions) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new TypeError(`options must be an object { url } or { client } (plus clock, keyPrefix, hashTag, timeoutMs, insurance, onError), got ${describe(options)}`);
    }
    const parsed = parseOptions(options);
    const own = (name: string): unknown => (Object.prototype.hasOwnProperty.call(options, name) ? (options as unknown as Record<string, unknown>)[name] : undefined);
    const client = own('client') as Redis | Cluster | undefined;
    const url = own('url');
    const redisOptions = own('redisOptions');
    if (client !== undefined && url !== undefined) {
      throw new TypeError(`options.client and options.url exclude each other: give one, got both (url ${describeUrlOption(url)})`);
    }
    if (client !== undefined) {
      if (client === null || typeof client !== 'object' || typeof client.sendCommand !== 'function' || typeof client.options !== 'object') {
        throw new TypeError(`options.client must be an ioredis Redis or Cluster client, got ${describe(client)}`);
      }
      if (redisOptions !== undefined) throw new TypeError(`options.redisOptions applies only with options.url, got ${describe(redisOptions)} with options.client`);
      // Typed by shape in the options; at run time it is an ioredis Redis or Cluster (checked above).
      this.client = client as unknown as Redis | Cluster;
      this.#owned = false;
    } else {
      if (url === undefined) throw new TypeError('options.url or options.client is required: give a redis:// URL or an ioredis client');
      checkUrl(url);
      if (redisOptions !== undefined && (redisOptions === null || typeof redisOptions !== 'object' || Array.isArray(redisOptions))) {
        throw new TypeError(`options.redisOptions must be an object of ioredis options, got ${describe(redisOptions)}`);
      }
      this.client = new Redis(url as string, { ...OWNED_CLIENT_OPTIONS, ...(redisOptions as RedisOptions | undefined) });
      // Connection errors reach callers as rejected calls; without a listener ioredis would also log each one.
      this.client.on('error', () => {});
      this.#owned = true;
    }
    this.clock = parsed.clock;
    this.keyBase = keyBase(parsed.keyPrefix, parsed.hashTag);
    this.timeoutMs = parsed.timeoutMs;
    this.#deadlines = new Deadlines(parsed.timeoutMs);
    this.#insurance = parsed.insurance;
    this.#onError = parsed.onError;
  }

  /** The Redis key that holds `bucketKey` (see docs/ratelimit-redis.md, key layout). */
  redisKey(bucketKey: string): string {
    return this.keyBase + bucketKey;
  }

  consume(buckets: readonly BucketRequest[], now: number): Promise<RateLimitDecision> {
    const early = this.#answerWithoutRedis(buckets, now);
    if (early !== undefined) return early;
    const asked = this.#ask(buckets, now, CONSUME);
    const insurance = this.#insurance;
    if (insurance === undefined) return asked;
    // Only a failure reaches the insurance: a rejection by Redis is an answer. Every token
    // Redis grants is also taken from the insurance, so that when Redis fails, the insurance
    // goes on from what this process has already admitted instead of from full buckets.
    return asked.then(
      (decision) => {
        if (decision.allowed) this.#mirror(insurance, buckets, now);
        return decision;
      },
      (error: unknown) => (this.#insurable(buckets) ? insurance.consume(buckets, now) : Promise.reject(error)),
    );
  }

  /**
   * What `consume` would answer now, taking no token (the `peek` capability that
   * `policy.evaluate` uses). During an outage it asks the insurance, as `consume` would.
   */
  peek(buckets: readonly BucketRequest[], now: number): Promise<RateLimitDecision> {
    const early = this.#answerWithoutRedis(buckets, now);
    if (early !== undefined) return early;
    const asked = this.#ask(buckets, now, PEEK);
    const insurance = this.#insurance;
    if (insurance?.peek === undefined) return asked;
    return asked.then(undefined, (error: unknown) => (this.#insurable(buckets) ? insurance.peek!(buckets, now) : Promise.reject(error)));
  }

  /**
   * Whether the insurance can answer `buckets` for Redis: always, unless a bucket asks for
   * several tokens and the insurance does not declare `supports.tokens` (it would take one:
   * the Redis error then stands, failing closed).
   */
  #insurable(buckets: readonly BucketRequest[]): boolean {
    if (this.#insurance?.supports?.tokens === true) return true;
    for (let i = 0; i < buckets.length; i++) {
      const tokens = buckets[i]!.tokens;
      if (tokens !== undefined && tokens !== 1) return false;
    }
    return true;
  }

  /**
   * The answer of `consume` or `peek` when Redis need not be asked: a bad request or a closed
   * store (rejected), or no buckets (admitted). Undefined when Redis must answer.
   */
  #answerWithoutRedis(buckets: readonly BucketRequest[], now: number): Promise<RateLimitDecision> | undefined {
    try {
      validateRequest(buckets, now, this.clock);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closed) return Promise.reject(new RedisRateLimitError('closed', 'RedisRateLimitStore is closed'));
    if (buckets.length === 0) return Promise.resolve({ ...EMPTY });
    return undefined;
  }

  /** Takes the tokens Redis granted from `insurance` too; its answer and failures do not matter. */
  #mirror(insurance: RateLimitStore, buckets: readonly BucketRequest[], now: number): void {
    try {
      const taken = insurance.consume(buckets, now);
      if (typeof (taken as PromiseLike<unknown> | undefined)?.then === 'function') (taken as PromiseLike<unknown>).then(undefined, () => {});
    } catch {
      // The insurance is only asked for its answer when Redis fails; keeping it in step is best effort.
    }
  }

  /** Closes the client if the store opened it from `url`; a client you passed stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#owned) return;
    const client = this.client;
    if (client.status === 'end') return;
    if (client.status === 'reconnecting') {
      // No socket to close: cancelling the pending reconnect is all there is (ioredis sends no 'end').
      client.disconnect();
      return;
    }
    await new Promise<void>((resolve) => {
      // A server that stopped answering must not hang close().
      const timer = setTimeout(() => {
        client.disconnect();
        resolve();
      }, this.timeoutMs);
      client.once('end', () => {
        clearTimeout(timer);
        resolve();
      });
      // QUIT lets answers in flight arrive first.
      if (client.status === 'ready') client.quit().catch(() => client.disconnect());
      else client.disconnect();
    });
  }

  /**
   * One EVALSHA, bounded by the timeout. The answer is the Command's own promise, with no
   * promise wrapped around it (this is the hot path): at its deadline the call rejects the
   * Command in flight, as ioredis' own `commandTimeout` would, and a late reply then finds it
   * settled.
   */
  #ask(buckets: readonly BucketRequest[], now: number, script = CONSUME): Promise<RateLimitDecision> {
    const client = this.client;
    const status = client.status;
    if (DOWN.has(status)) return Promise.reject(this.#report(new RedisRateLimitError('unavailable', `Redis client is ${status}`)));
    let command = scriptCommand(client, 'evalsha', scriptArgs(script.sha, this.keyBase, buckets, now, this.clock));
    // Alone, a call is written at once; next to calls still in flight, it joins a shared write.
    if (this.#inFlight > 0) this.#coalesce();
    // Sent first: the bookkeeping below then runs while Redis works.
    client.sendCommand(command);
    this.#inFlight++;
    const pending = this.#deadlines.add(() => {
      this.#inFlight--;
      command.reject(this.#report(new RedisRateLimitError('timeout', `Redis did not answer within ${this.timeoutMs} ms`)));
    });
    const answer = (reply: unknown): RateLimitDecision => {
      if (pending.settle()) this.#inFlight--;
      const decision = toDecision(reply, buckets);
      if (decision === undefined) throw this.#report(new RedisRateLimitError('bad_reply', `the rate-limit script answered ${describe(reply)}`));
      return decision;
    };
    const fail = (error: unknown): never => {
      // Past the deadline, `error` is the timeout error, already reported.
      if (!pending.settle()) throw error;
      this.#inFlight--;
      throw this.#report(new RedisRateLimitError('redis_error', `Redis failed: ${(error as Error)?.message ?? String(error)}`, error));
    };
    return command.promise.then(answer, (error: unknown) => {
      // After a restart, failover or SCRIPT FLUSH: EVAL once, which caches the script again.
      // EVAL, not SCRIPT LOAD: it goes to the node that owns the keys, also in a Cluster.
      if (!pending.open || !String((error as Error)?.message).startsWith('NOSCRIPT')) return fail(error);
      command = scriptCommand(client, 'eval', scriptArgs(script.source, this.keyBase, buckets, now, this.clock));
      client.sendCommand(command);
      return command.promise.then(answer, fail);
    });
  }

  /**
   * ioredis writes every command to the socket on its own, and a write is a system call that
   * costs more than the rest of a call. Corking the socket until the next tick lets the calls
   * that start together (concurrent operations) share one write; each is still its own EVALSHA
   * with its own answer. Sequential calls are not delayed: only a call that starts while others
   * are in flight corks. A Cluster client has no single socket and is left alone.
   */
  #coalesce(): void {
    if (this.#corked) return;
    const stream = (this.client as { stream?: Writable }).stream;
    if (stream === undefined || typeof stream.cork !== 'function' || this.client.status !== 'ready') return;
    this.#corked = true;
    stream.cork();
    process.nextTick(this.#uncork, stream);
  }

  readonly #uncork = (stream: Writable): void => {
    this.#corked = false;
    stream.uncork();
  };

  #report(error: RedisRateLimitError): RedisRateLimitError {
    try {
      this.#onError?.(error);
    } catch {
      // A failing observer must not turn into a different error for the operation.
    }
    return error;
  }
}
