/**
 * policy.put on core's MemoryStore with a Redis rate limit, against rate-limiter-flexible's
 * RateLimiterRedis consuming one point per call, on the same Redis server in the same run.
 * Both get their own ioredis client with a command counter (every command is one round trip),
 * so the commands per operation are measured, not assumed: one per call sequentially; with
 * calls in flight, RedisRateLimitStore sends the calls of a tick as one script run.
 */
import { MemoryStore, PolicyEngine } from '@sochdb-policy/core';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { RedisRateLimitStore } from '../src/index.js';

export interface BenchOptions {
  /** The Redis server both limiters use. */
  url: string;
  /** The store class to measure: run.ts passes the built one (dist), the smoke test the source. */
  Store: typeof RedisRateLimitStore;
  /** Operations per measured run. @default 5000 */
  iterations?: number;
  /**
   * Measured runs per mode and subject, the subjects taking turns run by run, so that a busy
   * moment of the machine hits all of them alike. @default 15
   */
  runs?: number;
  /** Operations in flight: 1 is sequential. @default [1, 64] */
  concurrency?: number[];
  /** Operations before measuring (loads scripts, warms the JIT). @default 1000 */
  warmup?: number;
}

export interface Measured {
  /** Median operations per second over the runs. */
  opsPerSec: number;
  /** Every run's operations per second, in order. */
  runs: number[];
  /** Redis commands the client sent per operation in the measured runs (each is a round trip). */
  roundTripsPerOp: number;
  /**
   * Scripts Redis ran per operation (EVALSHA + EVAL in INFO commandstats): the server's side
   * of the count above. (Redis counts the commands a script calls like any other, so the
   * server cannot tell the client's other commands apart; the client-side count covers those.)
   */
  serverScriptsPerOp: number;
}

export interface ModeResult {
  concurrency: number;
  /** policy.put on core's MemoryStore with one Redis rate limit: what the floor compares. */
  policyPut: Measured;
  /** RedisRateLimitStore.consume alone, the same buckets without the engine: the limiter's own share. */
  storeConsume: Measured;
  rateLimiterFlexible: Measured;
  /** policyPut / rateLimiterFlexible throughput: the median of the ratios of runs taken side by side. */
  ratio: number;
  /** storeConsume / rateLimiterFlexible throughput, the same way. */
  storeRatio: number;
}

export interface BenchResult {
  redisVersion: string;
  modes: ModeResult[];
}

const AGENTS = 100;

/** Scripts Redis has run so far (a script cannot call EVAL or EVALSHA, so these are all the client's). */
async function serverScripts(admin: Redis): Promise<number> {
  const stats = await admin.info('commandstats');
  let total = 0;
  for (const [, calls] of stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) total += Number(calls);
  return total;
}

export interface Counted {
  client: Redis;
  readonly sent: number;
}

/** Counts the commands `client` sends from now on. */
export function counted(client: Redis): Counted {
  let sent = 0;
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command: never, stream?: never) => {
    sent++;
    return send(command, stream);
  }) as Redis['sendCommand'];
  return {
    client,
    get sent() {
      return sent;
    },
  };
}

/** Runs `op(i)` for i in [0, total) with `concurrency` operations in flight; returns ops/s. */
async function drive(total: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const lane = async () => {
    while (next < total) await op(next++);
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return total / seconds;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Median of run-by-run ratios: runs taken back to back saw the same machine. */
const pairedRatio = (ours: number[], theirs: number[]) => median(ours.map((x, i) => x / theirs[i]!));

interface Subject {
  op: (i: number) => Promise<unknown>;
  counter: Counted;
  runs: number[];
  sent: number;
  scripts: number;
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const { url, Store, iterations = 5_000, runs = 15, concurrency = [1, 64], warmup = 1_000 } = options;
  const tag = `${process.pid}-${Date.now()}`;

  // Each as its documentation sets it up: the store opens its own client from the URL,
  // rate-limiter-flexible is handed an ioredis client.
  const store = new Store({ url, keyPrefix: `bench-${tag}:` });
  const ours = counted(store.client as Redis);
  const policy = new PolicyEngine(new MemoryStore(), { rateLimitStore: store });
  // Never exhausted: the benchmark measures the check, not rejections.
  policy.addRateLimit('write', { maxPerMinute: 1_000_000_000, scope: 'agent_id' });
  const limit = policy.rateLimits[0]!;
  const value = Buffer.from('v'.repeat(64));
  const contexts = Array.from({ length: AGENTS }, (_, a) => ({ agent_id: `agent-${a}` }));
  // Arguments made up front, as for the other two subjects: the run measures the calls, not formatting keys.
  const keys = Array.from({ length: 1000 }, (_, k) => `memory/${k}`);
  const put = (i: number) => policy.put(keys[i % 1000]!, value, contexts[i % AGENTS]);
  // The requests the engine makes for these agents (its bucket key: limit id | scope value).
  const requests = contexts.map((c) => [Object.freeze({ key: `${limit.id}|${c.agent_id}`, capacity: limit.maxPerMinute, windowMs: limit.windowMs })]);
  const consumeStore = (i: number) => store.consume(requests[i % AGENTS]!, Date.now());

  const theirs = counted(new Redis(url));
  const admin = new Redis(url);
  const limiter = new RateLimiterRedis({ storeClient: theirs.client, keyPrefix: `bench-rlf-${tag}`, points: 1_000_000_000, duration: 60 });
  const agentKeys = contexts.map((c) => c.agent_id);
  const consume = (i: number) => limiter.consume(agentKeys[i % AGENTS]!, 1);

  try {
    const info = await admin.info('server');
    const redisVersion = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown';
    await drive(warmup, 8, put);
    await drive(warmup, 8, consumeStore);
    await drive(warmup, 8, consume);

    const modes: ModeResult[] = [];
    for (const inFlight of concurrency) {
      const subjects: Subject[] = [put, consumeStore, consume].map((op, s) => ({ op, counter: s < 2 ? ours : theirs, runs: [], sent: 0, scripts: 0 }));
      for (let r = 0; r < runs; r++) {
        // Rotate who goes first, so none always runs on a warmer (or busier) machine.
        for (let k = 0; k < subjects.length; k++) {
          const subject = subjects[(r + k) % subjects.length]!;
          const sent = subject.counter.sent;
          const scripts = await serverScripts(admin);
          subject.runs.push(await drive(iterations, inFlight, subject.op));
          subject.scripts += (await serverScripts(admin)) - scripts;
          subject.sent += subject.counter.sent - sent;
        }
      }
      const ops = iterations * runs;
      const [policyPut, storeConsume, rateLimiterFlexible] = subjects.map(
        (s): Measured => ({ opsPerSec: median(s.runs), runs: s.runs, roundTripsPerOp: s.sent / ops, serverScriptsPerOp: s.scripts / ops }),
      ) as [Measured, Measured, Measured];
      modes.push({
        concurrency: inFlight,
        policyPut,
        storeConsume,
        rateLimiterFlexible,
        ratio: pairedRatio(policyPut.runs, rateLimiterFlexible.runs),
        storeRatio: pairedRatio(storeConsume.runs, rateLimiterFlexible.runs),
      });
    }
    return { redisVersion, modes };
  } finally {
    await store.close();
    await theirs.client.quit();
    await admin.quit();
  }
}
