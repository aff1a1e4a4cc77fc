import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RocksLevel } from '@nxtedition/rocksdb';
import { Database, PolicyAction, PolicyEngine } from 'sochdb-policy';
import { allowAll, denyAll, redactValue, requireAgentId } from 'sochdb-policy/policy';
import { interleave, timeAsync, type Runner } from './measure.js';
import type { Row } from './row.js';

export interface FacadeBenchOptions {
  /** Operations per timed batch. */
  ops: number;
  /** Interleaved rounds; the figure is the median. */
  rounds: number;
  /** Distinct keys the operations cycle through. */
  keys: number;
}

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;
const IN_FLIGHT = 64;

/** The same operation through raw RocksDB and through the policy engine on the facade. */
interface Target {
  put(key: Buffer, value: Buffer, agent: number): Promise<void>;
  get(key: Buffer, agent: number): Promise<unknown>;
}

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

function sequential(ops: number, keys: readonly Buffer[], op: (key: Buffer, agent: number) => Promise<unknown>): Runner {
  return () =>
    timeAsync(ops, async () => {
      for (let i = 0; i < ops; i++) await op(keys[i % keys.length]!, 0);
    });
}

function inFlight(ops: number, keys: readonly Buffer[], op: (key: Buffer, agent: number) => Promise<unknown>): Runner {
  const worker = async (w: number) => {
    for (let i = w; i < ops; i += IN_FLIGHT) await op(keys[i % keys.length]!, w);
  };
  return () =>
    timeAsync(ops, async () => {
      const workers: Promise<void>[] = [];
      for (let w = 0; w < IN_FLIGHT; w++) workers.push(worker(w));
      await Promise.all(workers);
    });
}

/** Benchmark 1: facade put/get with hooks, limits and audit, against raw RocksDB. */
export async function benchFacade(options: FacadeBenchOptions): Promise<Row[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sochdb-policy-bench-'));
  const raw = new RocksLevel(join(dir, 'raw'), {});
  await raw.open({ createIfMissing: true });
  // Cast: Database.open's `this` type rejects the protected constructor under tsc (reported to the lead).
  const db = await (Database as unknown as { open(location: string): Promise<Database> }).open(join(dir, 'facade'));
  const policy = configurePolicy(new PolicyEngine(db));
  const contexts = Array.from({ length: IN_FLIGHT }, (_, w) => ({ agent_id: `agent-${w}`, session_id: `session-${w}` }));
  const keys = Array.from({ length: options.keys }, (_, i) => Buffer.from(`users/${i}/profile`));
  const value = Buffer.alloc(100, 'v');

  const rawTarget: Target = {
    put: (key, v) => raw.put(key, v, BUFFERS),
    get: (key) => raw.getMany([key], BUFFERS),
  };
  const facadeTarget: Target = {
    put: (key, v, agent) => policy.put(key, v, contexts[agent]),
    get: (key, agent) => policy.get(key, contexts[agent]),
  };
  try {
    const rows: Row[] = [];
    for (const [mode, shape] of [
      ['sequential', sequential],
      [`${IN_FLIGHT} in flight`, inFlight],
    ] as const) {
      const floor = shape === sequential ? 1.05 : 1.15;
      for (const opName of ['put', 'get'] as const) {
        const runners = [rawTarget, facadeTarget].map((t) =>
          opName === 'put' ? shape(options.ops, keys, (k, a) => t.put(k, value, a)) : shape(options.ops, keys, (k, a) => t.get(k, a)),
        );
        const { medians, ratios } = await interleave(options.rounds, runners);
        rows.push({
          group: '1. facade vs raw RocksDB',
          name: `${opName}, ${mode}`,
          baseline: `raw @nxtedition/rocksdb ${opName}`,
          baselineNs: medians[0]!,
          subjectNs: medians[1]!,
          figure: ratios[1]!,
          unit: 'x',
          floor,
        });
      }
    }
    return rows;
  } finally {
    await raw.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}
