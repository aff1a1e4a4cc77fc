import { OPERATIONS, type Operation } from '../actions.js';
import { describe } from '../bytes.js';
import type { BucketRequest } from '../contracts.js';
import type { ContextMap } from '../context.js';

/** `read`, `write`, `delete`, or `all` of them (rule R1). */
export type RateLimitOperation = Operation | 'all';

export interface RateLimitOptions {
  /** Bucket capacity and refill per `windowMs` (rule R3). A positive integer. */
  maxPerMinute: number;
  /**
   * `global` (one bucket), `agent_id`, `session_id`, or any context key (one bucket per
   * value; a missing or empty value shares the bucket `unknown`, rule R5). @default 'global'
   */
  scope?: string;
  /** Refill period: `maxPerMinute` tokens are added per `windowMs`, continuously. @default 60000 */
  windowMs?: number;
}

/** A validated rate limit, with the id that keys its buckets. */
export interface RateLimit {
  readonly id: string;
  readonly operation: RateLimitOperation;
  readonly maxPerMinute: number;
  readonly scope: string;
  readonly windowMs: number;
}

export const UNKNOWN_SCOPE_VALUE = 'unknown';
const LIMIT_OPERATIONS: readonly string[] = [...OPERATIONS, 'all'];

const OPTION_NAMES: readonly string[] = ['maxPerMinute', 'scope', 'windowMs'];

/** Reads `addRateLimit`'s two call forms and rejects bad configuration (rule R8). */
export function parseRateLimit(operation: unknown, maxOrOptions: unknown, scopeArg: unknown): Omit<RateLimit, 'id'> {
  if (typeof operation !== 'string') {
    throw new TypeError(`operation must be a string (one of ${LIMIT_OPERATIONS.join(', ')}), got ${describe(operation)} (rule R1)`);
  }
  if (!LIMIT_OPERATIONS.includes(operation)) {
    throw new RangeError(`operation must be one of ${LIMIT_OPERATIONS.join(', ')}, got ${describe(operation)} (rule R8)`);
  }
  let options: RateLimitOptions;
  let where = '';
  if (typeof maxOrOptions === 'number') {
    options = { maxPerMinute: maxOrOptions, scope: scopeArg as string | undefined };
  } else if (maxOrOptions !== null && typeof maxOrOptions === 'object' && !Array.isArray(maxOrOptions)) {
    if (scopeArg !== undefined) {
      throw new TypeError(`scope must be given inside the options object, not as a third argument, got ${describe(scopeArg)} as the third argument`);
    }
    // Own properties only, and no unknown ones: a misspelt `windowMS` must not silently mean the default.
    for (const name of Object.keys(maxOrOptions)) {
      if (!OPTION_NAMES.includes(name)) {
        throw new RangeError(`options.${name} is not a rate-limit option; the options are ${OPTION_NAMES.join(', ')}`);
      }
    }
    const own = (name: string): unknown => (Object.prototype.hasOwnProperty.call(maxOrOptions, name) ? (maxOrOptions as Record<string, unknown>)[name] : undefined);
    options = { maxPerMinute: own('maxPerMinute') as number, scope: own('scope') as string | undefined, windowMs: own('windowMs') as number | undefined };
    where = 'options.';
  } else {
    throw new TypeError(`rate limit must be a number (maxPerMinute) or an object { maxPerMinute, scope?, windowMs? } as the second argument, got ${describe(maxOrOptions)}`);
  }
  const max = options.maxPerMinute;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) {
    throw new RangeError(`${where}maxPerMinute must be a positive integer, got ${describe(max)} (rule R8)`);
  }
  const scope = options.scope === undefined ? 'global' : options.scope;
  if (typeof scope !== 'string') throw new TypeError(`${where}scope must be a string ('global', 'agent_id', 'session_id' or a context key), got ${describe(scope)}`);
  if (scope.length === 0) throw new RangeError(`${where}scope must not be empty, got ${describe(scope)} (rule R8)`);
  const windowMs = options.windowMs === undefined ? 60_000 : options.windowMs;
  if (typeof windowMs !== 'number' || !Number.isSafeInteger(windowMs) || windowMs < 1) {
    throw new RangeError(`${where}windowMs must be a positive integer (milliseconds), got ${describe(windowMs)}`);
  }
  // Stores count in units of tokens × windowMs; past 2^53 a take would no longer change the level.
  if (max * windowMs > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`${where}maxPerMinute × windowMs must be at most ${Number.MAX_SAFE_INTEGER} (2^53 − 1, exact arithmetic), got ${max} × ${windowMs}`);
  }
  return { operation: operation as RateLimitOperation, maxPerMinute: max, scope, windowMs };
}

/** Which limit applies to `operation` (rule R2). */
export function appliesTo(limit: RateLimit, operation: Operation): boolean {
  return limit.operation === 'all' || limit.operation === operation;
}

/**
 * The scope value of one operation's context (rule R5). Only the context's own properties
 * count: a context without an own `constructor` (or `toString`, `__proto__`, ...) is in the
 * bucket `unknown`, not in one named after an `Object.prototype` member.
 */
export function scopeValue(scope: string, context: ContextMap): string {
  if (scope === 'global') return 'global';
  if (context === null || typeof context !== 'object' || !Object.prototype.hasOwnProperty.call(context, scope)) return UNKNOWN_SCOPE_VALUE;
  const value: unknown = context[scope];
  if (value === undefined || value === '') return UNKNOWN_SCOPE_VALUE;
  if (typeof value !== 'string') throw new TypeError(`context.${scope} must be a string, got ${describe(value)}`);
  return value;
}

/** One bucket per limit and scope value (rule R6: limits never share buckets). */
export function bucketFor(limit: RateLimit, context: ContextMap): BucketRequest {
  return {
    key: `${limit.id}|${encodeScopeValue(scopeValue(limit.scope, context))}`,
    capacity: limit.maxPerMinute,
    windowMs: limit.windowMs,
  };
}

// Characters encodeURIComponent leaves as they are: most ids need no encoding call at all.
const UNRESERVED = /^[A-Za-z0-9\-_.!~*'()]*$/;

/**
 * A scope value as it appears in a bucket key: unchanged when it holds only characters that
 * encodeURIComponent leaves alone, else URI-encoded. The two forms cannot meet (only the
 * encoded one holds `%`), and encoding is one-to-one on well-formed text, so distinct values
 * get distinct buckets. Text with a lone surrogate (an id cut inside an emoji) is first made
 * well-formed as UTF-8 encoding would, each lone surrogate becoming U+FFFD: the same lossy
 * rule as keys (P7), and the only way two distinct values share a bucket.
 */
export function encodeScopeValue(value: string): string {
  return UNRESERVED.test(value) ? value : encodeURIComponent(toWellFormed(value));
}

// String.prototype.isWellFormed/toWellFormed are in Node 20 but not in TypeScript's ES2022 library.
interface WellFormed {
  isWellFormed?(): boolean;
  toWellFormed?(): string;
}

/** `text` with every lone surrogate replaced by U+FFFD, as encoding it to UTF-8 would. */
export function toWellFormed(text: string): string {
  const s = text as unknown as WellFormed;
  if (typeof s.toWellFormed === 'function') return s.toWellFormed();
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** Scope values remembered per limit; past this many the memory is simply forgotten. */
const RECENT_SCOPE_VALUES = 4096;

/**
 * {@link bucketFor} for one limit, remembering the requests of recent scope values. Agents
 * come back, and handing the store the very same key string (whose hash V8 has already
 * computed) saves building and hashing a new one on every operation. Bounded, so a million
 * distinct agents cost no more memory here than a few thousand.
 */
export class LimitBuckets {
  readonly limit: RateLimit;
  /** The only request of a `global` limit. */
  readonly #global: BucketRequest | undefined;
  readonly #recent = new Map<string, BucketRequest>();

  constructor(limit: RateLimit) {
    this.limit = limit;
    this.#global = limit.scope === 'global' ? Object.freeze(bucketFor(limit, {})) : undefined;
  }

  /** The bucket this limit takes a token from for an operation with `context`. */
  request(context: ContextMap): BucketRequest {
    if (this.#global !== undefined) return this.#global;
    const value = scopeValue(this.limit.scope, context);
    let request = this.#recent.get(value);
    if (request === undefined) {
      if (this.#recent.size >= RECENT_SCOPE_VALUES) this.#recent.clear();
      // Frozen because it is shared by every operation of this scope value.
      request = Object.freeze(bucketFor(this.limit, context));
      this.#recent.set(value, request);
    }
    return request;
  }
}

/**
 * Limit ids are derived from the configuration, so processes that register the same limits
 * share buckets in a shared store; an identical second limit gets its own buckets (R6).
 */
export function rateLimitId(limit: Omit<RateLimit, 'id'>, taken: ReadonlySet<string>): string {
  const base = `${limit.operation}|${encodeURIComponent(toWellFormed(limit.scope))}|${limit.maxPerMinute}/${limit.windowMs}`;
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}#${n}`;
  return id;
}
