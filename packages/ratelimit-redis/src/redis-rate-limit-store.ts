import type { BucketRequest, RateLimitDecision, RateLimitStore } from '@sochdb-policy/core';
import type { Writable } from 'node:stream';
import { Redis, type Cluster, type Command, type RedisOptions } from 'ioredis';
import { Deadlines, type Pending } from './deadlines.js';
import { RedisRateLimitError } from './errors.js';
import { keyBase } from './keys.js';
import { describe } from './describe.js';
import { checkUrl, describeUrlOption, parseOptions, type RedisClock, type RedisRateLimitStoreOptions } from './options.js';
import { CONSUME_MANY_SCRIPT, CONSUME_MANY_SCRIPT_SHA, CONSUME_SCRIPT, CONSUME_SCRIPT_SHA, PEEK_SCRIPT, PEEK_SCRIPT_SHA } from './script.js';
import { scriptCommand } from './script-command.js';
import { manyArgs, scriptArgs, toDecision, validateRequest, type ScriptCall } from './script-protocol.js';

// The two scripts: a take (consume) and a look that writes nothing (peek).
const CONSUME = { source: CONSUME_SCRIPT, sha: CONSUME_SCRIPT_SHA };
const PEEK = { source: PEEK_SCRIPT, sha: PEEK_SCRIPT_SHA };
const CONSUME_MANY = { source: CONSUME_MANY_SCRIPT, sha: CONSUME_MANY_SCRIPT_SHA };

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

/** Whether a command failed because Redis lost the script (restart, failover, SCRIPT FLUSH) while the call is still open. */
function noScript(pending: Pending, error: unknown): boolean {
  return pending.open && String((error as Error)?.message).startsWith('NOSCRIPT');
}

/** Most consume calls in one script run (about 0.1–0.3 ms of Redis' time). */
const MAX_CALLS_PER_RUN = 128;

/** A consume waiting for the end of the tick. */
interface Queued extends ScriptCall {
  resolve(decision: RateLimitDecision): void;
  reject(error: unknown): void;
}

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
  /** Consume calls waiting for the end of the tick, to go to Redis as one script run. */
  #queue: Queued[] = [];

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
    // Consumes made before close() go to Redis before QUIT, as they would have unbatched.
    this.#flush();
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

  /** A consume or peek: sent at once, or queued for the end of the tick (see below). */
  #ask(buckets: readonly BucketRequest[], now: number, script = CONSUME): Promise<RateLimitDecision> {
    // A consume that starts while others are in flight (concurrent operations) waits for the
    // end of the tick and goes with the tick's other consumes as one script run: one command
    // for Redis to parse, run and answer, and for the client to write and read, instead of one
    // each. A lone call is sent at once, and calls keep the order they were made in.
    if (script === CONSUME && (this.#inFlight > 0 || this.#queue.length > 0)) {
      return new Promise<RateLimitDecision>((resolve, reject) => {
        if (this.#queue.length === 0) process.nextTick(this.#flush);
        this.#queue.push({ buckets, now, resolve, reject });
      });
    }
    return this.#send(buckets, now, script);
  }

  /**
   * Sends the consumes waiting for the end of the tick: one alone as ever, several as script
   * runs of up to {@link MAX_CALLS_PER_RUN} calls each (a burst does not hold Redis in one long
   * script while other clients wait).
   */
  readonly #flush = (): void => {
    const queue = this.#queue;
    if (queue.length === 0) return;
    this.#queue = [];
    if (queue.length === 1) {
      const only = queue[0]!;
      this.#send(only.buckets, only.now, CONSUME).then(only.resolve, only.reject);
      return;
    }
    for (let from = 0; from < queue.length; from += MAX_CALLS_PER_RUN) this.#sendMany(queue.slice(from, from + MAX_CALLS_PER_RUN));
  };

  /**
   * The queued consumes as one CONSUME_MANY_SCRIPT run, bounded by the timeout like one call:
   * each is answered with its own reply, or fails alone with its own error; a failure of the
   * whole run (Redis down, an error, no answer in time, a reply of the wrong shape) fails each
   * of them, reported once.
   */
  #sendMany(queue: readonly Queued[]): void {
    const client = this.client;
    const failAll = (error: unknown): void => {
      for (const q of queue) q.reject(error);
    };
    if (DOWN.has(client.status)) return failAll(this.#unavailable());
    let command = scriptCommand(client, 'evalsha', manyArgs(CONSUME_MANY.sha, this.keyBase, queue, this.clock));
    const pending = this.#start(command, (timeout) => command.reject(timeout));
    const answer = (reply: unknown): void => {
      if (pending.settle()) this.#inFlight--;
      if (!Array.isArray(reply) || reply.length !== queue.length) {
        return failAll(this.#report(new RedisRateLimitError('bad_reply', `the rate-limit script answered ${describe(reply)} for ${queue.length} calls`)));
      }
      queue.forEach((q, i) => {
        const one: unknown = reply[i];
        // A call that failed in the script (its own error as its reply) fails alone.
        if (one instanceof Error) return q.reject(this.#report(new RedisRateLimitError('redis_error', `Redis failed: ${one.message}`, one)));
        const decision = toDecision(one, q.buckets);
        if (decision === undefined) return q.reject(this.#report(new RedisRateLimitError('bad_reply', `the rate-limit script answered ${describe(one)}`)));
        q.resolve(decision);
      });
    };
    const fail = (error: unknown): void => failAll(this.#failure(pending, error));
    command.promise.then(answer, (error: unknown) => {
      // As for one call: after a restart, failover or SCRIPT FLUSH, EVAL once.
      if (!noScript(pending, error)) return fail(error);
      command = scriptCommand(client, 'eval', manyArgs(CONSUME_MANY.source, this.keyBase, queue, this.clock));
      client.sendCommand(command);
      command.promise.then(answer, fail);
    });
  }

  /**
   * One EVALSHA, bounded by the timeout. The answer is the Command's own promise, with no
   * promise wrapped around it (this is the hot path): at its deadline the call rejects the
   * Command in flight, as ioredis' own `commandTimeout` would, and a late reply then finds it
   * settled.
   */
  #send(buckets: readonly BucketRequest[], now: number, script: typeof CONSUME): Promise<RateLimitDecision> {
    const client = this.client;
    if (DOWN.has(client.status)) return Promise.reject(this.#unavailable());
    let command = scriptCommand(client, 'evalsha', scriptArgs(script.sha, this.keyBase, buckets, now, this.clock));
    // Alone, a call is written at once; next to calls still in flight, it joins a shared write.
    if (this.#inFlight > 0) this.#coalesce();
    const pending = this.#start(command, (timeout) => command.reject(timeout));
    const answer = (reply: unknown): RateLimitDecision => {
      if (pending.settle()) this.#inFlight--;
      const decision = toDecision(reply, buckets);
      if (decision === undefined) throw this.#report(new RedisRateLimitError('bad_reply', `the rate-limit script answered ${describe(reply)}`));
      return decision;
    };
    const fail = (error: unknown): never => {
      throw this.#failure(pending, error);
    };
    return command.promise.then(answer, (error: unknown) => {
      // After a restart, failover or SCRIPT FLUSH: EVAL once, which caches the script again.
      // EVAL, not SCRIPT LOAD: it goes to the node that owns the keys, also in a Cluster.
      if (!noScript(pending, error)) return fail(error);
      command = scriptCommand(client, 'eval', scriptArgs(script.source, this.keyBase, buckets, now, this.clock));
      client.sendCommand(command);
      return command.promise.then(answer, fail);
    });
  }

  /**
   * Sends `command` first (what follows then runs while Redis works) and starts its deadline:
   * at it, `expire` gets the reported timeout error (a late reply then finds the call settled).
   */
  #start(command: Command, expire: (timeout: RedisRateLimitError) => void): Pending {
    this.client.sendCommand(command);
    this.#inFlight++;
    return this.#deadlines.add(() => {
      this.#inFlight--;
      expire(this.#report(new RedisRateLimitError('timeout', `Redis did not answer within ${this.timeoutMs} ms`)));
    });
  }

  /** What a failed command fails its calls with: past the deadline, the timeout error already reported. */
  #failure(pending: Pending, error: unknown): unknown {
    if (!pending.settle()) return error;
    this.#inFlight--;
    return this.#report(new RedisRateLimitError('redis_error', `Redis failed: ${(error as Error)?.message ?? String(error)}`, error));
  }

  #unavailable(): RedisRateLimitError {
    return this.#report(new RedisRateLimitError('unavailable', `Redis client is ${this.client.status}`));
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
