import { MemoryRateLimitStore, type BucketRequest, type RateLimitStore } from '@sochdb-policy/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRateLimitStore } from './redis-rate-limit-store.js';
import { redisAvailability, startRedisServer, type RedisServer } from './testing/index.js';

const redis = redisAvailability();

// Issue 10 item 4 (rule R4): with `clock: 'caller'`, a clock that steps back set the bucket's
// last refill to the earlier time, and stepping forward again refilled it twice (20 admitted at
// capacity 10 with no time passing). A bucket never refills for time it already counted.
//
// Keys expire on Redis' clock, not the caller's: windows of 20 s or more keep a slow test
// machine from expiring a key the fake clock still needs.
const shapeArb = fc.record({ capacity: fc.integer({ min: 1, max: 10 }), windowMs: fc.integer({ min: 20_000, max: 120_000 }) });
const stepArb = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 2_000 }), weight: 4 },
  { arbitrary: fc.integer({ min: 1, max: 400 }).map((n) => n / 8), weight: 1 },
  { arbitrary: fc.integer({ min: -200_000, max: -1 }), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 60_000 }), weight: 1 },
);
const scheduleArb = fc.array(fc.tuple(stepArb, fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 40 });

/** Runs one schedule on one bucket; true when admitted ≤ capacity + rate × (latest now − first now). */
async function withinBound(store: RateLimitStore, b: BucketRequest, steps: [number, number][]): Promise<{ admitted: number; bound: number }> {
  let now = 1_700_000_000_000;
  let first: number | undefined;
  let latest = -Infinity;
  let admitted = 0;
  for (const [dt, calls] of steps) {
    now += dt;
    first ??= now;
    if (now > latest) latest = now;
    for (let i = 0; i < calls; i++) if ((await store.consume([b], now)).allowed) admitted++;
  }
  return { admitted, bound: b.capacity + (b.capacity * (latest - first!)) / b.windowMs };
}

describe('MemoryRateLimitStore: clocks that step back (rule R4)', () => {
  it('admits at most capacity + rate × (latest now − first now) over any clock sequence', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb, scheduleArb, async (shape, steps) => {
        const { admitted, bound } = await withinBound(new MemoryRateLimitStore(), { key: 'b', ...shape }, steps);
        expect(admitted).toBeLessThanOrEqual(bound);
      }),
      { numRuns: 300 },
    );
  });
});

describe.skipIf(!redis.available)(`RedisRateLimitStore, clock 'caller': clocks that step back (rule R4)${redis.reason ? ` (skipped: ${redis.reason})` : ''}`, () => {
  let server: RedisServer;
  let store: RedisRateLimitStore;
  beforeAll(async () => {
    server = await startRedisServer();
    store = new RedisRateLimitStore({ url: server.url, clock: 'caller', keyPrefix: `clock-${process.pid}-${Date.now()}:` });
  });
  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  it('steps back then forward: 10 admitted at capacity 10, not 20', async () => {
    const b: BucketRequest = { key: 'example', capacity: 10, windowMs: 60_000 };
    const t = 1_700_000_000_000;
    let admitted = 0;
    for (const [at, calls] of [[t, 5], [t - 60_000, 5], [t, 10]] as const) {
      for (let i = 0; i < calls; i++) if ((await store.consume([b], at)).allowed) admitted++;
    }
    expect(admitted).toBe(10);
  });

  it('admits at most capacity + rate × (latest now − first now) over any clock sequence', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(shapeArb, scheduleArb, async (shape, steps) => {
        const { admitted, bound } = await withinBound(store, { key: `run-${run++}`, ...shape }, steps);
        expect(admitted).toBeLessThanOrEqual(bound);
      }),
      { numRuns: 150 },
    );
  });
});
