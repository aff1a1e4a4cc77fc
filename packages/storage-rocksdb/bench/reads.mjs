// Sequential reads of keys in memory: RocksDBStore with and without `syncReads`, alone and
// behind a policy engine, against the binding's own calls, interleaved in one process (runners
// take turns in chunks, each chunk ending with a minor collection inside its timing; medians
// over rounds of per-round ratios).
//
//   pnpm --filter @sochdb-policy/storage-rocksdb build
//   node --expose-gc packages/storage-rocksdb/bench/reads.mjs [--rounds N] [--ops N]
//
// Runners, 1,000 keys of 100-byte values, every key read in turn:
//   raw get          @nxtedition/rocksdb's public get (a trip through libuv's thread pool)
//   raw getManySync  the binding's synchronous multi-get of one key (_getManySync)
//   store            RocksDBStore.get
//   store sync       RocksDBStore.get with syncReads: true
//   engine           PolicyEngine.get on the store: a before_read hook, a rate limit, audit on
//   engine sync      the same on the syncReads store
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PolicyAction, PolicyEngine } from '@sochdb-policy/core';
import { RocksDBStore } from '../dist/index.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '12' }, ops: { type: 'string', default: '10000' } } });
const rounds = Number(values.rounds);
const ops = Number(values.ops);
const chunks = 5;
const chunkOps = Math.ceil(ops / chunks);

const { RocksLevel } = createRequire(import.meta.url)('@nxtedition/rocksdb');
const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' };
const dir = mkdtempSync(join(tmpdir(), 'rocksdb-reads-bench-'));
const raw = new RocksLevel(join(dir, 'raw'), {});
await raw.open({ createIfMissing: true });
const store = await RocksDBStore.open(join(dir, 'store'));
const syncStore = await RocksDBStore.open(join(dir, 'store-sync'), { syncReads: true });
const engineOn = (s) =>
  new PolicyEngine(s)
    .beforeRead('users/*/profile', (ctx) => (ctx.agentId ? PolicyAction.ALLOW : PolicyAction.DENY))
    .addRateLimit('read', { maxPerMinute: 1e9, scope: 'agent_id' })
    .enableAudit({ maxEntries: 1000 });
const engine = engineOn(store);
const syncEngine = engineOn(syncStore);
const context = { agent_id: 'agent-1' };
const value = Buffer.alloc(100, 'v');
const keys = Array.from({ length: 1000 }, (_, i) => Buffer.from(`users/${i}/profile`));
for (const key of keys) {
  await raw.put(key, value, BUFFERS);
  await store.put(key, value);
  await syncStore.put(key, value);
}

const runners = {
  'raw get': (k) => raw.get(k, BUFFERS),
  'raw getManySync': (k) => raw._getManySync([k], BUFFERS)[0],
  store: (k) => store.get(k),
  'store sync': (k) => syncStore.get(k),
  engine: (k) => engine.get(k, context),
  'engine sync': (k) => syncEngine.get(k, context),
};
const names = Object.keys(runners);
const samples = Object.fromEntries(names.map((n) => [n, []]));
let next = 0;
for (let r = -1; r < rounds; r++) {
  const total = Object.fromEntries(names.map((n) => [n, 0]));
  for (let c = 0; c < chunks; c++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(j + c + Math.max(r, 0)) % names.length];
      const read = runners[name];
      const start = process.hrtime.bigint();
      for (let i = 0; i < chunkOps; i++) if ((await read(keys[next++ % keys.length])) == null) throw new Error(`${name} missed a key`);
      globalThis.gc?.({ type: 'minor' });
      total[name] += Number(process.hrtime.bigint() - start);
    }
  }
  if (r >= 0) for (const n of names) samples[n].push(total[n] / (chunks * chunkOps));
}
await Promise.all([raw.close(), store.close(), syncStore.close()]);
rmSync(dir, { recursive: true, force: true });

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ratio = (a, b) => median(samples[a].map((v, i) => v / samples[b][i]));
console.log(`sequential reads, ${rounds} rounds × ${ops} per runner; medians of per-round ratios`);
console.log('runner             ns/read   vs raw get   vs raw getManySync');
for (const n of names) {
  console.log(`${n.padEnd(17)} ${median(samples[n]).toFixed(0).padStart(8)}   ${ratio(n, 'raw get').toFixed(3).padStart(9)}×   ${ratio(n, 'raw getManySync').toFixed(3).padStart(9)}×`);
}
