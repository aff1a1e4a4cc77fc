export { PostgresAuditSink, DEFAULT_SCHEMA, type PostgresAuditSinkOptions, type PostgresSinkStats } from './postgres-audit-sink.js';
export { AuditPostgresError, type AuditPostgresErrorCode } from './errors.js';
export { queryEntries, MAX_QUERY_LIMIT, type PostgresAuditQuery } from './query.js';
export { streamEntries, MAX_PAGE_ROWS, type PostgresAuditStreamQuery, type StreamSource, type AuditEntryIterator, type AuditStreamQuery } from './stream.js';
export type { Checkpoint, CheckpointKind, ChainHead } from './checkpoint.js';
export { setupSql, writerGrantsSql } from './sql.js';
export { verifyPostgresAudit, type PostgresVerifyOptions, type PostgresVerifyResult, type ChainReport, type PostgresVerifyProblem, type CheckpointAnchor } from './verify.js';
export { dropBefore, type RetentionResult } from './retention.js';
