import { MemoryRateLimitStore, MemoryStore, PolicyEngine, type BucketRequest } from '@sochdb-policy/core';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { interleave, median, timed, timedSync } from './measure.js';
import type { Row } from './row.js';

export interface LimiterBenchOptions {
  ops: number;
  rounds: number;
  /** Distinct agents the calls cycle through. */
  agents: number;
}

// Large enough that nothing is ever rejected: the benchmark measures bookkeeping.
const POINTS = 1_000_000_000;
const WINDOW_MS = 60_000;

/**
 * Benchmark 4a: one token per call, per agent, against rate-limiter-flexible's
 * RateLimiterMemory consuming one point per call: (1) MemoryRateLimitStore called directly,
 * building the bucket key per call as a caller would; (2) what a per-agent limit adds to an
 * engine operation (engine get with the limit − without it, per round).
 */
export async function benchLimiter(options: LimiterBenchOptions): Promise<Row[]> {
  const agents = Array.from({ length: options.agents }, (_, i) => `agent-${i}`);

  const flexible = new RateLimiterMemory({ points: POINTS, duration: WINDOW_MS / 1000 });
  const store = new MemoryRateLimitStore();
  const request: BucketRequest[] = [];
  const prefix = `read|agent_id|${POINTS}/${WINDOW_MS}|`;

  const limited = new PolicyEngine(new MemoryStore()).addRateLimit('read', { maxPerMinute: POINTS, scope: 'agent_id' });
  const unlimited = new PolicyEngine(new MemoryStore());
  const contexts = agents.map((agent_id) => ({ agent_id }));
  const key = Buffer.from('k');

  const runners = [
    timed(async (ops) => {
      for (let i = 0; i < ops; i++) await flexible.consume(agents[i % agents.length]!, 1);
    }),
    timedSync((ops) => {
        for (let i = 0; i < ops; i++) {
          request[0] = { key: prefix + agents[i % agents.length]!, capacity: POINTS, windowMs: WINDOW_MS };
          if (!store.consume(request, Date.now()).allowed) throw new Error('rejected');
        }
    }),
    timed(async (ops) => {
      for (let i = 0; i < ops; i++) await unlimited.get(key, contexts[i % contexts.length]);
    }),
    timed(async (ops) => {
      for (let i = 0; i < ops; i++) await limited.get(key, contexts[i % contexts.length]);
    }),
  ];
  const { medians, ratios, samples } = await interleave(options, runners);
  const added = samples[3]!.map((t, r) => t - samples[2]![r]!);
  const addedRatio = added.map((a, r) => a / samples[0]![r]!);
  const group = '4. rate limiter';
  const baseline = 'rate-limiter-flexible RateLimiterMemory.consume';
  return [
    {
      group,
      name: 'MemoryRateLimitStore.consume, direct',
      baseline,
      baselineNs: medians[0]!,
      subjectNs: medians[1]!,
      figure: ratios[1]!,
      unit: 'x',
      floor: 1,
    },
    {
      group,
      name: 'per-agent limit inside an engine operation',
      baseline,
      baselineNs: medians[0]!,
      subjectNs: median(added),
      figure: median(addedRatio),
      unit: 'x',
      floor: 1,
      note: `engine get on an empty MemoryStore: ${medians[2]!.toFixed(0)} ns/op without the limit, ${medians[3]!.toFixed(0)} ns/op with it`,
    },
  ];
}
