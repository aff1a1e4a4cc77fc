/**
 * `pnpm bench` (or `pnpm --filter @sochdb-policy/ratelimit-redis bench`): policy.put with a
 * Redis rate limit against rate-limiter-flexible's RateLimiterRedis on the same server, the
 * ratio, and the Redis commands per operation. Uses REDIS_URL if set, else starts redis-server
 * from PATH. Options: --iterations N (per run, default 5000), --runs N (default 15), --strict.
 * Exits 1 when a policy.put costs more than one command (or, sequentially, other than one: each
 * waits for exactly one round trip; with many in flight, the calls of a tick share one); with
 * --strict also when the floor (at least rate-limiter-flexible's throughput) is missed.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { startRedisServer } from '../src/testing/index.js';
import { runBench, type Measured } from './bench.js';
import { runScanBench } from './scan.js';

// The built store, as users get it (the package script builds first): the TypeScript loader's
// per-function overhead would otherwise be measured too.
const { RedisRateLimitStore } = (await import(new URL('../dist/index.js', import.meta.url).href)) as typeof import('../src/index.js');

const { values } = parseArgs({
  // `pnpm bench -- --runs 9` passes the `--` through.
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { iterations: { type: 'string', default: '5000' }, runs: { type: 'string', default: '15' }, strict: { type: 'boolean', default: false } },
});
const iterations = Number(values.iterations);
const runs = Number(values.runs);

const server = await startRedisServer();
try {
  const result = await runBench({ url: server.url, Store: RedisRateLimitStore, iterations, runs });
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const trips = (m: Measured) => `${m.roundTripsPerOp.toFixed(2)} / ${m.serverScriptsPerOp.toFixed(2)}`;
  console.log('Redis rate limits: policy.put (MemoryStore + RedisRateLimitStore) vs rate-limiter-flexible RateLimiterRedis.consume');
  console.log(`node ${process.version}, redis ${result.redisVersion}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`);
  console.log(`${iterations} operations per run, ${runs} runs each, taking turns; ops/s: median run; ratios: median of the ratios of side-by-side runs`);
  console.log('commands: Redis commands the client sent / scripts Redis ran, per operation (each operation waits for one round trip; calls made together share one)\n');
  console.log('| mode | policy.put ops/s | store.consume ops/s | rate-limiter-flexible ops/s | policy.put / rlf | store.consume / rlf | commands: policy.put | rlf |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  let roundTripsOk = true;
  let floorOk = true;
  for (const m of result.modes) {
    const mode = m.concurrency === 1 ? 'sequential' : `${m.concurrency} in flight`;
    console.log(
      `| ${mode} | ${fmt(m.policyPut.opsPerSec)} | ${fmt(m.storeConsume.opsPerSec)} | ${fmt(m.rateLimiterFlexible.opsPerSec)} | ${m.ratio.toFixed(3)} | ${m.storeRatio.toFixed(3)} | ${trips(m.policyPut)} | ${trips(m.rateLimiterFlexible)} |`,
    );
    const most = (n: number) => (m.concurrency === 1 ? n === 1 : n > 0 && n <= 1);
    if (!most(m.policyPut.roundTripsPerOp) || !most(m.policyPut.serverScriptsPerOp)) roundTripsOk = false;
    if (m.ratio < 1) floorOk = false;
  }
  console.log('');
  for (const m of result.modes) {
    const mode = m.concurrency === 1 ? 'sequential' : `${m.concurrency} in flight`;
    console.log(`floor, ${mode}: policy.put / rate-limiter-flexible = ${m.ratio.toFixed(3)} (at least 1.00): ${m.ratio >= 1 ? 'met' : 'MISSED'}`);
  }
  console.log(`commands per policy.put: ${roundTripsOk ? '1 sequentially, at most 1 in flight' : 'MORE THAN 1 (or not 1 sequentially)'}`);

  // policy.scan under a Redis read limit: nextv takes a run of keys' tokens in one script run.
  const scan = await runScanBench({ url: server.url, Store: RedisRateLimitStore });
  const perKey = (m: { nsPerKey: number; commandsPerKey: number }) => `${fmt(m.nsPerKey)} ns/key, ${m.commandsPerKey.toFixed(3)} commands/key`;
  console.log('\npolicy.scan of 10,000 keys on MemoryStore with a read limit and in-memory audit (nextv(1000); for await over 500 keys)');
  console.log(`- nextv, MemoryRateLimitStore: ${perKey(scan.memory)}`);
  console.log(`- nextv, RedisRateLimitStore: ${perKey(scan.redis)} (${scan.ratio.toFixed(2)}x the in-memory limiter)`);
  console.log(`- for await, RedisRateLimitStore: ${perKey(scan.redisEach)}`);
  const scanOk = scan.redis.commandsPerKey < 0.05;
  console.log(`commands per key of a nextv scan: ${scanOk ? 'well below 1 (one per run of keys)' : 'ONE PER KEY OR SO'}`);
  if (!roundTripsOk || !scanOk || (values.strict && !floorOk)) process.exitCode = 1;
} finally {
  await server.stop();
}
