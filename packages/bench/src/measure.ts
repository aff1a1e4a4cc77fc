/**
 * Timing helpers. The machine is shared, so no single run means much: every comparison runs
 * its baseline and its subjects in the same process, interleaved round by round (the order
 * rotates each round so neither always runs first), and reports medians. A burst of noise
 * then hits one round of every runner instead of all rounds of one.
 */

/** Runs one timed batch and returns nanoseconds per operation. */
export type Runner = () => Promise<number>;

export interface Comparison {
  /** Median ns/op of each runner, in the order given. */
  medians: number[];
  /** Median over rounds of (runner i ns/op) / (runner 0 ns/op) from the same round. */
  ratios: number[];
  /** Every round's ns/op: samples[runner][round], for figures derived per round. */
  samples: number[][];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nanoseconds per operation of `ops` operations run by `body`. */
export async function timeAsync(ops: number, body: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await body();
  return Number(process.hrtime.bigint() - start) / ops;
}

/** Like {@link timeAsync} for a synchronous body: no promise in the measured path. */
export function timeSync(ops: number, body: () => void): number {
  const start = process.hrtime.bigint();
  body();
  return Number(process.hrtime.bigint() - start) / ops;
}

/** Collects garbage between rounds when node runs with --expose-gc, so one runner's garbage is not collected on another's time. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Runs every runner once to warm up, then `rounds` rounds of all runners, rotating the order.
 * Runner 0 is the baseline.
 */
export async function interleave(rounds: number, runners: readonly Runner[]): Promise<Comparison> {
  for (const run of runners) await run();
  const samples: number[][] = runners.map(() => []);
  const ratioSamples: number[][] = runners.map(() => []);
  for (let r = 0; r < rounds; r++) {
    const round: number[] = new Array(runners.length);
    for (let j = 0; j < runners.length; j++) {
      const i = (j + r) % runners.length;
      collectGarbage();
      round[i] = await runners[i]!();
    }
    for (let i = 0; i < runners.length; i++) {
      samples[i]!.push(round[i]!);
      ratioSamples[i]!.push(round[i]! / round[0]!);
    }
  }
  return { medians: samples.map(median), ratios: ratioSamples.map(median), samples };
}
