import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBucketState } from './bucket-state.js';
import type { Counts, ExactnessConfig, WorkerMessage } from './exactness.worker.js';
import { redisAvailability, startRedisServer, type RedisServer } from './testing/index.js';

const redis = redisAvailability();
const here = dirname(fileURLToPath(import.meta.url));
const PROCESSES = 4;

/** Starts the workers, lets them all go at once, and collects their counts. */
async function runWorkers(config: ExactnessConfig): Promise<{ admitted: Counts; errors: string[] }[]> {
  const children: ChildProcess[] = [];
  try {
    const results: Promise<{ admitted: Counts; errors: string[] }>[] = [];
    const ready: Promise<void>[] = [];
    for (let p = 0; p < PROCESSES; p++) {
      // tsx runs the TypeScript worker; it resolves from this package's node_modules.
      const child = fork(join(here, 'exactness.worker.ts'), [], {
        cwd: join(here, '..'),
        execArgv: ['--import', 'tsx'],
        env: { ...process.env, EXACTNESS_CONFIG: JSON.stringify(config) },
      });
      children.push(child);
      const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`worker ${p} exited with ${code}`))));
      exited.catch(() => {});
      const message = (type: WorkerMessage['type']) =>
        Promise.race([new Promise<WorkerMessage>((resolve) => child.on('message', (m: WorkerMessage) => m.type === type && resolve(m))), exited]);
      ready.push(message('ready').then(() => undefined));
      results.push(message('result').then((m) => m as Extract<WorkerMessage, { type: 'result' }>));
    }
    await Promise.all(ready);
    for (const child of children) child.send('go');
    return await Promise.all(results);
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe.skipIf(!redis.available)(`RedisRateLimitStore across processes${redis.reason ? ` (skipped: ${redis.reason})` : ''}`, () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it(`${PROCESSES} processes x 32 agents admit exactly capacity, globally and per agent (rules R3, R5, R7)`, async () => {
    const config: ExactnessConfig = {
      url: server.url,
      keyPrefix: `exact-${Date.now()}:`,
      agents: 32,
      attempts: 6, // per agent and process: 4 x 6 = 24 tries per agent and operation
      windowMs: 10_000_000_000, // refill off: a token every ~4 months at these capacities
      writeGlobal: 300, // of 4 x 32 x 6 = 768 tries
      deletePerAgent: 10, // of 24 tries per agent
      readGlobal: 200, // binds before the agents' 32 x 10 = 320
      readPerAgent: 10,
    };
    const results = await runWorkers(config);
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    const perAgent = (op: keyof Counts) => Array.from({ length: config.agents }, (_, a) => sum(results.map((r) => r.admitted[op][a]!)));

    // One global bucket shared by 4 processes: exactly its capacity, no more, no less.
    expect(sum(perAgent('write'))).toBe(config.writeGlobal);
    // One bucket per agent, each hit from all 4 processes: exactly its capacity.
    expect(perAgent('delete')).toEqual(Array(config.agents).fill(config.deletePerAgent));
    // Global and per-agent limits together: the global one binds exactly; no agent exceeds its own.
    const reads = perAgent('read');
    expect(sum(reads)).toBe(config.readGlobal);
    for (const r of reads) expect(r).toBeLessThanOrEqual(config.readPerAgent);

    // All or nothing (rule R7): reads the global bucket rejected took no token from the
    // agent's bucket, so each agent's bucket lacks exactly the reads it was admitted.
    const client = new Redis(server.url);
    try {
      for (let a = 0; a < config.agents; a++) {
        const key = `${config.keyPrefix}{default}:read|agent_id|${config.readPerAgent}/${config.windowMs}|agent-${a}`;
        const value = await client.getBuffer(key);
        const left = value === null ? config.readPerAgent : Math.floor(decodeBucketState(value).level / config.windowMs);
        expect(left).toBe(config.readPerAgent - reads[a]!);
      }
    } finally {
      await client.quit();
    }
  });
});
