import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BucketRequest } from '../contracts.js';
import { MemoryRateLimitStore } from './memory-rate-limit-store.js';

// Issue 10 item 4 (rule R4): a bucket never refills for time it already counted.
// Clock steps: mostly small, some by fractions of a millisecond, some backwards by up to
// several windows, some long.
const stepArb = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 50 }), weight: 4 },
  { arbitrary: fc.integer({ min: 1, max: 400 }).map((n) => n / 8), weight: 2 },
  { arbitrary: fc.integer({ min: -20_000, max: -1 }), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 5_000 }), weight: 1 },
);
const shapeArb = fc.record({ capacity: fc.integer({ min: 1, max: 10 }), windowMs: fc.integer({ min: 100, max: 10_000 }) });

describe('MemoryRateLimitStore and clocks that go back (rule R4)', () => {
  it('over any clock sequence, admitted ≤ capacity + rate × (latest now − first now)', () => {
    fc.assert(
      fc.property(shapeArb, fc.array(fc.tuple(stepArb, fc.integer({ min: 1, max: 3 })), { minLength: 1, maxLength: 120 }), (shape, steps) => {
        const store = new MemoryRateLimitStore();
        const b: BucketRequest = { key: 'b', ...shape };
        const first = 1_700_000_000_000;
        let now = first;
        let latest = first;
        let admitted = 0;
        for (const [dt, calls] of steps) {
          now += dt;
          if (now > latest) latest = now;
          for (let i = 0; i < calls; i++) if (store.consume([b], now).allowed) admitted++;
        }
        // The first call is at first + steps[0].dt, which may be before `first`.
        const start = Math.min(first, first + steps[0]![0]);
        expect(admitted).toBeLessThanOrEqual(shape.capacity + (shape.capacity * (latest - start)) / shape.windowMs);
      }),
      { numRuns: 1_000 },
    );
  });

  it('the bound holds with reclaiming at work: a bucket dropped as full and made again after the clock went back', () => {
    fc.assert(
      fc.property(shapeArb, fc.array(fc.tuple(stepArb, fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 60 }), (shape, steps) => {
        const store = new MemoryRateLimitStore();
        const b: BucketRequest = { key: 'watched', ...shape };
        let now = 1_700_000_000_000;
        let first: number | undefined;
        let latest = -Infinity;
        let admitted = 0;
        let other = 0;
        for (const [dt, calls] of steps) {
          now += dt;
          // sweep(now) is given a time too: it counts as reached.
          if (now > latest) latest = now;
          // Steps without a call let the watched bucket fill up and be dropped.
          if (calls === 0) {
            store.sweep(now);
            continue;
          }
          first ??= now;
          for (let i = 0; i < calls; i++) if (store.consume([b], now).allowed) admitted++;
          // Enough other buckets that reclaiming runs and reaches the watched one.
          for (let i = 0; i < 40; i++) store.consume([{ key: `other-${other++}`, capacity: 1, windowMs: 1 }], now);
          store.sweep(now);
        }
        if (first === undefined) return;
        expect(admitted).toBeLessThanOrEqual(shape.capacity + (shape.capacity * (latest - first)) / shape.windowMs);
      }),
      { numRuns: 300 },
    );
  });

  it('a bucket dropped as full and needed again before that time does not refill up to it twice', () => {
    const store = new MemoryRateLimitStore();
    const b: BucketRequest = { key: 'k', capacity: 1, windowMs: 100 };
    const t = 1_000_000;
    expect(store.consume([b], t).allowed).toBe(true);
    expect(store.sweep(t + 100)).toBe(0); // full again at t + 100: dropped
    expect(store.consume([b], t).allowed).toBe(true); // made again full, after the clock went back
    // Without the floor it would count refill from t to t + 100 a second time.
    expect(store.consume([b], t + 100).allowed).toBe(false);
    expect(store.consume([b], t + 200).allowed).toBe(true);
  });

  it('steps back then forward: 10 at capacity 10, not 20', () => {
    const store = new MemoryRateLimitStore();
    const b: BucketRequest = { key: 'k', capacity: 10, windowMs: 60_000 };
    const t = 1_000_000;
    const take = (at: number, n: number) => Array.from({ length: n }, () => store.consume([b], at).allowed).filter(Boolean).length;
    expect(take(t, 5) + take(t - 60_000, 5) + take(t, 10)).toBe(10);
  });

  it('rejects a now that is not a finite number, naming it', () => {
    const store = new MemoryRateLimitStore();
    const b: BucketRequest = { key: 'k', capacity: 1, windowMs: 1_000 };
    expect(() => store.consume([b], Number.NaN)).toThrow(new RangeError('now must be a finite number of milliseconds, got number NaN'));
    expect(() => store.consume([b], '5' as never)).toThrow(/now must be a finite number of milliseconds, got a string "5"/);
    expect(store.consume([b], 0).allowed).toBe(true);
  });
});

// Issue 10 item 15: full buckets are reclaimed by consume itself, a few per call.
describe('MemoryRateLimitStore reclaims full buckets on its own', () => {
  it('after a million distinct agents at once and a window of time, the buckets held are bounded without sweep()', () => {
    const store = new MemoryRateLimitStore();
    const windowMs = 60_000;
    let now = 1_000_000;
    // A burst: every agent's bucket is still refilling when the burst ends.
    for (let i = 0; i < 1_000_000; i++) store.consume([{ key: `agent:${i}`, capacity: 10, windowMs }], now);
    expect(store.size).toBe(1_000_000);
    // A window later every one of them is full again; ordinary traffic from a few agents
    // reclaims them, at most 2 examined per bucket per call.
    now += windowMs;
    for (let i = 0; i < 600_000; i++) store.consume([{ key: `steady:${i % 100}`, capacity: 1_000_000, windowMs }], now + i / 1_000);
    expect(store.size).toBeLessThanOrEqual(1_024);
  });

  it('keeps the buckets held proportional to the agents active within a refill, under steady churn', () => {
    const store = new MemoryRateLimitStore();
    let now = 0;
    let peak = 0;
    for (let i = 0; i < 200_000; i++) {
      store.consume([{ key: `agent:${i}`, capacity: 100, windowMs: 60_000 }], now);
      now += 1; // a token refills in 0.6 s: at most ~600 buckets are not full at any time
      if (store.size > peak) peak = store.size;
    }
    expect(peak).toBeLessThan(3_000);
  });

  it('reclaims with several buckets per call, and never a bucket that is not full', () => {
    const store = new MemoryRateLimitStore();
    const windowMs = 1_000;
    // 5,000 agents take one token each, in three limits per call.
    for (let i = 0; i < 5_000; i++) {
      const answer = store.consume(
        [
          { key: `a:${i}`, capacity: 2, windowMs },
          { key: `b:${i}`, capacity: 2, windowMs },
          { key: `global`, capacity: 1_000_000, windowMs },
        ],
        0,
      );
      expect(answer.allowed).toBe(true);
    }
    // Still not full (no time passed): a second token each, then none.
    for (let i = 0; i < 5_000; i++) expect(store.consume([{ key: `a:${i}`, capacity: 2, windowMs }], 0).allowed).toBe(true);
    for (let i = 0; i < 5_000; i++) expect(store.consume([{ key: `a:${i}`, capacity: 2, windowMs }], 0).allowed).toBe(false);
    // Full again after a window: reclaimed while the traffic goes on.
    for (let i = 0; i < 20_000; i++) store.consume([{ key: 'x', capacity: 1_000_000, windowMs }, { key: 'y', capacity: 1_000_000, windowMs }], windowMs + i);
    expect(store.size).toBeLessThanOrEqual(1_024);
  });

  it('exposes size read-only, and sweep() still drops every full bucket at once', () => {
    const store = new MemoryRateLimitStore();
    for (let i = 0; i < 3_000; i++) store.consume([{ key: `k${i}`, capacity: 5, windowMs: 1_000 }], 0);
    expect(() => {
      (store as unknown as { size: number }).size = 0;
    }).toThrow(TypeError);
    // One token of 5 refills in 200 ms.
    expect(store.sweep(199)).toBe(3_000);
    expect(store.sweep(200)).toBe(0);
  });
});
