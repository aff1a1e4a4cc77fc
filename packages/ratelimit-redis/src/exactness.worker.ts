/**
 * One process of the exactness test (exactness.test.ts): 32 agents writing, deleting and
 * reading concurrently through a PolicyEngine whose buckets live in Redis. It reports what
 * each agent got, per operation, to the parent over IPC.
 */
import { MemoryStore, PolicyEngine, PolicyViolation } from '@sochdb-policy/core';
import { RedisRateLimitStore } from './redis-rate-limit-store.js';

export interface ExactnessConfig {
  url: string;
  keyPrefix: string;
  agents: number;
  attempts: number;
  windowMs: number;
  writeGlobal: number;
  deletePerAgent: number;
  readGlobal: number;
  readPerAgent: number;
}
export type Counts = Record<'write' | 'delete' | 'read', number[]>;
export type WorkerMessage = { type: 'ready' } | { type: 'result'; admitted: Counts; errors: string[] };

const config = JSON.parse(process.env.EXACTNESS_CONFIG!) as ExactnessConfig;
const send = (message: WorkerMessage) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

const store = new RedisRateLimitStore({ url: config.url, keyPrefix: config.keyPrefix, timeoutMs: 5_000 });
const engine = new PolicyEngine(new MemoryStore(), { rateLimitStore: store });
const { windowMs } = config;
engine.addRateLimit('write', { maxPerMinute: config.writeGlobal, windowMs });
engine.addRateLimit('delete', { maxPerMinute: config.deletePerAgent, scope: 'agent_id', windowMs });
// Two limits on one operation: all or nothing across processes (rule R7).
engine.addRateLimit('read', { maxPerMinute: config.readGlobal, windowMs });
engine.addRateLimit('read', { maxPerMinute: config.readPerAgent, scope: 'agent_id', windowMs });

const admitted: Counts = { write: [], delete: [], read: [] };
const errors: string[] = [];

async function attempt(op: keyof Counts, agent: number, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
    admitted[op][agent]!++;
  } catch (error) {
    if (!(error instanceof PolicyViolation && error.code === 'rate_limited')) errors.push(`${op}: ${String(error)}`);
  }
}

async function agent(n: number): Promise<void> {
  const ctx = { agent_id: `agent-${n}` };
  for (let i = 0; i < config.attempts; i++) {
    await attempt('write', n, () => engine.put(`k/${n}`, 'v', ctx));
    await attempt('delete', n, () => engine.delete(`k/${n}`, ctx));
    await attempt('read', n, () => engine.get(`k/${n}`, ctx));
  }
}

for (const op of ['write', 'delete', 'read'] as const) admitted[op] = Array(config.agents).fill(0);
await store.client.ping(); // connected before the start signal, so all processes start together
process.once('message', async () => {
  await Promise.all(Array.from({ length: config.agents }, (_, n) => agent(n)));
  await send({ type: 'result', admitted, errors });
  await store.close();
  process.disconnect();
});
await send({ type: 'ready' });
