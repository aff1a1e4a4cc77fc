import { combinations, MEMORY_AUDIT, MEMORY_RATE_LIMITS, MEMORY_STORAGE, type AuditAdapter, type RateLimitAdapter, type StorageAdapter } from './adapter-types.js';
import type { Case } from './case-types.js';
import { loadAllCaseFiles } from './load.js';
import { runCombination, unavailableReason, type CaseOutcome } from './suite.js';

/** The adapters to run the cases on; each list defaults to core's in-memory adapter. */
export interface ConformanceAdapters {
  storage?: readonly StorageAdapter[];
  rateLimits?: readonly RateLimitAdapter[];
  audit?: readonly AuditAdapter[];
}

export interface RunConformanceOptions {
  /** Run only the cases whose id contains this text. */
  only?: string;
  /** Run only the combinations whose name (`storage=… rate-limits=… audit=…`) contains this text. */
  combination?: string;
  /** Where the report lines go (default `console.log`); pass `() => {}` for silence. */
  log?: (line: string) => void;
  /** The cases to run (default: every case file shipped with this package). */
  cases?: readonly Case[];
}

export interface CombinationReport {
  name: string;
  /** Why the combination was skipped (an adapter's `unavailable()`), else undefined. */
  skipped?: string;
  outcomes: CaseOutcome[];
}

export interface ConformanceReport {
  /** Case × combination counts. */
  passed: number;
  failed: number;
  notApplicable: number;
  combinations: CombinationReport[];
  /** True when something ran and nothing failed: what the CLI's exit code 0 means. */
  ok: boolean;
}

/**
 * Runs every conformance case on every storage × rate-limit × audit combination of the given
 * adapters, each case on fresh instances. Prints one line per combination, each failure with
 * the step that failed and why, and closes with `conformance: N passed, M failed`.
 */
export async function runConformance(adapters: ConformanceAdapters = {}, options: RunConformanceOptions = {}): Promise<ConformanceReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const cases = (options.cases ?? loadAllCaseFiles().flatMap((f) => f.cases)).filter(
    (c) => options.only === undefined || c.id.includes(options.only),
  );
  const chosen = combinations(
    nonEmpty(adapters.storage, MEMORY_STORAGE),
    nonEmpty(adapters.rateLimits, MEMORY_RATE_LIMITS),
    nonEmpty(adapters.audit, MEMORY_AUDIT),
  ).filter((c) => options.combination === undefined || c.name.includes(options.combination));

  const report: ConformanceReport = { passed: 0, failed: 0, notApplicable: 0, combinations: [], ok: false };
  for (const combination of chosen) {
    const unavailable = unavailableReason(combination);
    if (unavailable !== undefined) {
      log(`skip ${combination.name}: ${unavailable}`);
      report.combinations.push({ name: combination.name, skipped: unavailable, outcomes: [] });
      continue;
    }
    const started = performance.now();
    const outcomes = await runCombination(combination, cases);
    const ms = Math.round(performance.now() - started);
    const passed = outcomes.filter((o) => o.status === 'passed').length;
    const bad = outcomes.filter((o) => o.status === 'failed');
    const na = outcomes.filter((o) => o.status === 'not-applicable');
    report.passed += passed;
    report.failed += bad.length;
    report.notApplicable += na.length;
    report.combinations.push({ name: combination.name, outcomes });
    const extra = na.length > 0 ? `, ${na.length} not applicable (${[...new Set(na.map((o) => o.detail))].join('; ')})` : '';
    log(`${bad.length === 0 ? 'ok  ' : 'FAIL'} ${combination.name}: ${passed} passed, ${bad.length} failed${extra} in ${ms} ms`);
    for (const o of bad) log(`     ✗ ${o.id}: ${o.detail}`);
  }
  log(`conformance: ${report.passed} passed, ${report.failed} failed`);
  // Nothing run (a filter that matches nothing, every combination skipped) is a failure too.
  report.ok = report.failed === 0 && report.passed > 0;
  return report;
}

function nonEmpty<T>(list: readonly T[] | undefined, fallback: T): readonly T[] {
  return list === undefined || list.length === 0 ? [fallback] : list;
}
