import type { Operation } from './actions.js';

/**
 * Where keys and values live. The engine passes Buffers and expects the minimal async
 * surface below; errors escape to the caller unchanged (rule E2). See docs/writing-an-adapter.md.
 */
export interface KeyValueStore {
  /** The stored value, or null when the key is absent. The caller owns the returned bytes. */
  get(key: Buffer): Promise<Uint8Array | null>;
  put(key: Buffer, value: Buffer): Promise<void>;
  /** Deleting a missing key succeeds (rule O6). */
  delete(key: Buffer): Promise<void>;
  close(): Promise<void>;
  /** Optional capabilities this store has; read through `storeSupports(store)`. */
  readonly supports?: Partial<StoreSupports>;
  /**
   * Capability `iterator`: keys in byte order (or reverse) within a range, lazily. The range
   * reaches the store normalized by `normalizeRange` (a prefix is already turned into bounds).
   */
  iterator?(range: KeyRange): KeyValueIterator;
  /** Capability `batch`: every operation or none, in order, as one atomic write. */
  batch?(operations: readonly BatchOperation[]): Promise<void>;
}

/** What a {@link KeyValueStore} can do beyond get, put and delete. */
export interface StoreSupports {
  /** Ordered range iteration: `iterator(range)`. */
  iterator: boolean;
  /** Atomic multi-key writes: `batch(operations)`. */
  batch: boolean;
}

/** A normalized key range: at most one lower and one upper bound, compared byte-wise. */
export interface KeyRange {
  gt?: Buffer;
  gte?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
  /** Most entries to yield; Infinity for all. */
  limit: number;
  /** Highest key first. */
  reverse: boolean;
  /** Yield values too (false: keys only, `value` undefined). */
  values: boolean;
}

/** One entry of a {@link KeyValueIterator}. */
export interface KeyValueEntry {
  key: Buffer;
  /** Undefined when the range asked for keys only. */
  value: Buffer | undefined;
}

/**
 * A lazy, ordered cursor over a store. `break` out of `for await`, `close()`, or the store's
 * own `close()` release it; a second `next()` while one is pending rejects with code
 * `iterator_busy`, and any call after close with code `iterator_closed`.
 */
export interface KeyValueIterator extends AsyncIterable<KeyValueEntry> {
  /** The next entry, or undefined at the end. */
  next(): Promise<KeyValueEntry | undefined>;
  /** Up to `size` further entries; an empty array at the end. */
  nextv(size: number): Promise<KeyValueEntry[]>;
  close(): Promise<void>;
}

/** One operation of a {@link KeyValueStore.batch}. */
export type BatchOperation = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

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
  /**
   * The operation's decision id (UUIDv7, time-ordered): the same as on its violation.
   * Optional so that sinks and entries written before it keep working.
   */
  decisionId?: string;
  /** The rule or hook that decided, when one did (`$default`: deny-by-default). */
  ruleId?: string | null;
  /** Ids of the rules and hooks whose outcome counted, in evaluation order. */
  appliedRules?: string[];
  /** Shadow mode: the first rule with `enforce: false` that would have denied or modified the operation. */
  shadowRuleId?: string;
  /** What that shadow rule would have done: `deny`, `modify`, or `error` (its condition or handler failed). */
  shadowAction?: 'deny' | 'modify' | 'error';
  /**
   * Set on the entries of one `policy.batch` (one per operation, in order) and of one
   * `policy.scan` (one per key examined): the same id on every entry of that call.
   */
  batchId?: string;
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
  /** Only entries decided by this rule or hook id. */
  ruleId?: string;
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
  /** Optional capabilities this sink has (`{ stream: true }` with `entries`). */
  readonly supports?: Partial<AuditSinkSupports>;
  /**
   * Capability `stream`: every matching entry, lazily, in either order, resumable from a
   * cursor, in bounded memory whatever the number of matches (exports). See {@link AuditEntryIterator}.
   */
  entries?(query?: AuditStreamQuery): AuditEntryIterator;
}

/** What an {@link AuditSink} can do beyond append and query. */
export interface AuditSinkSupports {
  /** Streaming reads: `entries(query)`. */
  stream: boolean;
  /**
   * The sink keeps the engine's decision fields (`decisionId`, `ruleId`, `appliedRules`,
   * `shadowRuleId`, `shadowAction`, `batchId`) and returns them from `query`; a sink without it
   * keeps the seed's fields only (rule A2).
   */
  decisionFields: boolean;
}

/** Filters and position of `AuditSink.entries`: the filters of {@link AuditQuery}, no default limit. */
export interface AuditStreamQuery extends Omit<AuditQuery, 'limit'> {
  /** Most entries to yield, the first ones in iteration order. @default Infinity */
  limit?: number;
  /** `'asc'`: oldest first (exports); `'desc'`: newest first. @default 'asc' */
  order?: 'asc' | 'desc';
  /** Resume after this position, in the same order: an iterator's `cursor` from an earlier read. */
  after?: string;
  /** Aborting ends the iteration: the pending or next call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * A lazy cursor over audit entries. `break` out of `for await`, `close()` or an aborted
 * signal release what it holds (descriptors, a connection); a second call while one is
 * pending rejects with code `iterator_busy`, any call after close with `iterator_closed`.
 * Entries appended before the first pull are yielded; later ones may be.
 */
export interface AuditEntryIterator extends AsyncIterable<AuditEntry> {
  /** The next entry, or undefined at the end. */
  next(): Promise<AuditEntry | undefined>;
  /** Up to `size` further entries; an empty array at the end. */
  nextv(size: number): Promise<AuditEntry[]>;
  /** Where the last entry yielded is (opaque): pass it as `after` to resume. The query's `after` until then. */
  readonly cursor: string | undefined;
  close(): Promise<void>;
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
  /**
   * Tokens to take from this bucket, all or none; only for stores that declare
   * `supports.tokens` (an engine batch charges every operation in one call). @default 1
   */
  tokens?: number;
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
  /**
   * Optional capability: what `consume` would answer now, taking no token and changing no
   * bucket. `evaluate` uses it; without it, the rate-limit answer of a dry run is `unknown`.
   */
  peek?(buckets: readonly BucketRequest[], now: number): RateLimitDecision | Promise<RateLimitDecision>;
  close?(): void | Promise<void>;
  /** Optional capabilities: `tokens` — `consume` honours `BucketRequest.tokens`. */
  readonly supports?: { tokens?: boolean };
}
