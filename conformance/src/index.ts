/**
 * `@sochdb-policy/conformance`: the language-neutral conformance cases of the policy engine
 * (in `cases/`, with their JSON Schema in `schema/` and the rule index `rules.json`), and a
 * runner that checks your storage, rate-limit and audit adapters against every case.
 *
 * ```js
 * import { runConformance } from '@sochdb-policy/conformance';
 * const report = await runConformance({ storage: [myStorageAdapter] });
 * process.exitCode = report.ok ? 0 : 1;
 * ```
 */
export { runConformance, type ConformanceAdapters, type ConformanceReport, type CombinationReport, type RunConformanceOptions } from './conformance.js';
export {
  MEMORY_AUDIT,
  MEMORY_RATE_LIMITS,
  MEMORY_STORAGE,
  combinations,
  simple,
  type Adapter,
  type AdapterSession,
  type AuditAdapter,
  type Combination,
  type RateLimitAdapter,
  type StorageAdapter,
} from './adapter-types.js';
export { CASES_DIR, RULES_FILE, SCHEMA_FILE, loadAllCaseFiles, loadCaseFile, CaseFileError } from './load.js';
export { executeCase, type CaseEnvironment } from './execute.js';
export type { CaseOutcome } from './suite.js';
export type { Case, CaseFile, LoadedFile } from './case-types.js';
