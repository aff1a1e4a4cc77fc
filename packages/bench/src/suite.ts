import { benchFacade, type FacadeBenchOptions } from './facade.js';
import { benchHookCost, type HookCostOptions } from './hook-cost.js';
import { benchLimiter, type LimiterBenchOptions } from './limiter.js';
import { benchLimiterMemory, type MemoryBenchOptions } from './memory.js';
import { benchPatterns, type PatternBenchOptions } from './patterns.js';
import type { Row } from './row.js';
import { benchRules, type RulesBenchOptions } from './rules.js';
import { benchScanBatch, type ScanBatchBenchOptions } from './scan-batch.js';

export interface SuiteOptions {
  facade: FacadeBenchOptions;
  patterns: PatternBenchOptions;
  hookCost: HookCostOptions;
  limiter: LimiterBenchOptions;
  memory: MemoryBenchOptions;
  rules: RulesBenchOptions;
  scanBatch: ScanBatchBenchOptions;
}

/** What `pnpm bench` runs: enough rounds that medians hold on a shared two-core machine. */
export const FULL: SuiteOptions = {
  facade: { ops: 32_000, rounds: 9, chunks: 8, keys: 1000 },
  patterns: { ops: 20_000, rounds: 15, sizes: [10, 1000, 10_000] },
  hookCost: { ops: 20_000, rounds: 15, hooks: 20 },
  limiter: { ops: 50_000, rounds: 15, agents: 1000 },
  memory: { agents: 1_000_000 },
  rules: { ops: 20_000, rounds: 15, sizes: [10, 10_000], conditioned: 20 },
  // 21 rounds: a round of the scan is one 100,000-key scan per side (a fifth of a second), and
  // with 7 the median of per-round ratios moved by ±20 % between runs of the same build.
  scanBatch: { keys: 100_000, rounds: 21, batch: 1000, batches: 20, filterKeys: 100_000, patterns: 1000 },
};

/** A few iterations of everything, for the smoke test: it checks that the benchmarks run. */
export const QUICK: SuiteOptions = {
  facade: { ops: 128, rounds: 1, chunks: 2, keys: 16 },
  patterns: { ops: 20, rounds: 1, sizes: [10, 100] },
  hookCost: { ops: 20, rounds: 1, hooks: 4 },
  limiter: { ops: 20, rounds: 1, agents: 4 },
  memory: { agents: 2000, inProcess: true },
  rules: { ops: 20, rounds: 1, sizes: [10, 100], conditioned: 4 },
  scanBatch: { keys: 200, rounds: 1, batch: 10, batches: 2, filterKeys: 100, patterns: 10 },
};

/** Runs the benchmarks (or those whose name starts with one of `only`, such as `1` or `4. rate limiter memory`). */
export async function runSuite(options: SuiteOptions, log: (line: string) => void = () => {}, only?: readonly string[]): Promise<Row[]> {
  const rows: Row[] = [];
  const steps: [string, () => Promise<Row[]>][] = [
    ['1. facade vs raw RocksDB', () => benchFacade(options.facade)],
    ['2. pattern index', () => benchPatterns(options.patterns)],
    ['3. hook invocation', () => benchHookCost(options.hookCost)],
    ['4. rate limiter', () => benchLimiter(options.limiter)],
    ['4. rate limiter memory', () => benchLimiterMemory(options.memory)],
    ['5. declarative rules', () => benchRules(options.rules)],
    ['6. scans and batches', () => benchScanBatch(options.scanBatch)],
  ];
  for (const [name, step] of steps) {
    if (only && !only.some((prefix) => name.startsWith(prefix))) continue;
    const started = Date.now();
    rows.push(...(await step()));
    log(`${name}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return rows;
}
