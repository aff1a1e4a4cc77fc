/**
 * One memory measurement: many distinct agents calling once each. Modes: `engine` (engine get
 * with a per-agent limit), `none` (the same loop without a limit), `flexible`
 * (RateLimiterMemory.consume per agent), `burst` (all agents within one refill, then a minute
 * later the same number of calls from a few agents: the buckets left held). Run it in a fresh process (memory-child.ts) for a
 * peak RSS of its own.
 */
import { readFileSync } from 'node:fs';
import { MemoryRateLimitStore, MemoryStore, PolicyEngine } from '@sochdb-policy/core';
import { RateLimiterMemory } from 'rate-limiter-flexible';

export type MemoryMode = 'engine' | 'none' | 'flexible' | 'burst';

export interface MemoryReport {
  mode: MemoryMode;
  agents: number;
  /** Peak resident set size of the process, bytes. */
  peakRss: number;
  /** Most buckets (or rate-limiter-flexible keys) held at once. */
  peakBuckets: number;
  /** Calls made while one token refills: how many buckets can be not-full at once. */
  callsPerRefill: number;
  /**
   * `burst` only: buckets held at the end, after every agent called within one refill, a
   * minute passed, and as many calls again came from {@link RETURNING} agents. Nobody calls
   * `sweep()`: what is left is what the store reclaims on its own.
   */
  heldAfterBurst?: number;
}

/** Agents whose traffic goes on after the burst. */
export const RETURNING = 1_000;

// The simulated load: 100 calls per millisecond (100,000 per second), each agent allowed 600
// calls per minute, so a used bucket is full again 100 ms (10,000 calls) later.
const CALLS_PER_MS = 100;
const MAX_PER_MINUTE = 600;
const SAMPLE_EVERY = 1000;

export async function measureMemory(mode: MemoryMode, agents: number): Promise<MemoryReport> {
  if (mode === 'burst') return measureBurst(agents);
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
 * Every agent calls once within one refill (the simulated clock does not move), so no bucket
 * is full when the burst ends; then a minute passes (every bucket is full again) and
 * {@link RETURNING} agents make as many calls again. A store that reclaims full buckets only
 * when its map grows keeps all of them; one that reclaims a few per call gets rid of them.
 */
async function measureBurst(agents: number): Promise<MemoryReport> {
  let now = Date.now();
  const store = new MemoryRateLimitStore();
  const engine = new PolicyEngine(new MemoryStore(), { clock: () => now, rateLimitStore: store });
  engine.addRateLimit('read', { maxPerMinute: MAX_PER_MINUTE, scope: 'agent_id' });
  const key = Buffer.from('k');
  let peakRss = process.memoryUsage.rss();
  for (let i = 0; i < agents; i++) {
    await engine.get(key, { agent_id: `agent-${i}` });
    if (i % SAMPLE_EVERY === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }
  const peakBuckets = store.size;
  now += 60_000;
  const returning = Array.from({ length: RETURNING }, (_, i) => ({ agent_id: `agent-${i}` }));
  for (let i = 0; i < agents; i++) {
    // They call more often than their limit allows: some calls are rate limited, as in life.
    await engine.get(key, returning[i % RETURNING]).catch(rateLimitedOnly);
    now += 1 / CALLS_PER_MS;
  }
  return {
    mode: 'burst',
    agents,
    peakRss: Math.max(peakRss, highWaterMark() ?? 0),
    peakBuckets,
    callsPerRefill: (60_000 / MAX_PER_MINUTE) * CALLS_PER_MS,
    heldAfterBurst: store.size,
  };
}

function rateLimitedOnly(error: unknown): void {
  if ((error as { code?: unknown })?.code !== 'rate_limited') throw error;
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
