import { describe } from '../bytes.js';
import type { BucketRequest, RateLimitDecision, RateLimitStore } from '../contracts.js';

interface Bucket {
  /** Tokens × windowMs, so refill adds exactly `capacity` units per millisecond (rule R4). */
  level: number;
  /**
   * The latest time this bucket has counted refill up to. It never moves back: a clock that
   * steps back and forward again must not refill the same milliseconds twice.
   */
  last: number;
  capacity: number;
  windowMs: number;
  /** Its key in the map, so that reclaiming needs no second lookup. */
  readonly key: string;
}

/** Below this many buckets nothing is reclaimed: a small map costs little. */
const RECLAIM_FROM = 1024;
/** Buckets examined for reclaiming per bucket a call takes from: more than a call can add. */
const RECLAIM_STEPS_PER_BUCKET = 2;

/**
 * In-process token buckets with continuous refill. A bucket that has refilled completely is
 * the same as no bucket, so each call also examines a few held buckets (twice as many as it
 * touches, in map order, resuming where the previous call stopped) and drops the full ones:
 * bounded work per call, and memory follows the agents that are actually being limited, not
 * every agent ever seen, without anyone calling {@link sweep}.
 *
 * Time only moves forward for a bucket: each keeps the latest time it has counted, and a
 * call with an earlier `now` refills nothing (a clock stepping back and forth again cannot
 * refill a bucket twice for the same time). A bucket dropped as full and needed again starts
 * full, counted from no earlier than the time it was full: over any sequence of calls a
 * bucket admits at most `capacity + capacity × (latest now − first now) / windowMs`.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  /** `tokens`: a request may take several tokens from one bucket (`BucketRequest.tokens`). */
  readonly supports = Object.freeze({ tokens: true });
  readonly #buckets = new Map<string, Bucket>();
  /** Where reclaiming resumes; a Map iterator sees entries added and skips those deleted. */
  #cursor: IterableIterator<Bucket> | undefined;
  /** The latest time from which a dropped bucket was full: a recreated bucket counts from no earlier. */
  #reclaimedAt = -Infinity;
  // Reused between calls: consume is synchronous, so no two calls share them at once. They
  // keep each bucket's lookup from the checking pass for the taking pass.
  readonly #levels: number[] = [];
  readonly #times: number[] = [];
  readonly #found: (Bucket | undefined)[] = [];

  consume(buckets: readonly BucketRequest[], now: number): RateLimitDecision {
    if (typeof now !== 'number' || now !== now || now === Infinity || now === -Infinity) {
      throw new RangeError(`now must be a finite number of milliseconds, got ${describe(now)}`);
    }
    const levels = this.#levels;
    const times = this.#times;
    const found = this.#found;
    let retryAfterMs = 0;
    let limitedBy: string | undefined;
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i]!;
      const bucket = this.#buckets.get(b.key);
      // The time this bucket is at after the call: never earlier than it already counted.
      const since = bucket === undefined ? this.#reclaimedAt : bucket.last;
      const at = now > since ? now : since;
      const units = level(bucket, b.capacity, b.windowMs, at);
      found[i] = bucket;
      levels[i] = units;
      times[i] = at;
      const need = b.windowMs * (b.tokens ?? 1);
      if (units < need) {
        limitedBy ??= b.key;
        // From the caller's `now`: a clock behind the bucket's time waits for it too.
        retryAfterMs = Math.max(retryAfterMs, Math.ceil((need - units) / b.capacity + (at - now)));
      }
    }
    if (limitedBy !== undefined) {
      found.fill(undefined);
      this.#reclaim(now, buckets.length);
      return { allowed: false, remaining: 0, retryAfterMs, limitedBy };
    }
    let remaining = Infinity;
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i]!;
      const left = levels[i]! - b.windowMs * (b.tokens ?? 1);
      const existing = found[i];
      found[i] = undefined;
      if (existing) {
        existing.level = left;
        existing.last = times[i]!;
        existing.capacity = b.capacity;
        existing.windowMs = b.windowMs;
      } else {
        this.#buckets.set(b.key, { level: left, last: times[i]!, capacity: b.capacity, windowMs: b.windowMs, key: b.key });
      }
      remaining = Math.min(remaining, Math.floor(left / b.windowMs));
    }
    this.#reclaim(now, buckets.length);
    return { allowed: true, remaining: remaining === Infinity ? 0 : remaining, retryAfterMs: 0 };
  }

  /**
   * Examines the next few buckets in map order and drops those full at `now`. Called by
   * every `consume`, with `RECLAIM_STEPS_PER_BUCKET` steps per bucket of the call: a call adds
   * at most one bucket per bucket it names, so a pass over the map always ends, and a bucket
   * that went full is dropped within about one pass (amortized O(1) per bucket per call).
   */
  #reclaim(now: number, touched: number): void {
    if (this.#buckets.size < RECLAIM_FROM) return;
    let cursor = this.#cursor ?? this.#buckets.values();
    for (let steps = RECLAIM_STEPS_PER_BUCKET * (touched > 0 ? touched : 1); steps > 0; steps--) {
      const next = cursor.next();
      if (next.done === true) {
        // One pass done; the next starts at the (current) first entry.
        cursor = this.#buckets.values();
        break;
      }
      this.#dropIfFull(next.value, now);
    }
    this.#cursor = cursor;
  }

  #dropIfFull(bucket: Bucket, now: number): boolean {
    const at = now > bucket.last ? now : bucket.last;
    const full = bucket.capacity * bucket.windowMs;
    if (level(bucket, bucket.capacity, bucket.windowMs, at) < full) return false;
    this.#buckets.delete(bucket.key);
    // A bucket made again later must not count refill for time before this one was full.
    const fullAt = Math.min(at, Math.ceil(bucket.last + (full - bucket.level) / bucket.capacity));
    if (fullAt > this.#reclaimedAt) this.#reclaimedAt = fullAt;
    return true;
  }

  /**
   * What {@link consume} would answer at `now`, taking no token and changing no bucket (the
   * `peek` capability that `policy.evaluate` uses for its dry runs).
   */
  peek(buckets: readonly BucketRequest[], now: number): RateLimitDecision {
    if (typeof now !== 'number' || now !== now || now === Infinity || now === -Infinity) {
      throw new RangeError(`now must be a finite number of milliseconds, got ${describe(now)}`);
    }
    let retryAfterMs = 0;
    let limitedBy: string | undefined;
    let remaining = Infinity;
    for (const b of buckets) {
      const bucket = this.#buckets.get(b.key);
      const since = bucket === undefined ? this.#reclaimedAt : bucket.last;
      const at = now > since ? now : since;
      const units = level(bucket, b.capacity, b.windowMs, at);
      // The tokens `consume` would take: several for a request that says so (`tokens`).
      const need = b.windowMs * (b.tokens ?? 1);
      if (units < need) {
        limitedBy ??= b.key;
        retryAfterMs = Math.max(retryAfterMs, Math.ceil((need - units) / b.capacity + (at - now)));
      } else remaining = Math.min(remaining, Math.floor((units - need) / b.windowMs));
    }
    if (limitedBy !== undefined) return { allowed: false, remaining: 0, retryAfterMs, limitedBy };
    return { allowed: true, remaining: remaining === Infinity ? 0 : remaining, retryAfterMs: 0 };
  }

  /**
   * Drops every bucket that has refilled completely by `now` and returns how many are left.
   * Never needed: `consume` reclaims full buckets on its own, a few per call. This does the
   * whole map at once (O(buckets)), e.g. before measuring memory.
   */
  sweep(now: number): number {
    if (typeof now !== 'number' || now !== now) throw new RangeError(`now must be a number of milliseconds, got ${describe(now)}`);
    for (const bucket of this.#buckets.values()) this.#dropIfFull(bucket, now);
    return this.#buckets.size;
  }

  /** Buckets currently held (read-only; full buckets may be dropped at any time). */
  get size(): number {
    return this.#buckets.size;
  }
}

/** Units in `bucket` at `at` (no earlier than `bucket.last`): refilled continuously, capped at full. */
function level(bucket: Bucket | undefined, capacity: number, windowMs: number, at: number): number {
  const full = capacity * windowMs;
  if (bucket === undefined) return full;
  const units = bucket.level + (at - bucket.last) * capacity;
  return units < full ? units : full;
}
