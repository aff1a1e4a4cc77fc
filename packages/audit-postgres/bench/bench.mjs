// pnpm bench (or node bench/bench.mjs after a build): entries per second through
// PostgresAuditSink with 1 and 64 concurrent writers per process, in 1 and 4 processes,
// against FileAuditSink with durability 'always' on the same machine in the same run.
// Floor (issue 18): 64 writers in each of 4 processes, at least 50,000 entries/s in total.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresAvailability, startPostgresServer } from '../dist/testing/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const durationMs = Number(process.env.BENCH_MS ?? 4000);
const FLOOR = 50_000;

async function run(mode, processes, concurrency, ctx) {
  const children = Array.from({ length: processes }, (_, p) =>
    fork(join(here, 'worker.mjs'), [], {
      env: { ...process.env, BENCH_CONFIG: JSON.stringify({ mode, ...ctx, chainId: `bench-${processes}x${concurrency}-${p}`, file: join(ctx.dir, `audit-${processes}x${concurrency}-${p}.log`), concurrency, durationMs }) },
    }),
  );
  const message = (child, key) => new Promise((resolve, reject) => {
    child.on('message', (m) => key in m && resolve(m));
    child.once('exit', (code) => code !== 0 && reject(new Error(`bench worker exited with ${code}`)));
  });
  await Promise.all(children.map((c) => message(c, 'ready')));
  const started = performance.now();
  const done = children.map((c) => message(c, 'count'));
  for (const c of children) c.send('go');
  const counts = await Promise.all(done);
  const seconds = (performance.now() - started) / 1000;
  const total = counts.reduce((a, m) => a + m.count, 0);
  return Math.round(total / seconds);
}

if (!postgresAvailability().available) {
  console.log(`audit-postgres bench skipped: ${postgresAvailability().reason}`);
  process.exit(0);
}
const server = await startPostgresServer();
const dir = mkdtempSync(join(tmpdir(), 'audit-pg-bench-'));
const ctx = { url: server.url, schema: 'bench', dir };
const rows = [];
let floorOk = true;
try {
  for (const [processes, concurrency] of [[1, 1], [1, 64], [4, 64]]) {
    const pgRate = await run('postgres', processes, concurrency, ctx);
    const fileRate = await run('file', processes, concurrency, ctx);
    rows.push({ processes, writers: concurrency, postgres: pgRate, file: fileRate });
    if (processes === 4 && concurrency === 64) floorOk = pgRate >= FLOOR;
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`audit-postgres: entries/s, ${durationMs} ms per run (PostgreSQL fsync on, synchronous_commit on; audit file durability 'always')`);
console.log('processes  writers/process  postgres  audit-file');
for (const r of rows) console.log(`${String(r.processes).padStart(9)}  ${String(r.writers).padStart(15)}  ${String(r.postgres).padStart(8)}  ${String(r.file).padStart(10)}`);
console.log(`floor: 4 x 64 writers >= ${FLOOR} entries/s: ${floorOk ? 'met' : 'NOT met'}`);
