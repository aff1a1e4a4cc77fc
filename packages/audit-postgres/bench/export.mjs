// node bench/export.mjs (after a build; N=1000000 by default): exports N entries of 4 chains
// through the CLI (`query --limit all`, JSON Lines and table) and through the API
// (`entries()`): entries per second and peak RSS. Run it with two sizes to see memory stay flat.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { postgresAvailability, startPostgresServer } from '../dist/testing/index.js';
import { setupSql, PostgresAuditSink } from '../dist/index.js';
const n = Number(process.env.N ?? 1_000_000);
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
if (!postgresAvailability().available) {
  console.log(`audit-postgres export bench skipped: ${postgresAvailability().reason}`);
  process.exit(0);
}
const server = await startPostgresServer();
try {
  const c = new pg.Client(server.url); await c.connect();
  await c.query(setupSql('ex'));
  await c.query(`INSERT INTO ex.entries (chain_id, seq, ts, operation, key, agent_id, session_id, result, prev, hash)
    SELECT 'w-' || (i % 4), i / 4 + 1, 1700000000000 + i / 3, 'write', 'users/' || i || '/profile', 'agent_' || (i % 50), 's' || (i % 7), 'allowed', repeat('a', 64), repeat('b', 64)
    FROM generate_series(0, $1 - 1) AS i`, [n]);
  await c.query('VACUUM ANALYZE ex.entries');
  await c.end();
  for (const args of [['--json', '--limit', 'all'], ['--limit', 'all']]) {
    const t = performance.now();
    const r = spawnSync('/usr/bin/time', ['-f', '%M', 'sh', '-c', `node ${cli} query --schema ex ${args.join(' ')} ${server.url} | wc -l`], { encoding: 'utf8' });
    const s = (performance.now() - t) / 1000;
    console.log(`CLI query ${args.join(' ')}: ${r.stdout.trim()} lines in ${s.toFixed(1)} s = ${Math.round(n / s)} entries/s, peak RSS ${Math.round(Number(r.stderr.trim().split('\n').at(-1)) / 1024)} MB`);
  }
  const sink = await PostgresAuditSink.open({ connection: server.url, schema: 'ex', chainId: 'reader', checkpointIntervalMs: 0, checkpointOnClose: false });
  const t = performance.now(); let k = 0; let peak = 0;
  const it = sink.entries();
  for (let rows = await it.nextv(1000); rows.length > 0; rows = await it.nextv(1000)) { k += rows.length; if ((k & 0xffff) < 1000) peak = Math.max(peak, process.memoryUsage().rss); }
  const s = (performance.now() - t) / 1000;
  console.log(`API entries(): ${k} in ${s.toFixed(1)} s = ${Math.round(k / s)} entries/s, peak RSS ~${Math.round(peak / 2 ** 20)} MB`);
  await sink.close();
} finally { await server.stop(); }
