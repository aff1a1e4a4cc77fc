import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { findRedisServer, redisAvailability, startRedisServer } from './redis-server.js';

const hasBinary = findRedisServer() !== undefined;

describe('redisAvailability', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('reports a missing redis-server with a reason, or throws when REQUIRE_REDIS=1 (CI)', () => {
    vi.stubEnv('PATH', '/nonexistent');
    vi.stubEnv('REDIS_URL', '');
    vi.stubEnv('REQUIRE_REDIS', '');
    const missing = redisAvailability();
    expect(missing.available).toBe(false);
    expect(missing.reason).toMatch(/redis-server is not on PATH/);
    vi.stubEnv('REQUIRE_REDIS', '1');
    expect(() => redisAvailability()).toThrow(/REQUIRE_REDIS=1/);
  });

  it('takes REDIS_URL instead of a local binary, except for tests that must spawn', async () => {
    vi.stubEnv('PATH', '/nonexistent');
    vi.stubEnv('REQUIRE_REDIS', '');
    vi.stubEnv('REDIS_URL', 'redis://127.0.0.1:6390');
    expect(redisAvailability()).toEqual({ available: true, reason: undefined });
    expect(redisAvailability({ spawn: true }).available).toBe(false);
    const server = await startRedisServer();
    expect(server).toMatchObject({ url: 'redis://127.0.0.1:6390', port: 6390, external: true });
    await expect(server.kill()).rejects.toThrow(/spawn: true/);
    await server.stop(); // leaves someone else's server alone
    await expect(startRedisServer({ spawn: true })).rejects.toThrow(/not on PATH/);
  });
});

describe.skipIf(!hasBinary && process.env.REQUIRE_REDIS !== '1')('startRedisServer with redis-server from PATH', () => {
  it('starts on a free loopback port, survives kill + restart on the same port, and cleans up', async () => {
    const server = await startRedisServer({ spawn: true });
    expect(server.external).toBe(false);
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    const client = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    client.on('error', () => {});
    try {
      await client.set('survives', 'no');
      await server.kill();
      await expect(client.ping()).rejects.toThrow();
      await server.restart();
      for (let i = 0; i < 100 && client.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await client.ping()).toBe('PONG');
      expect(await client.get('survives')).toBeNull(); // no persistence
      const dir = (await client.config('GET', 'dir')) as string[];
      expect(existsSync(dir[1]!)).toBe(true);
      client.disconnect();
      await server.stop();
      expect(existsSync(dir[1]!)).toBe(false);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });
});
