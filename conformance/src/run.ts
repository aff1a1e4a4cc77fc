/**
 * `pnpm conformance`: every case on every adapter combination of this repository
 * (src/adapters.ts). Prints one line per combination, each failure with its reason, and a
 * closing line `conformance: N passed, M failed` (N and M count case × combination). Exits 1
 * on any failure. `--only <text>` runs the cases whose id contains the text; `--combination
 * <text>` the combinations whose name contains it.
 */
import { parseArgs } from 'node:util';
import { AUDIT_ADAPTERS, RATE_LIMIT_ADAPTERS, STORAGE_ADAPTERS } from './adapters.js';
import { runConformance } from './conformance.js';

// `pnpm conformance -- --only x` passes the `--` through.
const args = process.argv.slice(2).filter((a) => a !== '--');
const { values } = parseArgs({ args, options: { only: { type: 'string' }, combination: { type: 'string' } } });

const report = await runConformance(
  { storage: STORAGE_ADAPTERS, rateLimits: RATE_LIMIT_ADAPTERS, audit: AUDIT_ADAPTERS },
  { only: values.only, combination: values.combination },
);
process.exitCode = report.ok ? 0 : 1;
