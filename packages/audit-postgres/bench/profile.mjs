// node bench/profile.mjs (after a build): where the time of 4 processes x 64 writers goes.
// Per variant: entries/s, mean batch size, ms per batch per process, CPU per entry of the
// server's processes (/proc) and of the clients (process.cpuUsage), WAL records and bytes per
// entry (pg_stat_wal). VARIANTS=base,noidx,async (default); base: the sink as shipped; noidx:
// without the two secondary indexes; async: synchronous_commit off. noidx and async are
// diagnoses only (the sink keeps its indexes and never turns synchronous_commit off).
// PG_SETTINGS='{"commit_delay":200,"commit_siblings":1}' passes server settings. Linux only.
import { fork } from 'node:child_process';
import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { setupSql } from '../dist/index.js';
import { postgresAvailability, startPostgresServer } from '../dist/testing/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const durationMs = Number(process.env.BENCH_MS ?? 4000);
if (!postgresAvailability().available) {
  console.log(`audit-postgres profile skipped: ${postgresAvailability().reason}`);
  process.exit(0);
}
const server = await startPostgresServer({ settings: JSON.parse(process.env.PG_SETTINGS ?? '{}') });
const dir = mkdtempSync(join(tmpdir(), 'audit-pg-profile-'));
const port = new URL(server.url).port;
const pids = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p));
const master = pids().find((p) => {
  try {
    return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`port=${port}`);
  } catch {
    return false;
  }
});
/** CPU ms of the server: the postmaster and its children (backends, WAL writer, ...); clock ticks of 10 ms. */
function serverCpuMs() {
  let t = 0;
  for (const p of pids()) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
      if (p !== master && st[1] !== master) continue;
      // utime + stime, and cutime + cstime: backends that ended are counted in the postmaster's.
      t += ((Number(st[11]) + Number(st[12]) + Number(st[13]) + Number(st[14])) * 1000) / 100;
    } catch {}
  }
  return t;
}
async function sql(text) {
  const c = new pg.Client(server.url);
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}
async function run(name, schema, processes = 4, concurrency = 64) {
  const children = Array.from({ length: processes }, (_, p) =>
    fork(join(here, 'worker.mjs'), [], { env: { ...process.env, BENCH_CONFIG: JSON.stringify({ mode: 'postgres', url: server.url, schema, dir, chainId: `p-${p}`, concurrency, durationMs }) } }),
  );
  const message = (child, key) => new Promise((resolve, reject) => {
    child.on('message', (m) => key in m && resolve(m));
    child.once('exit', (code) => code !== 0 && reject(new Error(`profile worker exited with ${code}`)));
  });
  await Promise.all(children.map((c) => message(c, 'ready')));
  const w0 = (await sql('SELECT wal_records, wal_bytes FROM pg_stat_wal'))[0];
  const s0 = serverCpuMs();
  const started = performance.now();
  const done = children.map((c) => message(c, 'count'));
  for (const c of children) c.send('go');
  const res = await Promise.all(done);
  const secs = (performance.now() - started) / 1000;
  const serverMs = serverCpuMs() - s0;
  const w1 = (await sql('SELECT wal_records, wal_bytes FROM pg_stat_wal'))[0];
  const total = res.reduce((a, m) => a + m.count, 0);
  const batches = res.reduce((a, m) => a + m.stats.batches, 0);
  const clientMs = res.reduce((a, m) => a + m.cpuMs, 0);
  const us = (ms) => ((ms / total) * 1000).toFixed(1);
  console.log(
    `${name.padEnd(28)} ${String(Math.round(total / secs)).padStart(7)}/s  batch ${(total / batches).toFixed(1)}  ${((secs * 1000 * processes) / batches).toFixed(2)} ms/batch/process  ` +
      `server ${us(serverMs)} us/entry  client ${us(clientMs)} us/entry  WAL ${((w1.wal_records - w0.wal_records) / total).toFixed(2)} records ${Math.round((w1.wal_bytes - w0.wal_bytes) / total)} B/entry`,
  );
}
console.log(`load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}; ${durationMs} ms per run, 4 processes x 64 writers`);
try {
  let n = 0;
  for (const v of (process.env.VARIANTS ?? 'base,noidx,async').split(',')) {
    const schema = `profile_${n++}_${v}`;
    if (v === 'base') await run('as shipped', schema);
    else if (v === 'noidx') {
      await sql(setupSql(schema));
      await sql(`DROP INDEX ${schema}.entries_ts; DROP INDEX ${schema}.entries_agent_ts`);
      await run('no secondary indexes (diag)', schema);
    } else if (v === 'async') {
      await sql('ALTER DATABASE postgres SET synchronous_commit = off');
      try {
        await run('synchronous_commit off (diag)', schema);
      } finally {
        await sql('ALTER DATABASE postgres RESET synchronous_commit');
      }
    } else throw new Error(`unknown variant ${v}`);
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
