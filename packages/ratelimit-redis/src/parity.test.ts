import { MemoryRateLimitStore, type BucketRequest } from '@sochdb-policy/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRateLimitStore } from './redis-rate-limit-store.js';
import { redisAvailability, startRedisServer, type RedisServer } from './testing/index.js';

const redis = redisAvailability();

// Keys expire on Redis' clock, not the caller's: windows of a second or more keep a stalled
// test machine from expiring a key the fake clock still needs.
const bucketArb = fc.record({
  capacity: fc.integer({ min: 1, max: 4 }),
  windowMs: fc.integer({ min: 1_000, max: 4_000 }),
});
// Mostly small steps, so buckets run empty; some by fractions of a millisecond (a fake clock
// may), some long or backwards (clamped: a clock going back refills nothing).
const stepArb = fc.record({
  dt: fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 5 }), weight: 4 },
    { arbitrary: fc.integer({ min: 1, max: 400 }).map((n) => n / 8), weight: 3 },
    { arbitrary: fc.integer({ min: -200, max: 3_000 }), weight: 1 },
  ),
  pick: fc.array(fc.nat({ max: 2 }), { minLength: 1, maxLength: 3 }),
  // Several tokens at once (an engine batch), sometimes more than a bucket holds (capacity ≤ 4).
  tokens: fc.array(fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 6 }), weight: 2 }), { minLength: 3, maxLength: 3 }),
});

describe.skipIf(!redis.available)(`RedisRateLimitStore decides like MemoryRateLimitStore${redis.reason ? ` (skipped: ${redis.reason})` : ''}`, () => {
  let server: RedisServer;
  let store: RedisRateLimitStore;
  beforeAll(async () => {
    server = await startRedisServer();
    store = new RedisRateLimitStore({ url: server.url, clock: 'caller', keyPrefix: `parity-${process.pid}-${Date.now()}:` });
  });
  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  /** The calls of a schedule: each step's buckets (some asking several tokens) and its now. */
  function calls(shapes: { capacity: number; windowMs: number }[], steps: { dt: number; pick: number[]; tokens: (number | undefined)[] }[], tag: string) {
    const buckets: BucketRequest[] = shapes.map((s, i) => ({ key: `${process.pid}:${tag}:${i}`, ...s }));
    let now = 1_700_000_000_000;
    return steps.map((step) => {
      now += step.dt;
      const request = step.pick.map((i, j) => (step.tokens[j] === undefined ? buckets[i]! : { ...buckets[i]!, tokens: step.tokens[j] }));
      return { request, now };
    });
  }

  // Same units (tokens × windowMs), same refill, same all-or-nothing: every answer equal,
  // including remaining, retryAfterMs and limitedBy (rules R3, R4, R7), also for calls that
  // take several tokens from a bucket (BucketRequest.tokens).
  it('gives the same answer for every call of a random schedule (rules R3, R4, R7)', async () => {
    let run = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(bucketArb, { minLength: 3, maxLength: 3 }), fc.array(stepArb, { minLength: 20, maxLength: 40 }), async (shapes, steps) => {
        const memory = new MemoryRateLimitStore();
        for (const { request, now } of calls(shapes, steps, `${++run}`)) {
          const expected = memory.consume(request, now);
          expect(await store.consume(request, now)).toEqual(expected);
          if (!expected.allowed) rejected++;
        }
      }),
      { numRuns: 100 },
    );
    // The schedules must reach empty buckets, or the comparison proves little.
    expect(rejected).toBeGreaterThan(500);
  });

  // Calls made together (concurrent operations) go to Redis as one script run after the first:
  // each must still get the answer the same calls made one after another get, in the order made.
  it('gives the same answers to calls made together, batched into one script run, as to the same calls in order', async () => {
    let run = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(bucketArb, { minLength: 3, maxLength: 3 }), fc.array(stepArb, { minLength: 2, maxLength: 40 }), async (shapes, steps) => {
        const memory = new MemoryRateLimitStore();
        const schedule = calls(shapes, steps, `batch:${++run}`);
        const expected = schedule.map(({ request, now }) => memory.consume(request, now));
        const answers = schedule.map(({ request, now }) => store.consume(request, now));
        expect(await Promise.all(answers)).toEqual(expected);
        rejected += expected.filter((e) => !e.allowed).length;
      }),
      { numRuns: 100 },
    );
    expect(rejected).toBeGreaterThan(300);
  });
});
