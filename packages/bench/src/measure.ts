/**
 * Timing helpers. The machine is shared, so no single run means much: every comparison runs
 * its baseline and its subjects in the same process, interleaved in small chunks (a few
 * milliseconds each, the order rotating) so that a burst of someone else's work hits every
 * runner alike, and reports medians over rounds.
 */

/** Runs `ops` operations and returns the nanoseconds they took. */
export type Runner = (ops: number) => Promise<number>;

export interface Comparison {
  /** Median ns/op of each runner, in the order given. */
  medians: number[];
  /** Median over rounds of (runner i ns/op) / (runner 0 ns/op) from the same round. */
  ratios: number[];
  /** Every round's ns/op: samples[runner][round], for figures derived per round. */
  samples: number[][];
}

export interface InterleaveOptions {
  /** Rounds; each yields one sample per runner. */
  rounds: number;
  /** Operations per runner per round. */
  ops: number;
  /** Chunks each round's operations are split into, alternating between runners. @default 10 */
  chunks?: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * A runner from a loop body that performs `ops` operations. The time includes a young-generation
 * collection at the end ({@link collectYoung}): each runner pays for the short-lived garbage it
 * made, not the runner after it.
 */
export function timed(body: (ops: number) => Promise<void>): Runner {
  return async (ops) => {
    const start = process.hrtime.bigint();
    await body(ops);
    collectYoung();
    return Number(process.hrtime.bigint() - start);
  };
}

/** Like {@link timed} for a synchronous body: no promise in the measured path. */
export function timedSync(body: (ops: number) => void): Runner {
  return async (ops) => {
    const start = process.hrtime.bigint();
    body(ops);
    collectYoung();
    return Number(process.hrtime.bigint() - start);
  };
}

type Gc = (options?: { type?: 'major' | 'minor' }) => void;

/**
 * A minor (young-generation) collection when node runs with --expose-gc; called inside a
 * runner's timed region, as it ends. Not a full collection: a forced full collection before
 * every round or chunk (what these benchmarks did before) shrinks the heap, so what runs next
 * starts cold and collects far more often than in a process that runs warm, which overcharged
 * whatever allocates most (the engine against a raw binding): a batch of 1,000 puts through the
 * engine measured 1.93× the raw write batch with a full collection before each timed body and
 * 1.42× without (docs/benchmarks.md).
 */
export function collectYoung(): void {
  (globalThis as { gc?: Gc }).gc?.({ type: 'minor' });
}

/** A full collection when node runs with --expose-gc: only before a benchmark starts (see {@link collectYoung}). */
export function collectGarbage(): void {
  (globalThis as { gc?: Gc }).gc?.();
}

/**
 * Runs one round untimed to warm up, then `rounds` rounds in which every runner performs
 * `ops` operations in `chunks` chunks, taking turns chunk by chunk. Runner 0 is the baseline.
 */
export async function interleave(options: InterleaveOptions, runners: readonly Runner[]): Promise<Comparison> {
  const chunks = Math.max(1, Math.min(options.chunks ?? 10, options.ops));
  const chunkOps = Math.ceil(options.ops / chunks);
  const round = async (turn: number): Promise<number[]> => {
    const total: number[] = runners.map(() => 0);
    for (let c = 0; c < chunks; c++) {
      for (let j = 0; j < runners.length; j++) {
        const i = (j + c + turn) % runners.length;
        total[i]! += await runners[i]!(chunkOps);
      }
    }
    return total.map((ns) => ns / (chunkOps * chunks));
  };
  collectGarbage();
  await round(0);
  const samples: number[][] = runners.map(() => []);
  for (let r = 0; r < options.rounds; r++) {
    const nsPerOp = await round(r);
    nsPerOp.forEach((v, i) => samples[i]!.push(v));
  }
  const ratios = runners.map((_, i) => median(samples[i]!.map((v, r) => v / samples[0]![r]!)));
  return { medians: samples.map(median), ratios, samples };
}

/** One operation of a runner in {@link alternate}: `i` counts the runner's operations. */
export type Step = (i: number) => Promise<unknown>;

/**
 * For sequential latency: the runners take turns one operation at a time (the order rotating
 * every operation), each operation timed alone, so that every runner sees the same machine at
 * the same moment; chunks of milliseconds still let a neighbour's burst favour one side.
 * Each round's figure is the runner's total time over its `ops` operations, garbage
 * collection included. The clock reads (tens of ns) add the same to every runner.
 */
export async function alternate(options: InterleaveOptions, steps: readonly Step[]): Promise<Comparison> {
  const round = async (): Promise<number[]> => {
    const total: number[] = steps.map(() => 0);
    collectGarbage();
    let n = 0;
    for (let i = 0; i < options.ops; i++) {
      for (let j = 0; j < steps.length; j++) {
        const s = (i + j) % steps.length;
        const start = process.hrtime.bigint();
        await steps[s]!(n);
        total[s]! += Number(process.hrtime.bigint() - start);
      }
      n++;
    }
    return total.map((ns) => ns / options.ops);
  };
  await round();
  const samples: number[][] = steps.map(() => []);
  for (let r = 0; r < options.rounds; r++) (await round()).forEach((v, i) => samples[i]!.push(v));
  const ratios = steps.map((_, i) => median(samples[i]!.map((v, r) => v / samples[0]![r]!)));
  return { medians: samples.map(median), ratios, samples };
}
