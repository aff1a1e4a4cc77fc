/**
 * One memory measurement: many distinct agents calling once each. Modes: `engine` (engine get
 * with a per-agent limit), `none` (the same loop without a limit), `flexible`
 * (RateLimiterMemory.consume per agent). Run it in a fresh process (memory-child.ts) for a
 * peak RSS of its own.
 */
import { readFileSync } from 'node:fs';
import { MemoryRateLimitStore, MemoryStore, PolicyEngine } from '@sochdb-policy/core';
import { RateLimiterMemory } from 'rate-limiter-flexible';

export type MemoryMode = 'engine' | 'none' | 'flexible';

export interface MemoryReport {
  mode: MemoryMode;
  agents: number;
  /** Peak resident set size of the process, bytes. */
  peakRss: number;
  /** Most buckets (or rate-limiter-flexible keys) held at once. */
  peakBuckets: number;
  /** Calls made while one token refills: how many buckets can be not-full at once. */
  callsPerRefill: number;
}

// The simulated load: 100 calls per millisecond (100,000 per second), each agent allowed 600
// calls per minute, so a used bucket is full again 100 ms (10,000 calls) later.
const CALLS_PER_MS = 100;
const MAX_PER_MINUTE = 600;
const SAMPLE_EVERY = 1000;

export async function measureMemory(mode: MemoryMode, agents: number): Promise<MemoryReport> {
  let now = Date.now();
  const clock = () => now;
  const store = new MemoryRateLimitStore();
  const engine = new PolicyEngine(new MemoryStore(), { clock, rateLimitStore: store });
  if (mode === 'engine') engine.addRateLimit('read', { maxPerMinute: MAX_PER_MINUTE, scope: 'agent_id' });
  const flexible = new RateLimiterMemory({ points: MAX_PER_MINUTE, duration: 60 });
  const key = Buffer.from('k');
  let peakBuckets = 0;
  let peakRss = process.memoryUsage.rss();
  for (let i = 0; i < agents; i++) {
    const agent_id = `agent-${i}`;
    if (mode === 'flexible') await flexible.consume(agent_id, 1);
    else await engine.get(key, { agent_id });
    now += 1 / CALLS_PER_MS;
    if (i % SAMPLE_EVERY === 0) {
      peakBuckets = Math.max(peakBuckets, held(mode, store, flexible));
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }
  }
  peakBuckets = Math.max(peakBuckets, held(mode, store, flexible));
  return {
    mode,
    agents,
    peakRss: Math.max(peakRss, highWaterMark() ?? 0),
    peakBuckets,
    callsPerRefill: (60_000 / MAX_PER_MINUTE) * CALLS_PER_MS,
  };
}

/**
 * The kernel's peak RSS of this process, where Linux reports it. Not `resourceUsage().maxRSS`:
 * Linux carries that over from the parent across fork, so a child of a big benchmark process
 * would report the parent's peak.
 */
function highWaterMark(): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function held(mode: MemoryMode, store: MemoryRateLimitStore, flexible: RateLimiterMemory): number {
  if (mode === 'engine') return store.size;
  if (mode === 'none') return 0;
  // rate-limiter-flexible keeps its records in a private Map; its size is what it holds.
  const storage = (flexible as unknown as { _memoryStorage?: { _storage?: Map<string, unknown> } })._memoryStorage;
  return storage?._storage?.size ?? Number.NaN;
}
