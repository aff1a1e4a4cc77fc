import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../bench/bench.js';
import { runScanBench } from '../bench/scan.js';
import { RedisRateLimitStore } from './redis-rate-limit-store.js';
import { redisAvailability, startRedisServer, type RedisServer } from './testing/index.js';

const redis = redisAvailability();

// Runs the benchmark for a few iterations so it cannot rot; no timing is asserted.
describe.skipIf(!redis.available)(`benchmark smoke test${redis.reason ? ` (skipped: ${redis.reason})` : ''}`, () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('runs both limiters in both modes: one command per policy.put sequentially, fewer with calls in flight', async () => {
    const result = await runBench({ url: server.url, Store: RedisRateLimitStore, iterations: 128, runs: 1, warmup: 16 });
    expect(result.modes.map((m) => m.concurrency)).toEqual([1, 64]);
    for (const mode of result.modes) {
      // In flight, the calls of a tick go to Redis as one script run.
      if (mode.concurrency === 1) expect(mode.policyPut.roundTripsPerOp).toBe(1);
      else expect(mode.policyPut.roundTripsPerOp).toBeLessThan(0.5);
      // A shared REDIS_URL server also runs other clients' scripts.
      if (!server.external) expect(mode.policyPut.serverScriptsPerOp).toBe(mode.policyPut.roundTripsPerOp);
      expect(mode.rateLimiterFlexible.roundTripsPerOp).toBe(1);
      expect(mode.policyPut.opsPerSec).toBeGreaterThan(0);
      expect(mode.ratio).toBeGreaterThan(0);
    }
  });

  it('scans under a Redis read limit: nextv sends one command per run of keys, for await one per key', async () => {
    const result = await runScanBench({ url: server.url, Store: RedisRateLimitStore, keys: 2000, runs: 1, eachKeys: 20 });
    // 2,000 keys in runs of at most the chunk in hand (64, 128, ... up to 1,000 entries a call).
    expect(result.redis.commandsPerKey).toBeGreaterThan(0);
    expect(result.redis.commandsPerKey).toBeLessThan(0.01);
    expect(result.memory.commandsPerKey).toBe(0);
    expect(result.redisEach.commandsPerKey).toBe(1);
    expect(result.ratio).toBeGreaterThan(0);
  });
});
