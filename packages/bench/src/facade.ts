import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RocksLevel } from '@nxtedition/rocksdb';
import { Database, PolicyAction, PolicyEngine } from 'sochdb-policy';
import { allowAll, denyAll, redactValue, requireAgentId } from 'sochdb-policy/policy';
import { alternate, interleave, median, timed, type Comparison, type Runner } from './measure.js';
import type { Row } from './row.js';

export interface FacadeBenchOptions {
  /** Operations per runner per round. */
  ops: number;
  /** Interleaved rounds; the figure is the median. */
  rounds: number;
  /** Chunks per round in flight, alternating between raw and facade (sequential runs alternate every operation). */
  chunks: number;
  /** Distinct keys the operations cycle through. */
  keys: number;
}

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;
const IN_FLIGHT = 64;

/** The same operation through raw RocksDB and through the policy engine on the facade. */
interface Target {
  put(key: Buffer, value: Buffer, agent: number): Promise<unknown>;
  get(key: Buffer, agent: number): Promise<unknown>;
}

/**
 * The raw binding's public single-key calls a user could pick: `put` or a one-operation
 * `batch` to write, `get` or `getMany([key])` to read. Each round, the baseline is whichever
 * was faster in that round.
 */
const RAW_CALLS = {
  put: ['put', 'batch([put])'],
  get: ['get', 'getMany([key])'],
} as const;

/**
 * A realistic policy: 10 hooks spread over the six triggers (some match the benchmark keys
 * `users/<n>/profile`, most do not), two rate limits far too large to reject, audit on.
 */
export function configurePolicy(policy: PolicyEngine): PolicyEngine {
  let logged = 0;
  const log = () => {
    logged++;
    return PolicyAction.LOG;
  };
  return policy
    .beforeWrite('system/*', (ctx) => (ctx.agentId ? PolicyAction.DENY : PolicyAction.ALLOW))
    .beforeWrite('users/*/profile', requireAgentId)
    .beforeWrite('**/*.tmp', denyAll)
    .afterWrite('users/**', log)
    .beforeRead('secrets/*', requireAgentId)
    .beforeRead('users/*/profile', allowAll)
    .afterRead('users/*/email', redactValue())
    .afterRead('secrets/*', redactValue())
    .beforeDelete('users/**', requireAgentId)
    .afterDelete('**', log)
    .addRateLimit('write', { maxPerMinute: 1_000_000_000, scope: 'agent_id' })
    .addRateLimit('all', { maxPerMinute: 1_000_000_000 })
    .enableAudit();
}

/** One operation at a time, each awaited before the next: sequential latency, in runs of a chunk. */
function sequential(keys: readonly Buffer[], op: (key: Buffer, agent: number) => Promise<unknown>): Runner {
  let next = 0;
  return timed(async (ops) => {
    for (let i = 0; i < ops; i++) await op(keys[next++ % keys.length]!, 0);
  });
}

function inFlight(keys: readonly Buffer[], op: (key: Buffer, agent: number) => Promise<unknown>): Runner {
  let next = 0;
  const worker = async (w: number, ops: number, first: number) => {
    for (let i = w; i < ops; i += IN_FLIGHT) await op(keys[(first + i) % keys.length]!, w);
  };
  return timed(async (ops) => {
    const first = next;
    next += ops;
    const workers: Promise<void>[] = [];
    for (let w = 0; w < IN_FLIGHT; w++) workers.push(worker(w, ops, first));
    await Promise.all(workers);
  });
}

/** Raw RocksDB through one of its {@link RAW_CALLS}: `which` 0 or 1. */
function rawRocks(db: RocksLevel, which: 0 | 1): Target {
  return which === 0
    ? { put: (key, v) => db.put(key, v, BUFFERS), get: (key) => db.get(key, BUFFERS) }
    : { put: (key, v) => db.batch([{ type: 'put', key, value: v }], BUFFERS), get: (key) => db.getMany([key], BUFFERS) };
}

/**
 * The faster of runners 0 and 1 (by median) is the baseline: its median, and the median over
 * rounds of runner 2 against it in the same round. (Not the faster of the two in each round: the
 * minimum of two noisy samples is biased low.)
 */
function againstFastest(c: Comparison): { baselineNs: number; subjectNs: number; ratio: number; faster: 0 | 1 } {
  const faster = c.medians[0]! <= c.medians[1]! ? 0 : 1;
  const ratio = median(c.samples[2]!.map((v, r) => v / c.samples[faster]![r]!));
  return { baselineNs: c.medians[faster]!, subjectNs: c.medians[2]!, ratio, faster };
}

/** Benchmark 1: facade put/get with hooks, limits and audit, against raw RocksDB. */
export async function benchFacade(options: FacadeBenchOptions): Promise<Row[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sochdb-policy-bench-'));
  const raw = new RocksLevel(join(dir, 'raw'), {});
  await raw.open({ createIfMissing: true });
  const controls = [new RocksLevel(join(dir, 'control-a'), {}), new RocksLevel(join(dir, 'control-b'), {})];
  for (const control of controls) await control.open({ createIfMissing: true });
  const db = await Database.open(join(dir, 'facade'));
  const policy = configurePolicy(new PolicyEngine(db));
  const contexts = Array.from({ length: IN_FLIGHT }, (_, w) => ({ agent_id: `agent-${w}`, session_id: `session-${w}` }));
  const keys = Array.from({ length: options.keys }, (_, i) => Buffer.from(`users/${i}/profile`));
  const value = Buffer.alloc(100, 'v');

  const rawTargets = [rawRocks(raw, 0), rawRocks(raw, 1)];
  // Two more raw databases measured against each other the same way: how far apart two
  // identical runners land on this machine, i.e. how much of a figure is noise. (Not against
  // `raw`: a database that has taken more writes than its opponent is slower.)
  const controlTargets = controls.map((c) => rawRocks(c, 1));
  const facadeTarget: Target = {
    put: (key, v, agent) => policy.put(key, v, contexts[agent]),
    get: (key, agent) => policy.get(key, contexts[agent]),
  };
  try {
    // Every key exists before anything is read.
    for (const key of keys) await Promise.all([rawTargets[0]!, facadeTarget, ...controlTargets].map((t) => t.put(key, value, 0)));
    const rows: Row[] = [];
    for (const mode of ['sequential', `${IN_FLIGHT} in flight`] as const) {
      const floor = mode === 'sequential' ? 1.05 : 1.15;
      for (const opName of ['put', 'get'] as const) {
        const compare = (targets: Target[]): Promise<Comparison> => {
          const ops = targets.map((t) =>
            opName === 'put' ? (k: Buffer, a: number) => t.put(k, value, a) : (k: Buffer, a: number) => t.get(k, a),
          );
          return mode === 'sequential'
            ? interleave(options, ops.map((op) => sequential(keys, op)))
            : interleave(options, ops.map((op) => inFlight(keys, op)));
        };
        const { baselineNs, subjectNs, ratio, faster } = againstFastest(await compare([...rawTargets, facadeTarget]));
        const noise = (await compare(controlTargets)).ratios[1]!;
        const [first, second] = RAW_CALLS[opName];
        // Also one operation at a time in turn (each runner's caches cold from the others'), for the note.
        let cold = '';
        if (mode === 'sequential') {
          const steps = [rawTargets[faster]!, facadeTarget].map((t) => (i: number) => (opName === 'put' ? t.put(keys[i % keys.length]!, value, 0) : t.get(keys[i % keys.length]!, 0)));
          cold = `; taking turns one operation at a time instead: ${(await alternate({ ...options, rounds: Math.max(3, Math.floor(options.rounds / 2)) }, steps)).ratios[1]!.toFixed(3)}×`;
        }
        rows.push({
          group: '1. facade vs raw RocksDB',
          name: `${opName}, ${mode}`,
          baseline: `raw @nxtedition/rocksdb ${opName}`,
          baselineNs,
          subjectNs,
          figure: ratio,
          unit: 'x',
          floor,
          note: `baseline: raw ${faster === 0 ? first : second}, the faster of raw ${first} and raw ${second} in this run; control, raw database against raw database: ${noise.toFixed(3)}×${cold}`,
        });
      }
    }
    return rows;
  } finally {
    await raw.close();
    for (const control of controls) await control.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}
