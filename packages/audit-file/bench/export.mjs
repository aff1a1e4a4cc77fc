// Export benchmark of @sochdb-policy/audit-file (issue 17): every entry of a large log read
// back, through the CLI (`query --json --limit all`, its stdout piped into this process) and
// through the API (readAuditLog, nextv batches). Entries per second and the reader's peak RSS,
// each measured in its own process.
//
//   node bench/export.mjs                 5,000,000 entries, checks the floors
//   node bench/export.mjs --smoke         20,000 entries, no floors (the test suite runs this)
//   options: --entries N  --runs N  --dir DIR  --log PATH (reuse or keep a log of N entries)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FileAuditSink, readAuditLog } from '../dist/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '..', 'dist', 'cli.js');
const FLOOR_RATE = 200_000;
const FLOOR_RSS_MB = 200;

// The API child: reads the whole log and reports its own figures.
if (process.argv[2] === '--api-child') {
  const t0 = performance.now();
  const reader = readAuditLog(process.argv[3]);
  let n = 0;
  for (let batch = await reader.nextv(1024); batch.length > 0; batch = await reader.nextv(1024)) n += batch.length;
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ entries: n, seconds, rssKb: process.resourceUsage().maxRSS }));
  process.exit(0);
}

const { values } = parseArgs({
  options: { smoke: { type: 'boolean' }, entries: { type: 'string' }, runs: { type: 'string' }, dir: { type: 'string' }, log: { type: 'string' } },
});
const smoke = values.smoke ?? false;
const N = Number(values.entries ?? (smoke ? 20_000 : 5_000_000));
const RUNS = Number(values.runs ?? 1);
const root = values.log === undefined ? mkdtempSync(join(values.dir ?? tmpdir(), 'audit-file-export-')) : undefined;
const path = values.log ?? join(root, 'audit.log');

/** Writes N entries as an engine would (256 concurrent appends, durability 'none' to save time). */
async function makeLog() {
  const sink = await FileAuditSink.open(path, { durability: 'none' });
  let i = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (i < N) {
        const k = i++;
        await sink.append({
          timestamp: 1_700_000_000_000 + k,
          operation: ['write', 'read', 'delete'][k % 3],
          key: `users/user_${k % 97}/documents/doc_${k}`,
          agentId: `agent_${k % 16}`,
          sessionId: k % 5 === 0 ? null : `session_${k % 7}`,
          result: k % 11 === 0 ? 'denied' : 'allowed',
        });
      }
    }),
  );
  await sink.close();
}

/** Runs a node script; resolves with what it wrote, counting newlines of stdout as it streams. */
function run(args) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = 0;
    let text = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      if (text.length < 4096) text += chunk.toString('utf8', 0, Math.min(chunk.length, 4096));
    });
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`));
      resolve({ lines, text, stderr, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

/** The CLI as a user runs it; `rss-at-exit.cjs` makes it print its own peak RSS to stderr as it exits. */
async function viaCli() {
  const r = await run(['--require', join(HERE, 'rss-at-exit.cjs'), CLI, 'query', '--json', '--limit', 'all', path]);
  const rssKb = Number(/peak-rss-kb=(\d+)/.exec(r.stderr)?.[1]);
  return { entries: r.lines, seconds: r.seconds, rssKb };
}

async function viaApi() {
  const r = await run([fileURLToPath(import.meta.url), '--api-child', path]);
  return JSON.parse(r.text);
}

try {
  const t0 = performance.now();
  if (!existsSync(path)) await makeLog();
  const made = (performance.now() - t0) / 1000;
  const results = { 'CLI query --json --limit all': [], 'API readAuditLog (nextv)': [] };
  for (let i = 0; i < RUNS; i++) {
    results['CLI query --json --limit all'].push(await viaCli());
    results['API readAuditLog (nextv)'].push(await viaApi());
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const fmt = (x) => Math.round(x).toLocaleString('en-US');
  console.log(`\n@sochdb-policy/audit-file export benchmark: ${fmt(N)} entries (log written in ${made.toFixed(1)} s), median of ${RUNS} run(s), node ${process.version}${smoke ? ' (smoke: figures mean nothing)' : ''}\n`);
  console.log(`${'case'.padEnd(32)}${'entries'.padStart(12)}${'seconds'.padStart(10)}${'entries/s'.padStart(12)}${'peak RSS MB'.padStart(13)}`);
  const checks = [];
  for (const [name, rs] of Object.entries(results)) {
    const entries = rs[0].entries;
    const seconds = median(rs.map((r) => r.seconds));
    const rate = median(rs.map((r) => r.entries / r.seconds));
    const rss = Math.max(...rs.map((r) => r.rssKb)) / 1024;
    console.log(`${name.padEnd(32)}${fmt(entries).padStart(12)}${seconds.toFixed(2).padStart(10)}${fmt(rate).padStart(12)}${rss.toFixed(0).padStart(13)}`);
    checks.push([`${name}: every entry exported (${fmt(entries)} of ${fmt(N)})`, rs.every((r) => r.entries === N), true]);
    checks.push([`${name}: ${fmt(rate)} entries/s (floor: >= ${fmt(FLOOR_RATE)})`, rate >= FLOOR_RATE]);
    checks.push([`${name}: peak RSS ${rss.toFixed(0)} MB (floor: < ${FLOOR_RSS_MB} MB)`, rss < FLOOR_RSS_MB]);
  }
  console.log('\nFloors:');
  for (const [text, ok, always] of checks) console.log(`  ${smoke && !always ? 'skipped' : ok ? 'PASS' : 'FAIL'}  ${text}`);
  if (checks.some(([, ok, always]) => !ok && (always || !smoke))) process.exitCode = 1;
} finally {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
}
