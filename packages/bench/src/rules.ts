import { MemoryStore, PolicyAction, PolicyEngine } from '@sochdb-policy/core';
import { interleave, median, timed, type Runner } from './measure.js';
import { mixKeys, patternMix } from './patterns.js';
import type { Row } from './row.js';

export interface RulesBenchOptions {
  ops: number;
  rounds: number;
  /** Rule counts to compare; the first is the baseline. */
  sizes: readonly number[];
  /** Matching rules for the CEL condition cost. */
  conditioned: number;
}

/** A policy document of `count` before_write rules over the pattern mix, each calling `count`. */
function document(count: number, condition?: string) {
  return {
    version: 1,
    rules: patternMix(count).map((pattern, i) => ({ id: `r${i}`, trigger: 'before_write', pattern, effect: 'handler', handler: 'count', ...(condition ? { condition } : {}) })),
  };
}

/**
 * Benchmark 5: declarative rules (issue 13). (a) The engine's cost per put with 10 and 10,000
 * document rules of which one matches, as benchmark 2 does for code hooks; (b) what a simple
 * CEL condition adds per matching rule: (engine with N matching conditioned rules − the same
 * rules without the condition) / N.
 */
export async function benchRules(options: RulesBenchOptions): Promise<Row[]> {
  const hits = { n: 0 };
  const handlers = {
    count: () => {
      hits.n++;
      return PolicyAction.ALLOW;
    },
  };
  const value = Buffer.alloc(100, 'v');
  const context = { agent_id: 'agent_001' };
  const keys = mixKeys(Math.min(10, options.sizes[0]! - 1));
  const store = new MemoryStore();
  const engines = options.sizes.map((n) => new PolicyEngine(new MemoryStore()).load(document(n), { handlers }));
  for (const engine of engines) {
    for (const key of keys) {
      hits.n = 0;
      await engine.put(key, value, context);
      if (hits.n !== 1) throw new Error(`key ${key} matched ${hits.n} rules, expected 1`);
    }
  }
  const loop = (put: (key: Buffer) => Promise<void>): Runner =>
    timed(async (ops) => {
      for (let i = 0; i < ops; i++) await put(keys[i % keys.length]!);
    });
  const { medians, samples } = await interleave(options, [loop((k) => store.put(k, value)), ...engines.map((e) => loop((k) => e.put(k, value, context)))]);
  const rounds = samples[0]!.length;
  const cost = (s: number, r: number) => samples[s + 1]![r]! - samples[0]![r]!;
  const rows: Row[] = options.sizes.map((size, s) => ({
    group: '5. declarative rules',
    name: `${size.toLocaleString('en-US')} rules, 1 matching`,
    baseline: `${options.sizes[0]} rules (engine cost)`,
    baselineNs: median(Array.from({ length: rounds }, (_, r) => cost(0, r))),
    subjectNs: median(Array.from({ length: rounds }, (_, r) => cost(s, r))),
    figure: median(Array.from({ length: rounds }, (_, r) => cost(s, r) / cost(0, r))),
    unit: 'x',
    floor: s === 0 ? undefined : 2,
    note: `engine put on MemoryStore: ${medians[s + 1]!.toFixed(0)} ns/op, of which the store ${medians[0]!.toFixed(0)} ns/op`,
  }));

  // (b) N rules that all match `bench/item`, with and without a condition that holds.
  const matching = (condition?: string) => ({
    version: 1,
    rules: Array.from({ length: options.conditioned }, (_, i) => ({ id: `c${i}`, trigger: 'before_write', pattern: 'bench/*', effect: 'handler', handler: 'count', ...(condition ? { condition } : {}) })),
  });
  const plain = new PolicyEngine(new MemoryStore()).load(matching(), { handlers });
  const conditioned = new PolicyEngine(new MemoryStore()).load(matching('context.agent_id != ""'), { handlers });
  const key = Buffer.from('bench/item');
  hits.n = 0;
  await conditioned.put(key, value, context);
  if (hits.n !== options.conditioned) throw new Error(`${hits.n} of ${options.conditioned} conditioned rules ran`);
  const one = (engine: PolicyEngine): Runner =>
    timed(async (ops) => {
      for (let i = 0; i < ops; i++) await engine.put(key, value, context);
    });
  const cel = await interleave(options, [one(plain), one(conditioned)]);
  const perRule = cel.samples[0]!.map((p, r) => (cel.samples[1]![r]! - p) / options.conditioned);
  rows.push({
    group: '5. declarative rules',
    name: `CEL condition per matching rule (${options.conditioned} rules)`,
    baseline: 'the same rules, no condition',
    baselineNs: cel.medians[0]!,
    subjectNs: cel.medians[1]!,
    figure: median(perRule),
    unit: 'ns',
    floor: 1000,
    note: 'condition: context.agent_id != ""',
  });
  return rows;
}
