import { MemoryRateLimitStore, MemoryStore, PolicyEngine, PolicyViolation, type RateLimitStore } from '@sochdb-policy/core';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisRateLimitError } from './errors.js';
import { RedisRateLimitStore } from './redis-rate-limit-store.js';
import { redisAvailability, startRedisServer, type RedisServer } from './testing/index.js';

// These tests kill, freeze and restart the server, so they always start their own.
const redis = redisAvailability({ spawn: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HOUR = 3_600_000; // refill is negligible during a test

type Outcome = 'admitted' | 'rate_limited' | 'limiter_unavailable';
async function outcome(op: Promise<unknown>): Promise<Outcome> {
  try {
    await op;
    return 'admitted';
  } catch (error) {
    if (!(error instanceof PolicyViolation)) throw error;
    if (error.code === 'limiter_unavailable') expect(error.cause).toBeInstanceOf(RedisRateLimitError);
    if (error.code !== 'rate_limited' && error.code !== 'limiter_unavailable') throw error;
    return error.code;
  }
}

/** Retries until an operation is admitted; returns what the earlier attempts got. */
async function untilAdmitted(attempt: () => Promise<unknown>, tries = 200): Promise<Outcome[]> {
  const seen: Outcome[] = [];
  for (let i = 0; i < tries; i++) {
    const result = await outcome(attempt());
    if (result === 'admitted') return seen;
    seen.push(result);
    await sleep(50);
  }
  throw new Error(`not admitted after ${tries} attempts: ${seen.slice(-5).join(', ')}`);
}

describe.skipIf(!redis.available)(`RedisRateLimitStore when Redis fails${redis.reason ? ` (skipped: ${redis.reason})` : ''}`, () => {
  let server: RedisServer;
  const cleanup: (() => unknown)[] = [];
  beforeEach(async () => {
    server = await startRedisServer({ spawn: true });
  });
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()!();
    await server.stop();
  });

  const setup = (options: { client?: Redis; insurance?: MemoryRateLimitStore; maxPerMinute?: number } = {}) => {
    const store = options.client
      ? new RedisRateLimitStore({ client: options.client, timeoutMs: 300, insurance: options.insurance })
      : new RedisRateLimitStore({ url: server.url, timeoutMs: 300, insurance: options.insurance });
    cleanup.push(() => store.close());
    const db = new MemoryStore();
    const engine = new PolicyEngine(db, { rateLimitStore: store });
    engine.addRateLimit('write', { maxPerMinute: options.maxPerMinute ?? 1_000, windowMs: HOUR });
    return { store, engine, db };
  };

  it.each(['url', 'own client'] as const)(
    'killed mid-run: every operation fails closed with limiter_unavailable, then the same client admits again after a restart (%s)',
    async (kind) => {
      let client: Redis | undefined;
      if (kind === 'own client') {
        // ioredis defaults: offline queue on, commands retried over reconnects.
        client = new Redis(server.url);
        client.on('error', () => {});
        cleanup.push(() => client!.disconnect());
      }
      const { store, engine, db } = setup({ client });
      const redisClient = store.client;
      await engine.put('before', 'v');

      // Mid-run: 8 agents write in a loop while the server dies. Every operation is either
      // admitted by Redis or fails closed; every one that starts after the kill fails closed
      // and writes nothing (none admitted unchecked).
      let killed = false;
      let stop = false;
      const afterKill: { key: string; result: Outcome }[] = [];
      const agents = Array.from({ length: 8 }, async (_, agent) => {
        const results: Outcome[] = [];
        for (let i = 0; !stop; i++) {
          const started = killed;
          const key = `agent-${agent}-${i}`;
          const result = await outcome(engine.put(key, 'v'));
          results.push(result);
          if (started) afterKill.push({ key, result });
          await sleep(1); // failures answer at once: yield, or the loop starves the timers
        }
        return results;
      });
      await sleep(100);
      await server.kill();
      killed = true;
      while (afterKill.length < 40) await sleep(10);
      stop = true;
      const results = (await Promise.all(agents)).flat();
      expect(results.filter((r) => r === 'admitted').length).toBeGreaterThan(0);
      for (const r of results) expect(['admitted', 'limiter_unavailable']).toContain(r);
      for (const { key, result } of afterKill) {
        expect(result).toBe('limiter_unavailable');
        expect(await db.get(Buffer.from(key))).toBeNull();
      }

      await server.restart();
      const meanwhile = await untilAdmitted(() => engine.put('after', 'v'));
      expect(meanwhile.every((o) => o === 'limiter_unavailable')).toBe(true);
      expect(store.client).toBe(redisClient);
      expect(await db.get(Buffer.from('after'))).not.toBeNull();
    },
  );

  it('a server that stops answering: calls fail closed by the timeout, not by waiting for Redis', async () => {
    // A client that would wait forever on its own: no command timeout, unlimited retries.
    const client = new Redis(server.url, { maxRetriesPerRequest: null });
    client.on('error', () => {});
    cleanup.push(() => client.disconnect());
    const { engine, db } = setup({ client });
    await engine.put('before', 'v');

    server.pause();
    cleanup.push(() => server.resume());
    const errors = await Promise.all(Array.from({ length: 5 }, (_, i) => engine.put(`frozen-${i}`, 'v').catch((e: unknown) => e)));
    for (const error of errors) {
      expect(error).toBeInstanceOf(PolicyViolation);
      expect((error as PolicyViolation).code).toBe('limiter_unavailable');
      expect((error as PolicyViolation).cause).toBeInstanceOf(RedisRateLimitError);
      expect(((error as PolicyViolation).cause as RedisRateLimitError).code).toBe('timeout');
    }
    for (let i = 0; i < 5; i++) expect(await db.get(Buffer.from(`frozen-${i}`))).toBeNull();

    server.resume();
    await untilAdmitted(() => engine.put('after', 'v'));
  });

  it('with insurance: answers from memory only while Redis fails, within its own limits, and returns to Redis', async () => {
    const insurance = new MemoryRateLimitStore();
    const { store, engine } = setup({ insurance, maxPerMinute: 3 });

    // Redis answers: it admits 3 and denies the 4th. A denial is an answer, not a failure:
    // the insurance is not asked for it. The 3 tokens Redis granted were also taken from the
    // insurance's bucket (one bucket, now empty).
    for (let i = 0; i < 3; i++) expect(await outcome(engine.put(`up-${i}`, 'v'))).toBe('admitted');
    expect(await outcome(engine.put('up-denied', 'v'))).toBe('rate_limited');
    expect(insurance.size).toBe(1);

    // Redis down: the in-memory limiter takes over from what this process already admitted.
    await server.kill();
    const down = [];
    for (let i = 0; i < 3; i++) down.push(await outcome(engine.put(`down-${i}`, 'v')));
    expect(down).toEqual(['rate_limited', 'rate_limited', 'rate_limited']);

    // Redis back (empty, no persistence): the insurance bucket is exhausted, so an admission
    // can only come from Redis, and Redis holds the bucket again.
    await server.restart();
    const meanwhile = await untilAdmitted(() => engine.put('back', 'v'));
    expect(meanwhile.every((o) => o === 'rate_limited')).toBe(true);
    const key = store.redisKey(`${engine.rateLimits[0]!.id}|global`);
    const probe = new Redis(server.url);
    cleanup.push(() => probe.quit());
    expect(await probe.exists(key)).toBe(1);
  });

  // Issue 10 item 16: at 5 per window, Redis counted 3 and then failed; a fresh insurance
  // bucket admitted 5 more (8 in the window). The insurance goes on from the 3 (rules R3, R4).
  it('with insurance: one process admits at most the limit across the start of an outage (8 at 5/min before)', async () => {
    const insurance = new MemoryRateLimitStore();
    const { engine } = setup({ insurance, maxPerMinute: 5 });
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 3; i++) outcomes.push(await outcome(engine.put(`up-${i}`, 'v')));
    await server.kill();
    for (let i = 0; i < 6; i++) outcomes.push(await outcome(engine.put(`down-${i}`, 'v')));
    expect(outcomes.filter((o) => o === 'admitted')).toHaveLength(5);
    expect(outcomes.slice(0, 5).every((o) => o === 'admitted')).toBe(true);
    expect(outcomes.slice(5).every((o) => o === 'rate_limited')).toBe(true);
  });

  it('with insurance: a failing insurance does not fail what Redis admitted', async () => {
    const throwing = { consume: () => { throw new Error('insurance broken'); } };
    const rejecting = { consume: () => Promise.reject(new Error('insurance broken')) };
    for (const insurance of [throwing, rejecting]) {
      const store = new RedisRateLimitStore({ url: server.url, timeoutMs: 300, insurance });
      cleanup.push(() => store.close());
      const b = { key: `mirror-${Math.random()}`, capacity: 2, windowMs: HOUR };
      expect((await store.consume([b], Date.now())).allowed).toBe(true);
      expect((await store.consume([b], Date.now())).allowed).toBe(true);
      expect((await store.consume([b], Date.now())).allowed).toBe(false);
    }
  });

  it('with insurance: several tokens are mirrored and answered by an insurance that takes them; one that cannot fails closed', async () => {
    const insurance = new MemoryRateLimitStore();
    const store = new RedisRateLimitStore({ url: server.url, timeoutMs: 300, insurance });
    const oneAtATime = new MemoryRateLimitStore();
    const withoutTokens: RateLimitStore = { consume: (buckets, now) => oneAtATime.consume(buckets, now), peek: (buckets, now) => oneAtATime.peek(buckets, now) };
    const plain = new RedisRateLimitStore({ url: server.url, timeoutMs: 300, insurance: withoutTokens });
    cleanup.push(() => store.close(), () => plain.close());
    const b = { key: 'batch', capacity: 5, windowMs: HOUR };
    expect(await store.consume([{ ...b, tokens: 3 }], 0)).toMatchObject({ allowed: true, remaining: 2 });
    expect(insurance.peek([b], 0)).toMatchObject({ remaining: 1 }); // the 3 tokens mirrored
    await server.kill();
    // Redis down: the insurance goes on from the 2 tokens left.
    expect(await store.consume([{ ...b, tokens: 3 }], 0)).toMatchObject({ allowed: false, limitedBy: 'batch' });
    expect(await store.consume([{ ...b, tokens: 2 }], 0)).toMatchObject({ allowed: true, remaining: 0 });
    // An insurance without supports.tokens would take one token for three: the Redis error stands.
    await expect(plain.consume([{ ...b, key: 'other', tokens: 3 }], 0)).rejects.toBeInstanceOf(RedisRateLimitError);
    await expect(plain.peek([{ ...b, key: 'other', tokens: 3 }], 0)).rejects.toBeInstanceOf(RedisRateLimitError);
    expect(await plain.consume([{ ...b, key: 'other' }], 0)).toMatchObject({ allowed: true }); // one token: it answers
  });

  it('reports every failure to onError, also those the insurance answered', async () => {
    const errors: string[] = [];
    const store = new RedisRateLimitStore({ url: server.url, timeoutMs: 300, insurance: new MemoryRateLimitStore(), onError: (e) => errors.push(e.code) });
    cleanup.push(() => store.close());
    const b = { key: 'observed', capacity: 5, windowMs: HOUR };
    expect((await store.consume([b], 0)).allowed).toBe(true);
    expect(errors).toEqual([]);
    await server.kill();
    expect((await store.consume([b], 0)).allowed).toBe(true);
    expect(errors).toHaveLength(1);
    expect(['unavailable', 'redis_error', 'timeout']).toContain(errors[0]);
  });
});
