/**
 * `pnpm conformance`: every case on every adapter combination. Prints one line per
 * combination, each failure with its reason, and a closing line
 * `conformance: N passed, M failed` (N and M count case × combination). Exits 1 on any
 * failure. `--only <text>` runs the cases whose id contains the text; `--combination <text>`
 * the combinations whose name contains it.
 */
import { parseArgs } from 'node:util';
import { combinations } from './adapters.js';
import { loadAllCaseFiles } from './load.js';
import { runCombination, unavailableReason } from './suite.js';

// `pnpm conformance -- --only x` passes the `--` through.
const args = process.argv.slice(2).filter((a) => a !== '--');
const { values } = parseArgs({ args, options: { only: { type: 'string' }, combination: { type: 'string' } } });

const cases = loadAllCaseFiles()
  .flatMap((f) => f.cases)
  .filter((c) => values.only === undefined || c.id.includes(values.only));
const chosen = combinations().filter((c) => values.combination === undefined || c.name.includes(values.combination));

let passed = 0;
let failed = 0;
for (const combination of chosen) {
  const unavailable = unavailableReason(combination);
  if (unavailable !== undefined) {
    console.log(`skip ${combination.name}: ${unavailable}`);
    continue;
  }
  const started = performance.now();
  const outcomes = await runCombination(combination, cases);
  const ms = Math.round(performance.now() - started);
  const p = outcomes.filter((o) => o.status === 'passed').length;
  const bad = outcomes.filter((o) => o.status === 'failed');
  const na = outcomes.filter((o) => o.status === 'not-applicable');
  passed += p;
  failed += bad.length;
  const extra = na.length > 0 ? `, ${na.length} not applicable (${[...new Set(na.map((o) => o.detail))].join('; ')})` : '';
  console.log(`${bad.length === 0 ? 'ok  ' : 'FAIL'} ${combination.name}: ${p} passed, ${bad.length} failed${extra} in ${ms} ms`);
  for (const o of bad) console.log(`     ✗ ${o.id}: ${o.detail}`);
}
console.log(`conformance: ${passed} passed, ${failed} failed`);
// Nothing run (a filter that matches nothing, every combination skipped) is a failure too.
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
