// Benchmark of @sochdb-policy/audit-file: entries/s for each durability mode with 1 and 64
// concurrent writers, against two baselines measured in the same run on the same disk:
// a naive loop that fsyncs every entry, and pino writing the same entries to a file.
//
//   node bench/bench.mjs              full run: median of 5 runs of 1 s each, checks the floors
//   node bench/bench.mjs --smoke      a few milliseconds per case, no floors (the test suite runs this)
//   options: --runs N --seconds S --dir DIR
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { FileAuditSink } from '../dist/index.js';

const { values } = parseArgs({
  options: { smoke: { type: 'boolean' }, runs: { type: 'string' }, seconds: { type: 'string' }, dir: { type: 'string' } },
});
const smoke = values.smoke ?? false;
const RUNS = Number(values.runs ?? (smoke ? 1 : 5));
const SECONDS = Number(values.seconds ?? (smoke ? 0.03 : 1));
const FLOOR_ALWAYS_VS_NAIVE = 10;
const FLOOR_PINO_VS_NONE = 1.5;

const root = mkdtempSync(join(values.dir ?? tmpdir(), 'audit-file-bench-'));
let fileNo = 0;
const freshPath = () => join(root, `run-${fileNo++}.log`);

// The same entries for everyone: what an agent workload sends to the audit log.
const ENTRIES = Array.from({ length: 1024 }, (_, i) => ({
  timestamp: 1_700_000_000_000 + i,
  operation: ['write', 'read', 'delete'][i % 3],
  key: `users/user_${i % 97}/documents/doc_${i}`,
  agentId: `agent_${i % 16}`,
  sessionId: i % 5 === 0 ? null : `session_${i % 7}`,
  result: i % 11 === 0 ? 'denied' : 'allowed',
}));
const SNAKE = ENTRIES.map((e) => ({ timestamp: e.timestamp, operation: e.operation, key: e.key, agent_id: e.agentId, session_id: e.sessionId, result: e.result }));

const now = () => performance.now();
const tick = () => new Promise((r) => setImmediate(r));

/** Naive: one write and one fsync per entry, nothing shared. */
async function naive() {
  const fd = openSync(freshPath(), 'a');
  const deadline = now() + SECONDS * 1000;
  const t0 = now();
  let n = 0;
  while (now() < deadline) {
    writeSync(fd, `${JSON.stringify({ seq: n + 1, ...SNAKE[n % SNAKE.length] })}\n`);
    fdatasyncSync(fd);
    n++;
  }
  const rate = n / ((now() - t0) / 1000);
  closeSync(fd);
  return { rate };
}

/** pino logging the same entries; yields to the event loop now and then so its writer can drain. */
async function pinoRun(sync) {
  const dest = pino.destination({ dest: freshPath(), sync });
  const logger = pino({ base: null, timestamp: false }, dest);
  if (!sync) await new Promise((r) => dest.once('ready', r));
  const deadline = now() + SECONDS * 1000;
  const t0 = now();
  let n = 0;
  while (now() < deadline) {
    for (let i = 0; i < 256; i++) logger.info(SNAKE[n++ % SNAKE.length]);
    await tick();
  }
  // Counted only once every line is handed to the kernel, as the sink's appends are.
  await new Promise((r) => {
    dest.once('close', r);
    dest.end();
  });
  return { rate: n / ((now() - t0) / 1000) };
}

/** `writers` concurrent callers, each awaiting its append before the next (as engine operations do). */
async function sinkRun(durability, writers) {
  const sink = await FileAuditSink.open(freshPath(), { durability });
  const deadline = now() + SECONDS * 1000;
  let n = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = w; now() < deadline; i += writers) {
        await sink.append(ENTRIES[i % ENTRIES.length]);
        n++;
      }
    }),
  );
  const rate = n / ((now() - t0) / 1000);
  const { entries, writes, fsyncs } = sink.stats;
  await sink.close();
  return { rate, perWrite: entries / Math.max(1, writes), perFsync: fsyncs === 0 ? undefined : entries / fsyncs };
}

const CASES = [
  ['naive fsync per entry', naive],
  ['pino, sync destination', () => pinoRun(true)],
  ['pino, async destination', () => pinoRun(false)],
  ["'always' x1", () => sinkRun('always', 1)],
  ["'always' x64", () => sinkRun('always', 64)],
  ["'interval' x1", () => sinkRun('interval', 1)],
  ["'interval' x64", () => sinkRun('interval', 64)],
  ["'none' x1", () => sinkRun('none', 1)],
  ["'none' x64", () => sinkRun('none', 64)],
];

const results = new Map(CASES.map(([name]) => [name, []]));
try {
  // Rounds interleave the cases so that drift of a busy machine hits all of them alike.
  for (let run = 0; run < RUNS; run++) {
    for (const [name, fn] of CASES) results.get(name).push(await fn());
    // Keep the disk usage of a long run small.
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const rate = (name) => median(results.get(name).map((r) => r.rate));
const naiveRate = rate('naive fsync per entry');
const pinoRate = Math.max(rate('pino, sync destination'), rate('pino, async destination'));
const fmt = (x) => Math.round(x).toLocaleString('en-US');

console.log(`\n@sochdb-policy/audit-file benchmark: median of ${RUNS} run(s) of ${SECONDS} s, node ${process.version}${smoke ? ' (smoke: figures mean nothing)' : ''}\n`);
console.log(`${'case'.padEnd(26)}${'entries/s'.padStart(12)}${'vs naive'.padStart(10)}${'pino/this'.padStart(11)}${'per write'.padStart(11)}${'per fsync'.padStart(11)}`);
for (const [name] of CASES) {
  const rs = results.get(name);
  const r = rate(name);
  const perWrite = rs[0].perWrite === undefined ? '' : median(rs.map((x) => x.perWrite)).toFixed(1);
  const perFsync = rs[0].perWrite === undefined ? '' : rs.some((x) => x.perFsync === undefined) ? '-' : median(rs.map((x) => x.perFsync)).toFixed(1);
  console.log(`${name.padEnd(26)}${fmt(r).padStart(12)}${`${(r / naiveRate).toFixed(1)}x`.padStart(10)}${`${(pinoRate / r).toFixed(2)}x`.padStart(11)}${perWrite.padStart(11)}${perFsync.padStart(11)}`);
}

const alwaysRatio = rate("'always' x64") / naiveRate;
const noneRatio = pinoRate / rate("'none' x64");
const checks = [
  [`'always' x64 / naive fsync-per-entry = ${alwaysRatio.toFixed(1)}x (floor: >= ${FLOOR_ALWAYS_VS_NAIVE}x)`, alwaysRatio >= FLOOR_ALWAYS_VS_NAIVE],
  [`best pino / 'none' x64 = ${noneRatio.toFixed(2)}x (floor: <= ${FLOOR_PINO_VS_NONE}x)`, noneRatio <= FLOOR_PINO_VS_NONE],
];
console.log('\nFloors:');
for (const [text, ok] of checks) console.log(`  ${smoke ? 'skipped' : ok ? 'PASS' : 'FAIL'}  ${text}`);
if (!smoke && checks.some(([, ok]) => !ok)) process.exitCode = 1;
