/**
 * Where a sequential read's time goes (docs/performance.md, "The sequential get"): not a
 * benchmark with a floor, a diagnostic. `node --expose-gc dist/read-path.js [reads] [rounds]`.
 *
 * It wraps the RocksDB binding's thread-pool multi-get (`db_get_many`, which the raw `get` and
 * the store both end in) to record, for every read, when it is handed to libuv's pool and when
 * its answer reaches the main thread, and splits each read into three parts:
 * - hand-over: the binding's call itself (queueing the read, waking a pool thread);
 * - pool trip: from the hand-over's return to the answer's callback;
 * - turnaround: the main thread's time from one read's answer to the next read's hand-over,
 *   which is where the engine's work of a sequential read lands.
 * Runners (raw `get`, the store's `get`, a bare engine, benchmark 1's policy) take turns in
 * chunks of sequential reads in one process; the figures are medians over rounds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type GetMany = (db: unknown, keys: Buffer[], options: unknown, callback: (error: unknown, values?: unknown[]) => void) => void;

export interface ReadPathRow {
  runner: string;
  /** Median ns per read, wall clock. */
  wallNs: number;
  /** Median ns of the binding's hand-over call. */
  handOverNs: number;
  /** Mean ns of the pool trip (it is bimodal on a VM: the mean, not the median, adds up). */
  poolTripNs: number;
  /** Median ns of the main thread's turnaround between reads. */
  turnaroundNs: number;
}

/** The timing wrapper, installed before anything of RocksDB is loaded (the store keeps the function it finds). */
function instrument(): { samples: { handOver: number[]; pool: number[]; turnaround: number[] }; recording: (on: boolean) => void } {
  const require = createRequire(import.meta.url);
  const binding = require(join(dirname(require.resolve('@nxtedition/rocksdb/package.json')), 'binding.js')) as { db_get_many: GetMany };
  const original = binding.db_get_many;
  const samples = { handOver: [] as number[], pool: [] as number[], turnaround: [] as number[] };
  let on = false;
  let answered = 0n;
  let handedOver = 0n;
  binding.db_get_many = function (db, keys, options, callback) {
    const start = process.hrtime.bigint();
    if (on && answered !== 0n) samples.turnaround.push(Number(start - answered));
    original.call(this, db, keys, options, (error, values) => {
      answered = process.hrtime.bigint();
      if (on) samples.pool.push(Number(answered - handedOver));
      callback(error, values);
    });
    handedOver = process.hrtime.bigint();
    if (on) samples.handOver.push(Number(handedOver - start));
  };
  return {
    samples,
    recording: (value) => {
      on = value;
      answered = 0n;
      samples.handOver.length = samples.pool.length = samples.turnaround.length = 0;
    },
  };
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] ?? NaN;
const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

export async function readPath(reads = 3000, rounds = 9): Promise<ReadPathRow[]> {
  const probe = instrument();
  // Loaded after the wrapper is in place.
  const { RocksLevel } = await import('@nxtedition/rocksdb');
  const { Database, PolicyEngine } = await import('sochdb-policy');
  const { configurePolicy } = await import('./facade.js');
  const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;
  const dir = await mkdtemp(join(tmpdir(), 'sochdb-policy-read-path-'));
  const raw = new RocksLevel(join(dir, 'raw'), {});
  await raw.open({ createIfMissing: true });
  const db = await Database.open(join(dir, 'facade'));
  try {
    const keys = Array.from({ length: 1000 }, (_, i) => Buffer.from(`users/${i}/profile`));
    const value = Buffer.alloc(100, 'v');
    for (const key of keys) {
      await raw.put(key, value, BUFFERS);
      await db.put(key, value);
    }
    const bare = new PolicyEngine(db);
    const policy = configurePolicy(new PolicyEngine(db));
    const context = { agent_id: 'agent-0', session_id: 'session-0' };
    const runners: [string, (key: Buffer) => Promise<unknown>][] = [
      ['raw get', (key) => raw.get(key, BUFFERS)],
      ['store get', (key) => db.get(key)],
      ['engine, nothing configured', (key) => bare.get(key, context)],
      ['engine, benchmark 1 policy', (key) => policy.get(key, context)],
    ];
    const results = runners.map(() => [] as number[][]);
    for (let round = 0; round <= rounds; round++) {
      for (let j = 0; j < runners.length; j++) {
        const r = (j + round) % runners.length;
        const read = runners[r]![1];
        probe.recording(round > 0);
        const start = process.hrtime.bigint();
        for (let i = 0; i < reads; i++) await read(keys[i % keys.length]!);
        const wall = Number(process.hrtime.bigint() - start) / reads;
        if (round > 0) results[r]!.push([wall, median(probe.samples.handOver), mean(probe.samples.pool), median(probe.samples.turnaround)]);
        probe.recording(false);
      }
    }
    return runners.map(([runner], r) => {
      const of = (i: number) => median(results[r]!.map((row) => row[i]!));
      return { runner, wallNs: of(0), handOverNs: of(1), poolTripNs: of(2), turnaroundNs: of(3) };
    });
  } finally {
    await raw.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [reads, rounds] = process.argv.slice(2).map(Number);
  const rows = await readPath(reads || undefined, rounds || undefined);
  const us = (ns: number) => `${(ns / 1000).toFixed(2)} µs`.padStart(10);
  console.log(`${'runner'.padEnd(28)} ${'per read'.padStart(10)} ${'hand-over'.padStart(10)} ${'pool trip'.padStart(10)} ${'turnaround'.padStart(10)}`);
  for (const row of rows) console.log(`${row.runner.padEnd(28)} ${us(row.wallNs)} ${us(row.handOverNs)} ${us(row.poolTripNs)} ${us(row.turnaroundNs)}`);
}
