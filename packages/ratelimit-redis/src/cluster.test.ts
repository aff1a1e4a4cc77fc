import { MemoryStore, PolicyEngine, PolicyViolation } from '@sochdb-policy/core';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRateLimitStore } from './redis-rate-limit-store.js';
import { redisAvailability, startRedisServer, type RedisServer } from './testing/index.js';

// A real three-node Redis Cluster, so the hash tag is tested where it matters: a script
// whose keys are in different slots fails there with CROSSSLOT.
const redis = redisAvailability({ spawn: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SLOTS = 16_384;

/** Starts `n` cluster-enabled servers, splits the slots between them, and waits for state ok. */
async function startCluster(n: number): Promise<RedisServer[]> {
  const servers: RedisServer[] = [];
  for (let i = 0; i < n; i++) servers.push(await startRedisServer({ args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '2000'] }));
  const admins = servers.map((s) => new Redis(s.url));
  try {
    for (let i = 0; i < n; i++) {
      const from = Math.floor((i * SLOTS) / n);
      const to = Math.floor(((i + 1) * SLOTS) / n) - 1;
      await admins[i]!.call('CLUSTER', 'ADDSLOTSRANGE', String(from), String(to));
      if (i > 0) await admins[i]!.call('CLUSTER', 'MEET', '127.0.0.1', String(servers[0]!.port));
    }
    for (let attempt = 0; ; attempt++) {
      const infos = await Promise.all(admins.map((a) => a.call('CLUSTER', 'INFO') as Promise<string>));
      if (infos.every((info) => info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${n}`))) break;
      if (attempt > 200) throw new Error(`cluster did not converge:\n${infos.join('\n')}`);
      await sleep(50);
    }
  } finally {
    for (const a of admins) a.disconnect();
  }
  return servers;
}

describe.skipIf(!redis.available)(`RedisRateLimitStore on a Redis Cluster${redis.reason ? ` (skipped: ${redis.reason})` : ''}`, () => {
  let servers: RedisServer[] = [];
  let cluster: Cluster;
  beforeAll(async () => {
    servers = await startCluster(3);
    cluster = new Cluster([{ host: '127.0.0.1', port: servers[0]!.port }]);
    await new Promise<void>((resolve, reject) => {
      cluster.once('ready', resolve);
      cluster.once('error', reject);
    });
  });
  afterAll(async () => {
    await cluster?.quit();
    for (const s of servers) await s.stop();
  });

  it('runs one script over several limits with keys in one slot, on the node that owns it, exactly', async () => {
    // Tags whose slots are on three different nodes: each store's buckets live on its tag's node.
    const owners = new Set<number>();
    for (const hashTag of ['blue', 'green', 'red']) {
      const store = new RedisRateLimitStore({ client: cluster, hashTag, keyPrefix: `cluster-${process.pid}:` });
      const engine = new PolicyEngine(new MemoryStore(), { rateLimitStore: store });
      engine.addRateLimit('all', { maxPerMinute: 50 });
      engine.addRateLimit('write', { maxPerMinute: 20 });
      engine.addRateLimit('write', { maxPerMinute: 3, scope: 'agent_id' });

      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          engine.put(`k${i}`, 'v', { agent_id: `agent-${i % 8}` }).then(
            () => 'admitted',
            (e: unknown) => (e instanceof PolicyViolation ? e.code : String(e)),
          ),
        ),
      );
      // 8 agents x 3 = 24 > the write limit of 20: exactly 20 pass, the rest are rate limited.
      expect(results.filter((r) => r === 'admitted')).toHaveLength(20);
      expect(results.filter((r) => r !== 'admitted').every((r) => r === 'rate_limited')).toBe(true);

      // All of this store's keys are on the node owning the tag's slot.
      const slot = calculateSlot(hashTag);
      const owner = cluster.nodes('master').find((node) => {
        const { port } = node.options;
        const index = servers.findIndex((s) => s.port === port);
        const from = Math.floor((index * SLOTS) / 3);
        const to = Math.floor(((index + 1) * SLOTS) / 3) - 1;
        return slot >= from && slot <= to;
      })!;
      owners.add(owner.options.port!);
      const keys = await owner.keys(`cluster-${process.pid}:{${hashTag}}:*`);
      expect(keys.length).toBe(1 + 1 + 8); // the all bucket, the write bucket, 8 agents
    }
    expect(owners.size).toBe(3);
  });

  it('answers after SCRIPT FLUSH on every node, through EVAL on the node that owns the keys', async () => {
    const store = new RedisRateLimitStore({ client: cluster, hashTag: 'flushed', keyPrefix: `cluster-flush-${process.pid}:` });
    const bucket = { key: 'b', capacity: 2, windowMs: 60_000 };
    expect((await store.consume([bucket], 0)).allowed).toBe(true);
    await Promise.all(cluster.nodes('master').map((node) => node.script('FLUSH')));
    expect(await store.consume([bucket], 0)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
    expect((await store.consume([bucket], 0)).allowed).toBe(false);
  });
});
