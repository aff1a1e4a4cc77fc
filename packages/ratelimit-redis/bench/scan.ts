/**
 * policy.scan under a Redis read limit against the same scan under an in-memory limit, on
 * core's MemoryStore in the same run: what a remote limiter adds per key. `nextv(n)` takes the
 * tokens of a run of keys in one script run (docs/core.md, *Charging*); `for await` takes one per
 * key, one round trip each. Commands are counted on the store's own client.
 */
import { MemoryRateLimitStore, MemoryStore, PolicyEngine, type RateLimitStore } from '@sochdb-policy/core';
import { Redis } from 'ioredis';
import type { RedisRateLimitStore } from '../src/index.js';
import { counted } from './bench.js';

export interface ScanBenchOptions {
  url: string;
  Store: typeof RedisRateLimitStore;
  /** Keys each scan reads. @default 10000 */
  keys?: number;
  /** Entries per nextv call. @default 1000 */
  chunk?: number;
  /** Measured runs per subject, taking turns. @default 7 */
  runs?: number;
  /** Keys the for await scan reads (one round trip per key). @default 500 */
  eachKeys?: number;
}

export interface ScanMeasured {
  /** Median ns per key over the runs. */
  nsPerKey: number;
  /** Redis commands per key (0 for the in-memory limiter). */
  commandsPerKey: number;
}

export interface ScanBenchResult {
  /** nextv under MemoryRateLimitStore: the baseline. */
  memory: ScanMeasured;
  /** nextv under RedisRateLimitStore. */
  redis: ScanMeasured;
  /** for await under RedisRateLimitStore (one token, one round trip, per key). */
  redisEach: ScanMeasured;
  /** redis / memory ns per key: the median of the ratios of runs taken side by side. */
  ratio: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

export async function runScanBench(options: ScanBenchOptions): Promise<ScanBenchResult> {
  const { url, Store, keys = 10_000, chunk = 1000, runs = 7, eachKeys = 500 } = options;
  const store = new MemoryStore();
  const value = Buffer.alloc(100, 'v');
  const width = String(keys).length;
  for (let from = 0; from < keys; from += 1000) {
    const ops = [];
    for (let i = from; i < Math.min(keys, from + 1000); i++) ops.push({ type: 'put' as const, key: Buffer.from(`users/${String(i).padStart(width, '0')}/profile`), value });
    await store.batch(ops);
  }
  const counter = counted(new Redis(url));
  const client = counter.client;
  const redis = new Store({ client, keyPrefix: `bench-scan-${process.pid}-${Date.now()}:` });
  const engine = (rateLimitStore: RateLimitStore) =>
    new PolicyEngine(store, { rateLimitStore }).addRateLimit('read', { maxPerMinute: 1_000_000_000, scope: 'agent_id' }).enableAudit();
  const onMemory = engine(new MemoryRateLimitStore());
  const onRedis = engine(redis);
  const context = { agent_id: 'agent-1' };
  const nextv = async (policy: PolicyEngine): Promise<number> => {
    let seen = 0;
    const scan = policy.scan({ prefix: 'users/' }, context);
    for (let got = await scan.nextv(chunk); got.length > 0; got = await scan.nextv(chunk)) seen += got.length;
    await scan.close();
    return seen;
  };
  const timed = async (run: () => Promise<number>, expected: number) => {
    const before = counter.sent;
    const start = process.hrtime.bigint();
    const seen = await run();
    const ns = Number(process.hrtime.bigint() - start);
    if (seen !== expected) throw new Error(`the scan read ${seen} entries, expected ${expected}`);
    return { nsPerKey: ns / seen, commandsPerKey: (counter.sent - before) / seen };
  };
  try {
    // Warm up: the script loaded, the code compiled.
    await nextv(onMemory);
    await nextv(onRedis);
    const memory: ScanMeasured[] = [];
    const remote: ScanMeasured[] = [];
    for (let r = 0; r < runs; r++) {
      const pair = r % 2 === 0 ? [onMemory, onRedis] : [onRedis, onMemory];
      for (const policy of pair) (policy === onMemory ? memory : remote).push(await timed(() => nextv(policy), keys));
    }
    const each = await timed(async () => {
      let seen = 0;
      for await (const _ of onRedis.scan({ prefix: 'users/', limit: eachKeys }, context)) seen++;
      return seen;
    }, Math.min(eachKeys, keys));
    const summary = (ms: ScanMeasured[]): ScanMeasured => ({ nsPerKey: median(ms.map((m) => m.nsPerKey)), commandsPerKey: median(ms.map((m) => m.commandsPerKey)) });
    return {
      memory: summary(memory),
      redis: summary(remote),
      redisEach: each,
      ratio: median(remote.map((m, i) => m.nsPerKey / memory[i]!.nsPerKey)),
    };
  } finally {
    await redis.close();
    client.disconnect();
  }
}
