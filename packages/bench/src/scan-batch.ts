import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RocksLevel } from '@nxtedition/rocksdb';
import { Database, MemoryStore, PolicyAction, PolicyEngine } from 'sochdb-policy';
import { collectGarbage, collectYoung, median } from './measure.js';
import { configurePolicy } from './facade.js';
import type { Row } from './row.js';

export interface ScanBatchBenchOptions {
  /** Keys a scan reads. */
  keys: number;
  /** Alternating rounds; figures are medians of per-round ratios. */
  rounds: number;
  /** Operations per batch, and batches per round. */
  batch: number;
  batches: number;
  /** Keys `filterAllowed` answers for, and the `before_read` patterns it checks them against. */
  filterKeys: number;
  patterns: number;
}

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;
const GROUP = '6. scans and batches';

/** ns of one run of `body`, its own young garbage collected inside the timing (measure.ts, collectYoung). */
async function time(body: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await body();
  collectYoung();
  return Number(process.hrtime.bigint() - start);
}

/**
 * `rounds` rounds, each running both bodies once in alternating order (after one warm-up
 * round); ns per `unit` of each, and the median of the per-round ratios subject/baseline.
 */
async function compare(rounds: number, unit: number, baseline: () => Promise<unknown>, subject: () => Promise<unknown>) {
  const base: number[] = [];
  const subj: number[] = [];
  const ratios: number[] = [];
  collectGarbage();
  for (let r = -1; r < rounds; r++) {
    let b: number;
    let s: number;
    if (r % 2 === 0) {
      b = await time(baseline);
      s = await time(subject);
    } else {
      s = await time(subject);
      b = await time(baseline);
    }
    if (r < 0) continue;
    base.push(b / unit);
    subj.push(s / unit);
    ratios.push(s / b);
  }
  return { baselineNs: median(base), subjectNs: median(subj), ratio: median(ratios) };
}

/**
 * Benchmark 6: `policy.scan` over RocksDB with the 10-hook policy of benchmark 1 against RocksDB's
 * native iterator over the same keys; `policy.batch` of puts against a native write batch; and
 * `filterAllowed` with many `before_read` patterns, in ns per key.
 */
export async function benchScanBatch(options: ScanBatchBenchOptions): Promise<Row[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sochdb-policy-bench-scan-'));
  const raw = new RocksLevel(join(dir, 'raw'), {});
  await raw.open({ createIfMissing: true });
  const db = await Database.open(join(dir, 'facade'));
  const policy = configurePolicy(new PolicyEngine(db));
  const context = { agent_id: 'agent-1', session_id: 'session-1' };
  const width = String(options.keys).length;
  const value = Buffer.alloc(100, 'v');
  const keyOf = (i: number) => Buffer.from(`users/${String(i).padStart(width, '0')}/profile`);
  try {
    for (let from = 0; from < options.keys; from += 1000) {
      const ops = [];
      for (let i = from; i < Math.min(options.keys, from + 1000); i++) ops.push({ type: 'put' as const, key: keyOf(i), value });
      await raw.batch(ops, BUFFERS);
      await db.batch(ops);
    }
    const gte = Buffer.from('users/');
    const lt = Buffer.from('users0');
    const rows: Row[] = [];

    let seen = 0;
    const scan = await compare(
      options.rounds,
      options.keys,
      async () => {
        const it = raw.iterator({ gte, lt, ...BUFFERS });
        for (let chunk = await it.nextv(1000); chunk.length > 0; chunk = await it.nextv(1000)) seen += chunk.length;
        await it.close();
      },
      async () => {
        const it = policy.scan({ gte, lt }, context);
        for (let chunk = await it.nextv(1000); chunk.length > 0; chunk = await it.nextv(1000)) for (const entry of chunk) if (entry.value !== undefined) seen++;
        await it.close();
      },
    );
    if (seen !== options.keys * 2 * (options.rounds + 1)) throw new Error(`scan benchmark read ${seen} entries, expected ${options.keys * 2 * (options.rounds + 1)}`);
    rows.push({
      group: GROUP,
      name: `scan ${options.keys.toLocaleString('en-US')} keys (nextv 1000)`,
      baseline: 'native RocksDB iterator (nextv 1000), ns/key',
      ...scan,
      figure: scan.ratio,
      unit: 'x',
      floor: 1.3,
      note: 'each key is a read decision: a token from the `all` limit, before_read/after_read hooks, one audit entry',
    });
    // The same scan one entry at a time, as most code writes it: against the native iterator's own for await.
    seen = 0;
    const scanEach = await compare(
      options.rounds,
      options.keys,
      async () => {
        for await (const [, v] of raw.iterator({ gte, lt, ...BUFFERS })) if (v !== undefined) seen++;
      },
      async () => {
        for await (const entry of policy.scan({ gte, lt }, context)) if (entry.value !== undefined) seen++;
      },
    );
    if (seen !== options.keys * 2 * (options.rounds + 1)) throw new Error(`scan benchmark read ${seen} entries, expected ${options.keys * 2 * (options.rounds + 1)}`);
    rows.push({
      group: GROUP,
      name: `scan ${options.keys.toLocaleString('en-US')} keys (for await)`,
      baseline: 'native RocksDB iterator (for await), ns/key',
      ...scanEach,
      figure: scanEach.ratio,
      unit: 'x',
      floor: undefined,
      note: 'for information: both sides pay a promise per entry',
    });

    const batches = Array.from({ length: options.batches }, (_, b) =>
      Array.from({ length: options.batch }, (_, i) => ({ type: 'put' as const, key: keyOf((b * options.batch + i) % options.keys), value })),
    );
    const batch = await compare(
      options.rounds,
      options.batch * options.batches,
      async () => {
        for (const ops of batches) await raw.batch(ops, BUFFERS);
      },
      async () => {
        for (const ops of batches) await policy.batch(ops, context);
      },
    );
    rows.push({
      group: GROUP,
      name: `batch of ${options.batch.toLocaleString('en-US')} puts`,
      baseline: 'native RocksDB write batch, ns/put',
      ...batch,
      figure: batch.ratio,
      unit: 'x',
      floor: 1.2,
      note: 'one consume for every token, before_write/after_write hooks and one audit entry per put',
    });

    // filterAllowed: no storage; the store does not matter.
    const filtering = new PolicyEngine(new MemoryStore());
    const bare = new PolicyEngine(new MemoryStore());
    for (let p = 0; p < options.patterns; p++) {
      filtering.beforeRead(`tenant/${p}/private/*`, () => PolicyAction.DENY);
    }
    const candidates = Array.from({ length: options.filterKeys }, (_, i) => `tenant/${i % (options.patterns * 2)}/${i % 3 === 0 ? 'private' : 'public'}/doc-${i}`);
    let allowed = 0;
    const filter = await compare(
      options.rounds,
      options.filterKeys,
      async () => (allowed += (await bare.filterAllowed(candidates, context)).length),
      async () => (allowed += (await filtering.filterAllowed(candidates, context)).length),
    );
    if (allowed === 0) throw new Error('filterAllowed allowed nothing');
    rows.push({
      group: GROUP,
      name: `filterAllowed, ${options.patterns.toLocaleString('en-US')} patterns`,
      baseline: 'filterAllowed with no rules, ns/key',
      baselineNs: filter.baselineNs,
      subjectNs: filter.subjectNs,
      figure: filter.subjectNs,
      unit: 'ns',
      floor: undefined,
      note: `${options.filterKeys.toLocaleString('en-US')} keys, a third of them under a denying pattern`,
    });
    return rows;
  } finally {
    await raw.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}
