import { runRateLimitStoreSuite } from '@sochdb-policy/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import { RedisRateLimitStore } from './redis-rate-limit-store.js';
import { redisAvailability, startRedisServer, type RedisServer } from './testing/index.js';

const redis = redisAvailability();

// The core contract (rules R3, R4, R7), once per clock: 'caller' follows the suite's fake
// times, 'server' uses Redis TIME and is checked against real time.
describe.skipIf(!redis.available)(`RedisRateLimitStore${redis.reason ? ` (skipped: ${redis.reason})` : ''}`, () => {
  let server: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    client = new Redis(server.url);
  });
  afterAll(async () => {
    await client?.quit();
    await server?.stop();
  });

  // A client of the caller's, shared by every store and left open by close().
  runRateLimitStoreSuite({
    name: "RedisRateLimitStore, clock 'caller', own client",
    factory: () => new RedisRateLimitStore({ client, clock: 'caller', keyPrefix: `contract-caller-${process.pid}:` }),
    usesCallerClock: true,
    peek: true,
    tokens: true,
  });

  // A client opened from the URL by each store and closed with it.
  runRateLimitStoreSuite({
    name: "RedisRateLimitStore, clock 'server', url",
    factory: () => new RedisRateLimitStore({ url: server.url, keyPrefix: `contract-server-${process.pid}:` }),
    usesCallerClock: false,
    peek: true,
    tokens: true,
  });
});
