import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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

type Step = readonly [name: string, run: (options: SuiteOptions) => Promise<Row[]>];

/** Every benchmark, in the order they run and print. */
export const STEPS: readonly Step[] = [
  ['1. facade vs raw RocksDB', (o) => benchFacade(o.facade)],
  ['2. pattern index', (o) => benchPatterns(o.patterns)],
  ['3. hook invocation', (o) => benchHookCost(o.hookCost)],
  ['4. rate limiter', (o) => benchLimiter(o.limiter)],
  ['4. rate limiter memory', (o) => benchLimiterMemory(o.memory)],
  ['5. declarative rules', (o) => benchRules(o.rules)],
  ['6. scans and batches', (o) => benchScanBatch(o.scanBatch)],
];

export interface RunOptions {
  /** Run the benchmarks whose name starts with one of these (such as `1` or `4. rate limiter memory`). */
  only?: readonly string[];
  /**
   * Run each benchmark in a fresh Node process (the built `step-child.js`, with this process's
   * flags), as an application would run one workload: in one process, the engine's code enters a
   * benchmark with the type feedback of every benchmark before it (thousands of patterns and
   * handlers, other stores), which slows what follows by amounts that have nothing to do with it.
   * Both sides of every comparison still run side by side in the same process. @default false
   */
  isolate?: boolean;
}

/** Runs the benchmarks; `log` hears each one's name and time as it ends. */
export async function runSuite(options: SuiteOptions, log: (line: string) => void = () => {}, run: RunOptions = {}): Promise<Row[]> {
  const rows: Row[] = [];
  for (let i = 0; i < STEPS.length; i++) {
    const [name, step] = STEPS[i]!;
    if (run.only && !run.only.some((prefix) => name.startsWith(prefix))) continue;
    const started = Date.now();
    rows.push(...(run.isolate ? await inChild(i, options === QUICK ? 'quick' : 'full') : await step(options)));
    log(`${name}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return rows;
}

const CHILD = fileURLToPath(new URL('./step-child.js', import.meta.url));

async function inChild(index: number, mode: 'quick' | 'full'): Promise<Row[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, CHILD, String(index), mode], { maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as Row[];
}
