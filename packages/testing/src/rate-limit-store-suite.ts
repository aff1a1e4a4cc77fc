import { afterEach, describe, expect, it } from 'vitest';
import type { BucketRequest, RateLimitDecision, RateLimitStore } from '@sochdb-policy/core';

/** Options of {@link runRateLimitStoreSuite}; `S` is the store class the factory makes. */
export interface RateLimitStoreSuiteOptions<S extends RateLimitStore = RateLimitStore> {
  /** A fresh store, with no buckets, for each test. */
  factory: () => S | Promise<S>;
  /**
   * Whether the store follows the `now` it is given. Stores with their own clock (Redis
   * `TIME`) say false; the refill tests then wait real time instead. @default true
   */
  usesCallerClock?: boolean;
  name?: string;
  /**
   * Whether the store has the optional `peek` capability (what `consume` would answer, taking
   * nothing), which `policy.evaluate` uses. A test checks the store has exactly this. @default false
   */
  peek?: boolean;
  /**
   * Whether the store declares the optional `supports.tokens` capability: `consume` takes
   * `BucketRequest.tokens` tokens from a bucket at once, all or none (what `policy.batch`
   * needs to charge several operations in one call). A test checks the store declares exactly
   * this; the tokens tests run when it is true. @default false
   */
  tokens?: boolean;
}

let unique = 0;
const bucket = (capacity: number, windowMs = 60_000): BucketRequest => ({ key: `suite:${process.pid}:${Date.now()}:${unique++}`, capacity, windowMs });
/** The same bucket, asked for `tokens` tokens at once. */
const taking = (b: BucketRequest, tokens: number): BucketRequest => ({ ...b, tokens });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The behaviour every {@link RateLimitStore} must have (rules R3, R4, R7). Call it at the top
 * level of a test file run by vitest (3 or later, a peer dependency you install).
 */
export function runRateLimitStoreSuite<S extends RateLimitStore = RateLimitStore>({ factory, usesCallerClock = true, name = 'RateLimitStore', peek = false, tokens = false }: RateLimitStoreSuiteOptions<S>): void {
  describe(`${name} contract`, () => {
    let open: RateLimitStore[] = [];
    const make = async () => {
      const store = await factory();
      open.push(store);
      return store;
    };
    afterEach(async () => {
      for (const s of open) await s.close?.();
      open = [];
    });

    it('starts full and admits exactly capacity, then rejects (rule R3)', async () => {
      const store = await make();
      const b = bucket(5);
      const t = 1_000_000;
      const answers = [];
      for (let i = 0; i < 7; i++) answers.push(await store.consume([b], t));
      expect(answers.map((a) => a.allowed)).toEqual([true, true, true, true, true, false, false]);
      expect(answers.map((a) => a.remaining).slice(0, 5)).toEqual([4, 3, 2, 1, 0]);
      expect(answers[5]!.retryAfterMs).toBeGreaterThan(0);
      expect(answers[5]!.limitedBy).toBe(b.key);
    });

    it('answers with a plain serializable object', async () => {
      const store = await make();
      const answer = await store.consume([bucket(1)], 0);
      expect(JSON.parse(JSON.stringify(answer))).toEqual(answer);
    });

    it('has the peek capability exactly when the suite was told so', async () => {
      const store = await make();
      expect(typeof store.peek === 'function').toBe(peek);
    });

    if (peek) {
      it('peek answers what consume would, and takes no token', async () => {
        const store = await make();
        const b = bucket(3);
        const t = 2_000_000;
        for (let i = 0; i < 3; i++) {
          const looked = await store.peek!([b], t);
          const looked2 = await store.peek!([b], t);
          expect(looked2).toEqual(looked);
          const taken = await store.consume([b], t);
          expect(looked.allowed).toBe(taken.allowed);
          expect(looked.remaining).toBe(taken.remaining);
        }
        const refused = await store.peek!([b], t);
        expect(refused.allowed).toBe(false);
        expect(refused.limitedBy).toBe(b.key);
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect((await store.consume([b], t)).allowed).toBe(false);
      });

      it('peek over several buckets names the first empty one and leaves the others full', async () => {
        const store = await make();
        const full = bucket(2);
        const empty = bucket(1);
        const t = 3_000_000;
        await store.consume([empty], t);
        const looked = await store.peek!([full, empty], t);
        expect(looked).toMatchObject({ allowed: false, limitedBy: empty.key });
        expect((await store.consume([full], t)).remaining).toBe(1);
      });
    }

    it('declares supports.tokens exactly when the suite was told so', async () => {
      const store = await make();
      expect(store.supports?.tokens === true).toBe(tokens);
    });

    if (tokens) {
      it('takes several tokens at once, all or none, and says how many are left', async () => {
        const store = await make();
        const b = bucket(5);
        const t = 11_000_000;
        expect(await store.consume([taking(b, 3)], t)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
        // 2 left: a take of 3 is refused and takes none of them.
        const refused = await store.consume([taking(b, 3)], t);
        expect(refused).toMatchObject({ allowed: false, remaining: 0, limitedBy: b.key });
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(await store.consume([taking(b, 2)], t)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
        expect((await store.consume([b], t)).allowed).toBe(false);
      });

      if (peek) {
        it('peek asks each bucket for its tokens, as consume would, and takes none', async () => {
          const store = await make();
          const b = bucket(5);
          const t = 13_000_000;
          // Under a store's own clock time moves between calls: a refused answer's retryAfterMs
          // may shrink by the milliseconds that passed, so it is compared exactly only under the caller's.
          const same = (x: RateLimitDecision) => (usesCallerClock ? x : { ...x, retryAfterMs: x.retryAfterMs > 0 });
          expect(await store.peek!([taking(b, 5)], t)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
          expect(same(await store.peek!([taking(b, 6)], t))).toEqual(same(await store.consume([taking(b, 6)], t)));
          expect(await store.consume([taking(b, 3)], t)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
          for (const n of [1, 2, 3]) {
            const looked = await store.peek!([taking(b, n)], t);
            expect(same(looked)).toEqual(same(await store.peek!([taking(b, n)], t))); // took nothing
            expect(looked.allowed).toBe(n <= 2);
            if (n <= 2) expect(looked.remaining).toBe(2 - n);
            else {
              expect(looked).toMatchObject({ allowed: false, remaining: 0, limitedBy: b.key });
              // One token short at 5 per minute: 12 s, exactly under the caller's clock.
              if (usesCallerClock) expect(looked.retryAfterMs).toBe(12_000);
              else expect(looked.retryAfterMs).toBeGreaterThan(11_000);
            }
          }
          expect(same(await store.consume([taking(b, 3)], t))).toEqual(same(await store.peek!([taking(b, 3)], t)));
        });
      }

      it('tokens: 1 is the same as no tokens', async () => {
        const store = await make();
        const b = bucket(2);
        const t = 12_000_000;
        expect(await store.consume([taking(b, 1)], t)).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 });
        expect(await store.consume([b], t)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
        expect((await store.consume([taking(b, 1)], t)).allowed).toBe(false);
      });

      it('takes tokens from every bucket or from none (rule R7 with several tokens)', async () => {
        const store = await make();
        const roomy = bucket(10);
        const tight = bucket(4);
        const t = 13_000_000;
        // 3 from each: roomy 7 left, tight 1 left; remaining is the emptiest bucket's.
        expect(await store.consume([taking(roomy, 3), taking(tight, 3)], t)).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 });
        for (let i = 0; i < 3; i++) {
          const answer = await store.consume([taking(roomy, 3), taking(tight, 2)], t);
          expect(answer).toMatchObject({ allowed: false, limitedBy: tight.key });
        }
        // The refused calls took nothing from roomy: still 7.
        expect(await store.consume([taking(roomy, 7)], t)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
        expect((await store.consume([tight], t)).allowed).toBe(true);
      });

      it('refuses more tokens than the bucket holds, even full, and takes none (from any bucket)', async () => {
        const store = await make();
        const small = bucket(3);
        const other = bucket(5);
        const t = 14_000_000;
        const answer = await store.consume([other, taking(small, 4)], t);
        expect(answer).toMatchObject({ allowed: false, remaining: 0, limitedBy: small.key });
        expect(answer.retryAfterMs).toBeGreaterThan(0);
        // Nothing taken: both still full.
        expect(await store.consume([taking(small, 3)], t)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
        expect(await store.consume([taking(other, 5)], t)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
      });

      it('admits exactly capacity tokens under concurrency', async () => {
        const store = await make();
        const b = bucket(50);
        const answers = await Promise.all(Array.from({ length: 60 }, () => store.consume([taking(b, 3)], 0)));
        expect(answers.filter((a) => a.allowed).length).toBe(16); // 48 of 50 tokens; 2 are too few for a take of 3
        expect((await store.consume([taking(b, 2)], 0)).allowed).toBe(true);
      });

      if (usesCallerClock) {
        it('with several tokens, tells how long until they have refilled (rule R4)', async () => {
          const store = await make();
          const b = bucket(2, 1_000); // a token every 500 ms
          const t = 15_000_000;
          expect((await store.consume([taking(b, 2)], t)).allowed).toBe(true);
          // 100 ms later: 0.2 tokens; 2 need 900 ms more, 1 needs 400.
          expect(await store.consume([taking(b, 2)], t + 100)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 900, limitedBy: b.key });
          expect(await store.consume([b], t + 100)).toMatchObject({ allowed: false, retryAfterMs: 400 });
          expect(await store.consume([taking(b, 2)], t + 1_000)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
        });
      } else {
        it('with several tokens, refills over real time', async () => {
          const store = await make();
          const b = bucket(10, 500); // a token every 50 ms
          expect((await store.consume([taking(b, 10)], Date.now())).allowed).toBe(true);
          expect((await store.consume([taking(b, 2)], Date.now())).allowed).toBe(false);
          await sleep(170);
          expect((await store.consume([taking(b, 2)], Date.now())).allowed).toBe(true);
        });
      }
    }

    it('keeps buckets with different keys apart', async () => {
      const store = await make();
      const a = bucket(1);
      const b = bucket(1);
      expect((await store.consume([a], 0)).allowed).toBe(true);
      expect((await store.consume([a], 0)).allowed).toBe(false);
      expect((await store.consume([b], 0)).allowed).toBe(true);
    });

    it('takes no token from any bucket when one rejects (rule R7)', async () => {
      const store = await make();
      const roomy = bucket(3);
      const tight = bucket(1);
      expect((await store.consume([roomy, tight], 0)).allowed).toBe(true);
      for (let i = 0; i < 5; i++) {
        const answer = await store.consume([roomy, tight], 0);
        expect(answer.allowed).toBe(false);
        expect(answer.limitedBy).toBe(tight.key);
      }
      // roomy still has its 2 tokens: the rejected calls took none.
      expect((await store.consume([roomy], 0)).allowed).toBe(true);
      expect((await store.consume([roomy], 0)).allowed).toBe(true);
      expect((await store.consume([roomy], 0)).allowed).toBe(false);
    });

    it('admits exactly capacity under concurrency', async () => {
      const store = await make();
      const b = bucket(50);
      const answers = await Promise.all(Array.from({ length: 200 }, () => store.consume([b], 0)));
      expect(answers.filter((a) => a.allowed).length).toBe(50);
    });

    if (usesCallerClock) {
      it('refills continuously, keeping fractions (rule R4)', async () => {
        const store = await make();
        const b = bucket(60); // one token per second
        const t0 = 5_000_000;
        for (let i = 0; i < 60; i++) expect((await store.consume([b], t0)).allowed).toBe(true);
        expect((await store.consume([b], t0 + 999)).allowed).toBe(false);
        expect((await store.consume([b], t0 + 1_000)).allowed).toBe(true);
        // 1.5 s later: 1.5 tokens accrued; one taken, the half kept for the next.
        expect((await store.consume([b], t0 + 2_500)).allowed).toBe(true);
        expect((await store.consume([b], t0 + 2_500)).allowed).toBe(false);
        expect((await store.consume([b], t0 + 3_000)).allowed).toBe(true);
      });

      it('over any window of t ms admits at most capacity + rate × t (rule R4)', async () => {
        const store = await make();
        const b = bucket(10, 1_000); // 10 per second
        let admitted = 0;
        for (let t = 0; t <= 3_000; t += 7) if ((await store.consume([b], 10_000 + t)).allowed) admitted++;
        expect(admitted).toBeLessThanOrEqual(10 + 30);
        expect(admitted).toBeGreaterThanOrEqual(10 + 29);
      });

      // Issue 10 item 4: take 5 at t, 5 more after the clock stepped back a window, then 10
      // once it is at t again: 20 admitted at capacity 10 without any time passing.
      it('never refills a bucket for time it already counted: a clock stepping back and forth adds nothing (rule R4)', async () => {
        const store = await make();
        const b = bucket(10); // 10 per minute
        const t = 7_000_000;
        let admitted = 0;
        for (const [at, calls] of [[t, 5], [t - 60_000, 5], [t, 10], [t - 30_000, 10], [t, 10]] as const) {
          for (let i = 0; i < calls; i++) if ((await store.consume([b], at)).allowed) admitted++;
        }
        expect(admitted).toBe(10);
        // Time the bucket has not counted yet still refills it, once.
        expect((await store.consume([b], t + 6_000)).allowed).toBe(true);
        expect((await store.consume([b], t + 6_000)).allowed).toBe(false);
      });

      it('counts retryAfterMs from the caller\'s now when its clock is behind the bucket (rule R4)', async () => {
        const store = await make();
        const b = bucket(1, 1_000);
        const t = 9_000_000;
        expect((await store.consume([b], t)).allowed).toBe(true);
        const answer = await store.consume([b], t - 500);
        expect(answer.allowed).toBe(false);
        expect(answer.retryAfterMs).toBe(1_500);
      });

      it('over random clock sequences with steps back, admits at most capacity + rate × (latest now − first now) (rule R4)', async () => {
        // A seeded generator, so the suite needs no property-testing library and every run is the same.
        const random = mulberry32(0x5eed);
        const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
        for (let run = 0; run < 60; run++) {
          const store = await make();
          const shapes = [bucket(int(1, 5), int(1, 4) * 1_000), bucket(int(1, 5), int(1, 4) * 1_000)];
          const start = 20_000_000 + run * 1_000_000;
          let now = start;
          let latest = -Infinity;
          const first: number[] = [];
          const admitted = [0, 0];
          for (let step = 0; step < 60; step++) {
            const r = random();
            // Mostly small steps forward; a third of them back, some by more than a window.
            now += r < 0.5 ? int(0, 300) : r < 0.8 ? -int(0, 5_000) : int(0, 3_000);
            if (now > latest) latest = now;
            const picked = random() < 0.7 ? [0] : random() < 0.5 ? [1] : [0, 1];
            for (const i of picked) first[i] ??= now;
            const answer = await store.consume(picked.map((i) => shapes[i]!), now);
            if (answer.allowed) for (const i of picked) admitted[i]!++;
          }
          for (const i of [0, 1]) {
            const b = shapes[i]!;
            const counted = first[i] === undefined ? 0 : latest - first[i]!;
            expect(admitted[i]!, `run ${run}, bucket ${i}`).toBeLessThanOrEqual(b.capacity + (b.capacity * counted) / b.windowMs);
          }
        }
      });

      it('tells how long until a retry can pass', async () => {
        const store = await make();
        const b = bucket(2, 1_000); // a token every 500 ms
        await store.consume([b], 0);
        await store.consume([b], 0);
        const answer = await store.consume([b], 100);
        expect(answer.allowed).toBe(false);
        expect(answer.retryAfterMs).toBe(400);
      });
    } else {
      it('refills over real time', async () => {
        const store = await make();
        const b = bucket(10, 500); // a token every 50 ms
        for (let i = 0; i < 10; i++) expect((await store.consume([b], Date.now())).allowed).toBe(true);
        expect((await store.consume([b], Date.now())).allowed).toBe(false);
        await sleep(120);
        expect((await store.consume([b], Date.now())).allowed).toBe(true);
      });
    }
  });
}

/** A small seeded pseudo-random generator (mulberry32): numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
