import type { BucketRequest, RateLimitDecision, RateLimitStore } from '../contracts.js';

interface Bucket {
  /** Tokens × windowMs, so refill adds exactly `capacity` units per millisecond (rule R4). */
  level: number;
  last: number;
  capacity: number;
  windowMs: number;
}

const MIN_SWEEP = 1024;

/**
 * In-process token buckets with continuous refill. A full bucket is the same as no bucket,
 * so full buckets are swept away as the map grows: memory follows the agents that are
 * actually being limited, not every agent ever seen.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #buckets = new Map<string, Bucket>();
  #sweepAt = MIN_SWEEP;
  // Reused between calls: consume is synchronous, so no two calls share them at once. They
  // keep each bucket's lookup from the checking pass for the taking pass.
  readonly #levels: number[] = [];
  readonly #found: (Bucket | undefined)[] = [];

  consume(buckets: readonly BucketRequest[], now: number): RateLimitDecision {
    const levels = this.#levels;
    const found = this.#found;
    let retryAfterMs = 0;
    let limitedBy: string | undefined;
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i]!;
      const bucket = this.#buckets.get(b.key);
      const units = level(bucket, b.capacity, b.windowMs, now);
      found[i] = bucket;
      levels[i] = units;
      if (units < b.windowMs) {
        limitedBy ??= b.key;
        retryAfterMs = Math.max(retryAfterMs, Math.ceil((b.windowMs - units) / b.capacity));
      }
    }
    if (limitedBy !== undefined) {
      found.fill(undefined);
      return { allowed: false, remaining: 0, retryAfterMs, limitedBy };
    }
    let remaining = Infinity;
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i]!;
      const left = levels[i]! - b.windowMs;
      const existing = found[i];
      found[i] = undefined;
      if (existing) {
        existing.level = left;
        existing.last = now;
        existing.capacity = b.capacity;
        existing.windowMs = b.windowMs;
      } else {
        this.#buckets.set(b.key, { level: left, last: now, capacity: b.capacity, windowMs: b.windowMs });
      }
      remaining = Math.min(remaining, Math.floor(left / b.windowMs));
    }
    if (this.#buckets.size >= this.#sweepAt) this.sweep(now);
    return { allowed: true, remaining: remaining === Infinity ? 0 : remaining, retryAfterMs: 0 };
  }

  /** Drops buckets that have refilled completely; returns how many are left. */
  sweep(now: number): number {
    for (const [key, bucket] of this.#buckets) {
      if (level(bucket, bucket.capacity, bucket.windowMs, now) >= bucket.capacity * bucket.windowMs) this.#buckets.delete(key);
    }
    this.#sweepAt = Math.max(MIN_SWEEP, this.#buckets.size * 2);
    return this.#buckets.size;
  }

  /** Buckets currently held (full buckets may be dropped at any time). */
  get size(): number {
    return this.#buckets.size;
  }
}

/** Units in `bucket` at `now`: refilled continuously, capped at full. */
function level(bucket: Bucket | undefined, capacity: number, windowMs: number, now: number): number {
  const full = capacity * windowMs;
  if (bucket === undefined) return full;
  const elapsed = now > bucket.last ? now - bucket.last : 0;
  const units = bucket.level + elapsed * capacity;
  return units < full ? units : full;
}
