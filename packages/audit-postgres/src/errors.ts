/** Why a PostgresAuditSink operation failed; `code` is stable, the message is for people. */
export type AuditPostgresErrorCode =
  /** Another live session holds this chain's advisory lock: two writers claimed one chain. */
  | 'chain_in_use'
  /** A row this writer was about to add already exists: another writer wrote this chain. The sink stops. */
  | 'chain_forked'
  /** The database could not be reached (connect failed or the connection was lost before the batch was sent). */
  | 'unavailable'
  /** The connection was lost after the batch was sent and could not be re-established to learn whether it committed. */
  | 'outcome_unknown'
  /** The server refused the batch (permissions, disk full, ...); the batch rolled back. */
  | 'write_failed'
  /** The chain exists with another hash algorithm than this sink's (an HMAC key given or missing). */
  | 'alg_mismatch'
  /** The tables are missing and `setup` is false. */
  | 'schema_missing'
  /** The tables predate columns this version writes (the decision fields) and `setup` is false: run the setup SQL as their owner. */
  | 'schema_outdated'
  /** `partitioning: 'monthly'` was asked for but the entries table exists unpartitioned. */
  | 'partitioning_mismatch'
  /** The sink was closed. */
  | 'closed';

export class AuditPostgresError extends Error {
  readonly code: AuditPostgresErrorCode;
  constructor(code: AuditPostgresErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditPostgresError';
    this.code = code;
  }
}
