import { MemoryStore, PolicyAction, PolicyEngine } from '@sochdb-policy/core';
import { interleave, median, timed, type Runner } from './measure.js';
import type { Row } from './row.js';

export interface PatternBenchOptions {
  ops: number;
  rounds: number;
  /** Pattern counts to compare; the first is the baseline. */
  sizes: readonly number[];
}

/**
 * Kinds of rules a real deployment piles up, one per tenant/field/extension: pattern `i` of
 * the mix is kind `i % KINDS.length`, and `key(i)` is a key that pattern `i` matches and no
 * other pattern of the mix does.
 */
const KINDS: readonly { pattern: (i: number) => string; key: (i: number) => string }[] = [
  { pattern: (i) => `tenant/${i}/*`, key: (i) => `tenant/${i}/doc` },
  { pattern: (i) => `users/*/field${i}`, key: (i) => `users/alice/field${i}` },
  { pattern: (i) => `**/*.ext${i}`, key: (i) => `data/2024/report.ext${i}` },
  { pattern: (i) => `logs/${i}/**`, key: (i) => `logs/${i}/2024/01/app` },
  { pattern: (i) => `*/secret${i}`, key: (i) => `vault/secret${i}` },
  { pattern: (i) => `app${i}/config/*.yaml`, key: (i) => `app${i}/config/main.yaml` },
  { pattern: (i) => `sessions/s${i}-?`, key: (i) => `sessions/s${i}-a` },
];

/**
 * Issue 16: shapes with neither a literal head nor a literal tail of their own (the index
 * finds them by a text they require anywhere), each benchmarked on its own: `size` patterns
 * of the one shape, keys for its first patterns, each matching exactly one.
 */
export const SHAPES: readonly { name: string; pattern: (i: number) => string; key: (i: number) => string }[] = [
  { name: 'users/*<i>*', pattern: (i) => `users/*${i}*`, key: (i) => `users/a${i}b` },
  { name: '*/x<i>/**', pattern: (i) => `*/x${i}/**`, key: (i) => `vault/x${i}/2024/01` },
  { name: '**/x<i>/*', pattern: (i) => `**/x${i}/*`, key: (i) => `data/2024/x${i}/doc` },
  { name: '*<i>*/report (shared tail)', pattern: (i) => `*${i}*/report`, key: (i) => `a${i}b/report` },
  { name: '{app,svc}<i>/*', pattern: (i) => `{app,svc}${i}/*`, key: (i) => `svc${i}/config` },
];

/** Rules with neither a literal prefix nor a literal tail, present in every size. */
const UNINDEXED = ['**/tmp/**'];

export function patternMix(count: number): string[] {
  const out = [...UNINDEXED];
  for (let i = 0; out.length < count; i++) out.push(KINDS[i % KINDS.length]!.pattern(i));
  return out;
}

/** Keys for the first patterns of the mix, which every size registers. */
export function mixKeys(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.from(KINDS[i % KINDS.length]!.key(i)));
}

/** An engine with the before_write `patterns`; `hits` counts handler calls. */
function engineWith(patterns: readonly string[], hits: { n: number }): PolicyEngine {
  const engine = new PolicyEngine(new MemoryStore());
  const handler = () => {
    hits.n++;
    return PolicyAction.ALLOW;
  };
  for (const pattern of patterns) engine.beforeWrite(pattern, handler);
  return engine;
}

/**
 * Benchmark 2: the engine's cost per put (time through the engine minus the same put on the
 * bare MemoryStore, per round) with 10, 1,000 and 10,000 registered patterns of which exactly
 * one matches the key: the mix of kinds above, then each of {@link SHAPES} alone.
 */
export async function benchPatterns(options: PatternBenchOptions): Promise<Row[]> {
  const rows = await benchSet(options, 'mix', patternMix, mixKeys(Math.min(10, options.sizes[0]! - UNINDEXED.length)));
  for (const shape of SHAPES) {
    const patterns = (count: number) => Array.from({ length: count }, (_, i) => shape.pattern(i));
    const keys = Array.from({ length: Math.min(10, options.sizes[0]!) }, (_, i) => Buffer.from(shape.key(i)));
    rows.push(...(await benchSet(options, shape.name, patterns, keys)));
  }
  return rows;
}

/** Rows for one set of patterns at each size; `label` 'mix' keeps the original row names. */
async function benchSet(options: PatternBenchOptions, label: string, patternsOf: (count: number) => string[], keys: Buffer[]): Promise<Row[]> {
  const value = Buffer.alloc(100, 'v');
  const store = new MemoryStore();
  const hits = { n: 0 };
  const engines = options.sizes.map((n) => engineWith(patternsOf(n), hits));

  // Each key must match exactly one pattern, or the comparison measures something else.
  for (const engine of engines) {
    for (const key of keys) {
      hits.n = 0;
      await engine.put(key, value);
      if (hits.n !== 1) throw new Error(`key ${key} matched ${hits.n} patterns, expected 1`);
    }
  }

  const loop = (put: (key: Buffer) => Promise<void>): Runner =>
    timed(async (ops) => {
      for (let i = 0; i < ops; i++) await put(keys[i % keys.length]!);
    });
  const runners = [loop((k) => store.put(k, value)), ...engines.map((e) => loop((k) => e.put(k, value)))];
  const { medians, samples } = await interleave(options, runners);

  // Engine cost per round: the store's own time from the same round is subtracted.
  const cost = (s: number, r: number) => samples[s + 1]![r]! - samples[0]![r]!;
  const rounds = samples[0]!.length;
  return options.sizes.map((size, s) => {
    const ratios = Array.from({ length: rounds }, (_, r) => cost(s, r) / cost(0, r));
    return {
      group: '2. pattern index',
      name: label === 'mix' ? `${size.toLocaleString('en-US')} patterns, 1 matching` : `${size.toLocaleString('en-US')} × ${label}, 1 matching`,
      baseline: `${options.sizes[0]} patterns (engine cost)`,
      baselineNs: median(Array.from({ length: rounds }, (_, r) => cost(0, r))),
      subjectNs: median(Array.from({ length: rounds }, (_, r) => cost(s, r))),
      figure: median(ratios),
      unit: 'x',
      floor: s === 0 ? undefined : 2,
      note: `engine put on MemoryStore: ${medians[s + 1]!.toFixed(0)} ns/op, of which the store ${medians[0]!.toFixed(0)} ns/op`,
    } satisfies Row;
  });
}
