import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Row } from './row.js';
import { measureMemory, RETURNING, type MemoryMode, type MemoryReport } from './memory-probe.js';

export interface MemoryBenchOptions {
  /** Distinct agents, one call each. */
  agents: number;
  /**
   * Measure in this process instead of a fresh one per mode (the smoke test, which runs from
   * TypeScript sources): peak RSS is then the whole process's. @default false
   */
  inProcess?: boolean;
}

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./memory-child.js', import.meta.url));

/** Each mode runs in a fresh process, so its peak RSS is its own. */
async function measure(mode: MemoryMode, agents: number, inProcess = false): Promise<MemoryReport> {
  if (inProcess) return measureMemory(mode, agents);
  const { stdout } = await run(process.execPath, [CHILD, mode, String(agents)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as MemoryReport;
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

/**
 * Benchmark 4b: bucket memory with many distinct agents, each calling once, through the
 * engine with a per-agent limit, against the same loop without a limit and against
 * rate-limiter-flexible's RateLimiterMemory.
 */
export async function benchLimiterMemory(options: MemoryBenchOptions): Promise<Row[]> {
  const none = await measure('none', options.agents, options.inProcess);
  const ours = await measure('engine', options.agents, options.inProcess);
  const flexible = await measure('flexible', options.agents, options.inProcess);
  const burst = await measure('burst', options.agents, options.inProcess);
  const agents = options.agents.toLocaleString('en-US');
  const group = '4. rate limiter';
  return [
    {
      group,
      name: `buckets held at peak, ${agents} agents`,
      baseline: `distinct agents (count)`,
      baselineNs: options.agents,
      subjectNs: ours.peakBuckets,
      figure: ours.peakBuckets / options.agents,
      unit: 'x',
      floor: 0.05,
      note:
        `peak RSS: ${mb(ours.peakRss)} with the per-agent limit, ${mb(none.peakRss)} for the same loop without it, ` +
        `${mb(flexible.peakRss)} for RateLimiterMemory (${flexible.peakBuckets.toLocaleString('en-US')} keys held); ` +
        `${ours.callsPerRefill.toLocaleString('en-US')} calls per token refill; ` +
        `after all ${agents} agents within one refill, a minute, and ${agents} calls from ${RETURNING.toLocaleString('en-US')} of them: ` +
        `${(burst.heldAfterBurst ?? Number.NaN).toLocaleString('en-US')} buckets held, no sweep() called`,
    },
    {
      group,
      name: `peak RSS (MB), ${agents} agents`,
      baseline: 'RateLimiterMemory peak RSS (MB)',
      baselineNs: flexible.peakRss / 2 ** 20,
      subjectNs: ours.peakRss / 2 ** 20,
      figure: ours.peakRss / flexible.peakRss,
      unit: 'x',
      floor: 1,
    },
  ];
}
