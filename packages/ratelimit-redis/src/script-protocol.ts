import type { BucketRequest, RateLimitDecision } from '@sochdb-policy/core';
import { describe } from './describe.js';
import type { RedisClock } from './options.js';

/** Checks what the engine (or anyone) hands `consume`, so that Redis never sees a bad number. */
export function validateRequest(buckets: readonly BucketRequest[], now: number, clock: RedisClock): void {
  if (!Array.isArray(buckets)) throw new TypeError(`buckets must be an array, got ${describe(buckets)}`);
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i];
    if (b === null || typeof b !== 'object') throw new TypeError(`buckets[${i}] must be a BucketRequest, got ${describe(b)}`);
    if (typeof b.key !== 'string') throw new TypeError(`buckets[${i}].key must be a string, got ${describe(b.key)}`);
    // Redis keys are bytes: a lone surrogate would be written as U+FFFD and two keys would meet.
    // (The engine's keys are URI-encoded, always well-formed.)
    if (!(b.key as unknown as { isWellFormed(): boolean }).isWellFormed()) {
      throw new RangeError(`buckets[${i}].key must be well-formed text (no lone surrogate), got ${describe(b.key)}`);
    }
    if (typeof b.capacity !== 'number' || !(b.capacity > 0) || !Number.isFinite(b.capacity)) {
      throw new RangeError(`buckets[${i}].capacity must be a positive number, got ${describe(b.capacity)}`);
    }
    if (typeof b.windowMs !== 'number' || !(b.windowMs > 0) || !Number.isFinite(b.windowMs)) {
      throw new RangeError(`buckets[${i}].windowMs must be a positive number, got ${describe(b.windowMs)}`);
    }
    // Levels count tokens × windowMs; past 2^53 a take would no longer change the level.
    if (b.capacity * b.windowMs > Number.MAX_SAFE_INTEGER) {
      throw new RangeError(`buckets[${i}].capacity × windowMs must be at most ${Number.MAX_SAFE_INTEGER}, got ${b.capacity} × ${b.windowMs}`);
    }
    // Several tokens at once (supports.tokens): whole tokens, counted exactly in the same units.
    const tokens = b.tokens;
    if (tokens !== undefined) {
      if (typeof tokens !== 'number' || !Number.isSafeInteger(tokens) || tokens < 1) {
        throw new RangeError(`buckets[${i}].tokens must be a positive integer (or absent for 1), got ${describe(tokens)}`);
      }
      if (tokens * b.windowMs > Number.MAX_SAFE_INTEGER) {
        throw new RangeError(`buckets[${i}].tokens × windowMs must be at most ${Number.MAX_SAFE_INTEGER}, got ${tokens} × ${b.windowMs}`);
      }
    }
  }
  // The server clock ignores `now`; the caller clock sends it to the script.
  if (clock === 'caller') {
    if (typeof now !== 'number') throw new TypeError(`now must be a number, got ${describe(now)}`);
    if (!Number.isFinite(now)) throw new RangeError(`now must be finite, got ${describe(now)}`);
  }
}

/**
 * The whole argument list of EVALSHA or EVAL (see script.ts): `head` (the script's SHA1 or its
 * text), the number of keys, the keys, then now ('' for the server's TIME), then capacity and
 * windowMs of each bucket, and its tokens too (1 when absent) only when some bucket takes more
 * than one. String(number) gives the shortest text that reads back as the same double, so the
 * script computes with exactly the caller's numbers.
 */
export function scriptArgs(head: string, keyBase: string, buckets: readonly BucketRequest[], now: number, clock: RedisClock): (string | number)[] {
  const n = buckets.length;
  let several = false;
  for (let i = 0; i < n && !several; i++) {
    const tokens = buckets[i]!.tokens;
    several = tokens !== undefined && tokens !== 1;
  }
  const stride = several ? 3 : 2;
  const args = new Array<string | number>(n * (stride + 1) + 3);
  args[0] = head;
  args[1] = n;
  args[n + 2] = clock === 'caller' ? String(now) : '';
  for (let i = 0; i < n; i++) {
    const b = buckets[i]!;
    const at = n + 3 + stride * i;
    args[i + 2] = keyBase + b.key;
    args[at] = String(b.capacity);
    args[at + 1] = String(b.windowMs);
    if (several) args[at + 2] = b.tokens === undefined ? '1' : String(b.tokens);
  }
  return args;
}

/** One call of a batch: its buckets and its now. */
export interface ScriptCall {
  readonly buckets: readonly BucketRequest[];
  readonly now: number;
}

/**
 * The argument list of CONSUME_MANY_SCRIPT for `calls`: `head`, the number of keys, every
 * call's keys, the number of calls, then per call its key count, its argument count and its
 * arguments, each call's keys and arguments exactly those {@link scriptArgs} gives it alone.
 */
export function manyArgs(head: string, keyBase: string, calls: readonly ScriptCall[], clock: RedisClock): (string | number)[] {
  const keys: (string | number)[] = [];
  const argv: (string | number)[] = [calls.length];
  for (const call of calls) {
    const one = scriptArgs('', keyBase, call.buckets, call.now, clock);
    const n = call.buckets.length;
    for (let i = 0; i < n; i++) keys.push(one[i + 2]!);
    argv.push(n, one.length - n - 2);
    for (let i = n + 2; i < one.length; i++) argv.push(one[i]!);
  }
  return [head, keys.length, ...keys, ...argv];
}

/**
 * The script answers the remaining tokens (an integer) when it admits, or
 * [retryAfterMs, 1-based index of the first rejecting bucket] when not; anything else is
 * undefined here (a bad reply).
 */
export function toDecision(reply: unknown, buckets: readonly BucketRequest[]): RateLimitDecision | undefined {
  if (typeof reply === 'number') return { allowed: true, remaining: reply, retryAfterMs: 0 };
  if (!Array.isArray(reply) || reply.length !== 2) return undefined;
  const [retryAfterMs, index] = reply as unknown[];
  const limitedBy = typeof index === 'number' ? buckets[index - 1]?.key : undefined;
  if (typeof retryAfterMs !== 'number' || limitedBy === undefined) return undefined;
  return { allowed: false, remaining: 0, retryAfterMs, limitedBy };
}
