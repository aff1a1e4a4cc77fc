import type { Operation } from './actions.js';

/**
 * Where keys and values live. The engine passes Buffers and expects the minimal async
 * surface below; errors escape to the caller unchanged (rule E2). See docs/writing-an-adapter.md.
 */
export interface KeyValueStore {
  /** The stored value, or null when the key is absent. */
  get(key: Buffer): Promise<Uint8Array | null>;
  put(key: Buffer, value: Buffer): Promise<void>;
  /** Deleting a missing key succeeds (rule O6). */
  delete(key: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** Audit results (rule A2); `error` is this project's addition (rules H10, E2). */
export type AuditResult = 'allowed' | 'denied' | 'rate_limited' | 'redacted' | 'error';
export const AUDIT_RESULTS: readonly AuditResult[] = ['allowed', 'denied', 'rate_limited', 'redacted', 'error'];

/** One audit entry per operation (rule A2). */
export interface AuditEntry {
  /** Milliseconds from the engine's clock. */
  timestamp: number;
  operation: Operation;
  /** The key as UTF-8 text, invalid bytes replaced by U+FFFD. */
  key: string;
  agentId: string | null;
  sessionId: string | null;
  result: AuditResult;
}

/** Filters of `getAuditLog`/`AuditSink.query`: filter first, then the newest `limit` (rule A3). */
export interface AuditQuery {
  /** Newest entries to return, oldest first. @default 100 */
  limit?: number;
  agentId?: string;
  operation?: Operation;
  result?: AuditResult;
  /** Only entries with `timestamp >= since`. */
  since?: number;
  /** Only entries with `timestamp <= until`. */
  until?: number;
}

/**
 * Where audit entries go. `append` resolves only when the entry is as durable as the sink
 * promises (memory: at once; a file sink: after fsync); a rejection fails the operation
 * closed with code `audit_unavailable` unless the engine was told to fail open.
 */
export interface AuditSink {
  append(entry: AuditEntry): void | Promise<void>;
  /** Matching entries, newest `limit` of them, oldest first. */
  query(query: AuditQuery): AuditEntry[] | Promise<AuditEntry[]>;
  close?(): void | Promise<void>;
}

/**
 * One token bucket to take a token from. A bucket starts full with `capacity` tokens and
 * refills continuously at `capacity` tokens per `windowMs` (rule R4).
 */
export interface BucketRequest {
  /** Identifies the bucket: limit id plus scope value. Stores may prefix it. */
  key: string;
  capacity: number;
  windowMs: number;
}

/** A plain, serializable answer from a {@link RateLimitStore}. */
export interface RateLimitDecision {
  allowed: boolean;
  /** Whole tokens left in the emptiest bucket after this decision. */
  remaining: number;
  /** 0 when allowed; otherwise milliseconds until every rejecting bucket has a token. */
  retryAfterMs: number;
  /** When rejected: the key of the first bucket (in the order given) that had no token. */
  limitedBy?: string;
}

/**
 * Token buckets. `consume` takes one token from every bucket given, or from none when any
 * of them is empty (rule R7), in one atomic step. `now` is the engine's clock in
 * milliseconds; a shared store may use its own clock instead (Redis uses `TIME`).
 * A rejection (thrown error) fails the operation closed with code `limiter_unavailable`.
 */
export interface RateLimitStore {
  consume(buckets: readonly BucketRequest[], now: number): RateLimitDecision | Promise<RateLimitDecision>;
  close?(): void | Promise<void>;
}
