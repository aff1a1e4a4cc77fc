/**
 * `@sochdb-policy/audit-file/format`: the record, chain and hash building blocks of the audit
 * format (docs/audit-file-format.md), for other sinks that write the same records, such as
 * `@sochdb-policy/audit-postgres`, so that one verifier serves every sink (and the CLIs' paging
 * helper, `newestWindow`). Loads no native code.
 */
export {
  FORMAT_VERSION,
  GENESIS_HASH,
  entryBody,
  headerBody,
  sealBody,
  lineOf,
  bodyOf,
  parseLine,
  toAuditEntry,
  type EntryRecord,
  type EntryFields,
  type HeaderRecord,
  type SealRecord,
  type LogRecord,
  type ParsedLine,
  type LineProblem,
} from './record.js';
export { ChainCursor, type ChainFailure, type ChainProblem } from './read/chain.js';
export { makeHasher, type Hasher, type HashAlg } from './hasher.js';
export { validateEntry } from './validate-entry.js';
export { newestWindow, type NewestFirst } from './read/newest-window.js';
