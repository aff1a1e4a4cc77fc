// The engine's multi-key operations on a FileAuditSink with durability 'always': policy.batch of
// 1,000 puts and a policy.scan read with nextv(1000), against the same work with the in-memory
// audit log, in the same run. The engine hands a batch's (or a nextv call's) entries to the sink
// together, so they share the sink's group commit: fsyncs per entry far below 1.
//
//   node bench/engine.mjs            median of 5 runs
//   node bench/engine.mjs --smoke    one small run (the test suite runs this); figures mean nothing
//   options: --runs N --keys N --dir DIR
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MemoryStore, PolicyEngine } from '@sochdb-policy/core';
import { FileAuditSink } from '../dist/index.js';

const { values } = parseArgs({ options: { smoke: { type: 'boolean' }, runs: { type: 'string' }, keys: { type: 'string' }, dir: { type: 'string' } } });
const smoke = values.smoke ?? false;
const RUNS = Number(values.runs ?? (smoke ? 1 : 5));
const KEYS = Number(values.keys ?? (smoke ? 2000 : 10_000));
const BATCH = 1000;
/** The check: a batch or a nextv scan commits many entries per fsync. */
const MOST_FSYNCS_PER_ENTRY = 0.05;

const root = mkdtempSync(join(values.dir ?? tmpdir(), 'audit-file-engine-bench-'));
const value = Buffer.alloc(100, 'v');
const keyOf = (i) => `users/${String(i).padStart(6, '0')}/profile`;
const context = { agent_id: 'agent-1', session_id: 'session-1' };
let fileNo = 0;

/** ns per operation (put or key) and fsyncs per entry of one run on a fresh store and log. */
async function run(kind, onFile) {
  const store = new MemoryStore();
  const sink = onFile ? await FileAuditSink.open(join(root, `run-${fileNo++}.log`), { durability: 'always' }) : undefined;
  const policy = new PolicyEngine(store, sink === undefined ? {} : { auditSink: sink });
  if (sink === undefined) policy.enableAudit();
  try {
    if (kind === 'scan') {
      for (let from = 0; from < KEYS; from += BATCH) {
        await store.batch(Array.from({ length: Math.min(BATCH, KEYS - from) }, (_, i) => ({ type: 'put', key: Buffer.from(keyOf(from + i)), value })));
      }
    }
    const fsyncs = sink?.stats.fsyncs ?? 0;
    const entries = sink?.stats.entries ?? 0;
    const start = process.hrtime.bigint();
    if (kind === 'batch') {
      for (let from = 0; from < KEYS; from += BATCH) {
        await policy.batch(Array.from({ length: Math.min(BATCH, KEYS - from) }, (_, i) => ({ type: 'put', key: keyOf(from + i), value })), context);
      }
    } else {
      const scan = policy.scan({ prefix: 'users/' }, context);
      let seen = 0;
      for (let got = await scan.nextv(1000); got.length > 0; got = await scan.nextv(1000)) seen += got.length;
      await scan.close();
      if (seen !== KEYS) throw new Error(`the scan read ${seen} keys, expected ${KEYS}`);
    }
    const ns = Number(process.hrtime.bigint() - start) / KEYS;
    const written = (sink?.stats.entries ?? 0) - entries;
    return { ns, fsyncsPerEntry: sink === undefined ? undefined : (sink.stats.fsyncs - fsyncs) / Math.max(1, written) };
  } finally {
    await sink?.close();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const CASES = [
  ['batch of 1,000 puts', 'batch'],
  ['scan, nextv(1000)', 'scan'],
];
const results = [];
try {
  for (const [name, kind] of CASES) {
    const memory = [];
    const file = [];
    for (let r = 0; r < RUNS; r++) {
      memory.push(await run(kind, false));
      file.push(await run(kind, true));
    }
    results.push({ name, memory: median(memory.map((m) => m.ns)), file: median(file.map((m) => m.ns)), fsyncs: median(file.map((m) => m.fsyncsPerEntry)) });
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}

const fmt = (x) => Math.round(x).toLocaleString('en-US');
console.log(`\nPolicyEngine on MemoryStore, ${fmt(KEYS)} keys: in-memory audit vs FileAuditSink durability 'always', median of ${RUNS} run(s), node ${process.version}${smoke ? ' (smoke: figures mean nothing)' : ''}\n`);
console.log(`${'operation'.padEnd(22)}${'memory ns/op'.padStart(14)}${'file ns/op'.padStart(12)}${'fsyncs/entry'.padStart(14)}`);
for (const r of results) console.log(`${r.name.padEnd(22)}${fmt(r.memory).padStart(14)}${fmt(r.file).padStart(12)}${r.fsyncs.toFixed(4).padStart(14)}`);
const ok = results.every((r) => r.fsyncs < MOST_FSYNCS_PER_ENTRY);
console.log(`\nCheck: fsyncs per entry below ${MOST_FSYNCS_PER_ENTRY} (entries of a batch or a nextv call committed together): ${ok ? 'PASS' : 'FAIL'}`);
if (!ok) process.exitCode = 1;
