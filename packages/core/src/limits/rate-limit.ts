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

/** Reads `addRateLimit`'s two call forms and rejects bad configuration (rule R8). */
export function parseRateLimit(operation: unknown, maxOrOptions: unknown, scopeArg: unknown): Omit<RateLimit, 'id'> {
  if (typeof operation !== 'string') throw new TypeError(`operation must be a string, got ${describe(operation)}`);
  if (!LIMIT_OPERATIONS.includes(operation)) {
    throw new RangeError(`operation must be one of ${LIMIT_OPERATIONS.join(', ')}, got ${JSON.stringify(operation)} (rule R8)`);
  }
  let options: RateLimitOptions;
  if (typeof maxOrOptions === 'number') {
    options = { maxPerMinute: maxOrOptions, scope: scopeArg as string | undefined };
  } else if (maxOrOptions !== null && typeof maxOrOptions === 'object' && !Array.isArray(maxOrOptions)) {
    if (scopeArg !== undefined) throw new TypeError('scope must be given inside the options object, not as a third argument');
    options = maxOrOptions as RateLimitOptions;
  } else {
    throw new TypeError(`rate limit must be a number (maxPerMinute) or { maxPerMinute, scope }, got ${describe(maxOrOptions)}`);
  }
  const max = options.maxPerMinute;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) {
    throw new RangeError(`maxPerMinute must be a positive integer, got ${describe(max)} (rule R8)`);
  }
  const scope = options.scope ?? 'global';
  if (typeof scope !== 'string') throw new TypeError(`scope must be a string, got ${describe(scope)}`);
  if (scope.length === 0) throw new RangeError('scope must not be empty (rule R8)');
  const windowMs = options.windowMs ?? 60_000;
  if (typeof windowMs !== 'number' || !Number.isSafeInteger(windowMs) || windowMs < 1) {
    throw new RangeError(`windowMs must be a positive integer, got ${describe(windowMs)}`);
  }
  return { operation: operation as RateLimitOperation, maxPerMinute: max, scope, windowMs };
}

/** Which limit applies to `operation` (rule R2). */
export function appliesTo(limit: RateLimit, operation: Operation): boolean {
  return limit.operation === 'all' || limit.operation === operation;
}

/** The scope value of one operation's context (rule R5). */
export function scopeValue(scope: string, context: ContextMap): string {
  if (scope === 'global') return 'global';
  const value = context[scope];
  return value === undefined || value === '' ? UNKNOWN_SCOPE_VALUE : value;
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

function encodeScopeValue(value: string): string {
  return UNRESERVED.test(value) ? value : encodeURIComponent(value);
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
  const base = `${limit.operation}|${encodeURIComponent(limit.scope)}|${limit.maxPerMinute}/${limit.windowMs}`;
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}#${n}`;
  return id;
}
