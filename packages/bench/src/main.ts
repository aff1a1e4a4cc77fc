/**
 * `pnpm bench`: runs every benchmark, prints the table, and writes it with a chart into
 * docs/benchmarks.md (its own section only) and docs/benchmarks-engine.svg.
 * Flags: `--quick` (a few iterations), `--no-write` (print only), `--only=1,3` (those
 * benchmarks, print only), `--one-process` (every benchmark in this process instead of one
 * fresh process each).
 */
import { fileURLToPath } from 'node:url';
import { svgChart } from './chart.js';
import { writeDocs } from './docs.js';
import { machine, machineLine, markdownTable, textTable } from './report.js';
import { meetsFloor } from './row.js';
import { FULL, QUICK, runSuite } from './suite.js';

const args = new Set(process.argv.slice(2));
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const m = machine();
console.log(`sochdb-policy engine benchmarks: ${machineLine(m)}`);
if (!(globalThis as { gc?: unknown }).gc) console.log('(run with node --expose-gc to collect garbage between rounds)');

// Each benchmark in a process of its own (suite.ts, `isolate`); `--one-process` runs them all here.
const rows = await runSuite(args.has('--quick') ? QUICK : FULL, (line) => console.log(`  ${line}`), { only, isolate: !args.has('--one-process') });
console.log(`\n${textTable(rows)}\n`);
for (const row of rows) if (row.note) console.log(`  ${row.group}, ${row.name}: ${row.note}`);

const missed = rows.filter((r) => meetsFloor(r) === false);
console.log(missed.length === 0 ? '\nall floors met' : `\n${missed.length} floor(s) missed: ${missed.map((r) => `${r.group}: ${r.name}`).join('; ')}`);

if (!args.has('--no-write') && !args.has('--quick') && only === undefined) {
  const docs = fileURLToPath(new URL('../../../docs/', import.meta.url));
  const section = [
    '## Engine overhead (pnpm bench)',
    '',
    `Machine: ${machineLine(m)}. Every figure is a ratio against a baseline measured in the same`,
    'process (each numbered benchmark runs in a fresh Node process of its own, both sides of each',
    'comparison side by side in it), or, for hook cost, nanoseconds per hook; the median over interleaved rounds; the',
    'baseline and subject columns are median ns/op unless the row says otherwise. How to read',
    'them and what they cost: [performance.md](performance.md).',
    '',
    markdownTable(rows),
    '',
    'What each benchmark does:',
    '',
    '1. `sochdb-policy`\'s `Database` on a temporary folder wrapped in a `PolicyEngine` with 10 hooks over the six',
    '   triggers, 2 rate limits that never reject and in-memory audit, against `@nxtedition/rocksdb` directly',
    '   (each round the faster of its public single-key calls: `put` or `batch([put])`, `get` or `getMany([key])`), same 1,000 keys',
    '   `users/<n>/profile` and 100-byte values. Sequential: each operation awaited before the next, the runners',
    '   taking turns in chunks of 4,000 operations (the note gives the figure when they take turns every operation).',
    '   In flight: 64 concurrent loops, alternating in chunks of 4,000 operations. The control figures compare two raw databases.',
    '2. Engine cost of a `put` on `MemoryStore` (engine time minus the bare store\'s, per round) with 10, 1,000',
    '   and 10,000 `before_write` patterns of a realistic mix (`tenant/<n>/*`, `users/*/field<n>`, `**/*.ext<n>`,',
    '   `logs/<n>/**`, `*/secret<n>`, `app<n>/config/*.yaml`, `sessions/s<n>-?`, plus `**/tmp/**`), exactly one',
    '   matching each key.',
    '3. (engine `put` with 20 matching ALLOW hooks − without hooks) / 20.',
    '4. One token per call for 1,000 agents: `MemoryRateLimitStore.consume` directly, and the cost a per-agent',
    '   limit adds to an engine operation, against `RateLimiterMemory.consume(agent, 1)`. Memory: 1,000,000',
    '   distinct agents calling once each through the engine at a simulated 100,000 calls/s with 600 calls per',
    '   minute per agent (a bucket is full again after 10,000 calls), each mode in its own process.',
    '5. Declarative rules (a policy document, `policy.load`): the engine\'s cost per `put` on `MemoryStore` with 10',
    '   and 10,000 `before_write` rules over the pattern mix of benchmark 2, one matching, each calling a named handler;',
    '   and what the CEL condition `context.agent_id != ""` adds per matching rule: (20 matching rules with it −',
    '   the same 20 without it) / 20.',
    '6. `policy.scan` of 100,000 keys `users/<n>/profile` on `Database` with the policy of benchmark 1 (every key a read',
    '   decision: a token, hooks, an audit entry) against `@nxtedition/rocksdb`\'s native iterator (`nextv(1000)`) over the',
    '   same keys; `policy.batch` of 1,000 puts (20 per round) against the native write batch; `filterAllowed` over',
    '   100,000 keys with 1,000 `before_read` patterns, ns per key (baseline: no rules). 21 rounds alternate the two.',
    '',
    '![Engine overhead: each figure divided by its floor](benchmarks-engine.svg)',
  ].join('\n');
  await writeDocs(docs, section, svgChart(rows, m), 'benchmarks-engine.svg');
  console.log(`wrote ${docs}benchmarks.md and ${docs}benchmarks-engine.svg`);
}
