import { MemoryStore, PolicyAction, PolicyEngine } from '@sochdb-policy/core';
import { interleave, median, timed } from './measure.js';
import type { Row } from './row.js';

export interface HookCostOptions {
  ops: number;
  rounds: number;
  /** Matching hooks in the subject engine. */
  hooks: number;
}

/** Patterns that all match `bench/item`, as rules written by different people would. */
const MATCHING = ['bench/*', 'bench/**', '**', '*/item', '**/item', 'bench/it?m', 'bench/{item,other}', 'b*/*'];

/**
 * Benchmark 3: what one more matching hook costs an operation: finding it, calling its
 * handler and reading its answer. (engine with N matching ALLOW hooks − engine with none) / N,
 * per round.
 */
export async function benchHookCost(options: HookCostOptions): Promise<Row[]> {
  const key = Buffer.from('bench/item');
  const value = Buffer.alloc(100, 'v');
  let calls = 0;
  const allow = () => {
    calls++;
    return PolicyAction.ALLOW;
  };
  const bare = new PolicyEngine(new MemoryStore());
  const hooked = new PolicyEngine(new MemoryStore());
  for (let i = 0; i < options.hooks; i++) hooked.beforeWrite(MATCHING[i % MATCHING.length]!, allow);
  await hooked.put(key, value);
  if (calls !== options.hooks) throw new Error(`${calls} of ${options.hooks} hooks ran`);

  const loop = (engine: PolicyEngine) =>
    timed(async (ops) => {
      for (let i = 0; i < ops; i++) await engine.put(key, value);
    });
  const { medians, samples } = await interleave(options, [loop(bare), loop(hooked)]);
  const perHook = samples[0]!.map((b, r) => (samples[1]![r]! - b) / options.hooks);
  return [
    {
      group: '3. hook invocation',
      name: `cost per matching hook (${options.hooks} hooks)`,
      baseline: 'engine put, no hooks',
      baselineNs: medians[0]!,
      subjectNs: medians[1]!,
      figure: median(perHook),
      unit: 'ns',
      floor: 1000,
    },
  ];
}
