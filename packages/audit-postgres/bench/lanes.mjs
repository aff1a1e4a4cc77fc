// node bench/lanes.mjs (after a build): does more than one transaction in flight per process
// help 4 processes x 64 writers? Each process opens LANES sinks on the same server, each its
// own chain and connection (what a sink holding N chains would do), and sends each append to
// the lane with the fewest entries queued or in flight (a burst of 64 is split evenly; a lane
// that just committed takes the writers that come back). LANES=1,2,4 (default), ROUNDS=3,
// BENCH_MS=4000, PG_SETTINGS='{"name":"value"}'. fsync and synchronous_commit stay on.
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PostgresAuditSink } from '../dist/index.js';
import { postgresAvailability, startPostgresServer } from '../dist/testing/index.js';

const here = fileURLToPath(import.meta.url);
if (process.env.LANES_WORKER) {
  const { url, chainId, concurrency, durationMs, lanes } = JSON.parse(process.env.LANES_WORKER);
  const sinks = [];
  for (let i = 0; i < lanes; i++) sinks.push(await PostgresAuditSink.open({ connection: url, schema: 'lanes', chainId: `${chainId}-${i}`, checkpointIntervalMs: 0 }));
  const load = sinks.map(() => 0);
  process.send({ ready: true });
  await new Promise((r) => process.once('message', r));
  let count = 0;
  const end = Date.now() + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, loop) => {
      while (Date.now() < end) {
        let lane = 0;
        for (let i = 1; i < lanes; i++) if (load[i] < load[lane]) lane = i;
        load[lane]++;
        await sinks[lane].append({ timestamp: Date.now(), operation: 'write', key: `k/${loop}/${count}`, agentId: `agent_${loop % 8}`, sessionId: 's', result: 'allowed' });
        load[lane]--;
        count++;
      }
    }),
  );
  const batches = sinks.reduce((a, s) => a + s.stats.batches, 0);
  for (const s of sinks) await s.close();
  process.send({ count, batches });
  process.disconnect();
} else {
  if (!postgresAvailability().available) {
    console.log(`audit-postgres lanes bench skipped: ${postgresAvailability().reason}`);
    process.exit(0);
  }
  const durationMs = Number(process.env.BENCH_MS ?? 4000);
  const server = await startPostgresServer({ settings: JSON.parse(process.env.PG_SETTINGS ?? '{}') });
  const run = async (lanes, tag) => {
    const children = Array.from({ length: 4 }, (_, p) =>
      fork(here, [], { env: { ...process.env, LANES_WORKER: JSON.stringify({ url: server.url, chainId: `lanes-${tag}-${p}`, concurrency: 64, durationMs, lanes }) } }),
    );
    const message = (child, key) => new Promise((resolve, reject) => {
      child.on('message', (m) => key in m && resolve(m));
      child.once('exit', (code) => code !== 0 && reject(new Error(`lanes worker exited with ${code}`)));
    });
    await Promise.all(children.map((c) => message(c, 'ready')));
    const started = performance.now();
    const done = children.map((c) => message(c, 'count'));
    for (const c of children) c.send('go');
    const counts = await Promise.all(done);
    const total = counts.reduce((a, m) => a + m.count, 0);
    const batches = counts.reduce((a, m) => a + m.batches, 0);
    return { rate: Math.round(total / ((performance.now() - started) / 1000)), perBatch: total / batches };
  };
  const lanesList = (process.env.LANES ?? '1,2,4').split(',').map(Number);
  const results = new Map(lanesList.map((l) => [l, []]));
  try {
    for (let round = 0; round < Number(process.env.ROUNDS ?? 3); round++) {
      for (const lanes of lanesList) {
        const r = await run(lanes, `${round}-${lanes}`);
        results.get(lanes).push(r);
        console.log(`round ${round + 1}: ${lanes} lane(s) per process: ${r.rate} entries/s, ${r.perBatch.toFixed(1)} entries per commit`);
      }
    }
  } finally {
    await server.stop();
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [lanes, rs] of results) console.log(`median, ${lanes} lane(s) x 4 processes x 64 writers: ${median(rs.map((r) => r.rate))} entries/s`);
}
