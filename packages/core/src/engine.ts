import { isPolicyTrigger, PolicyAction, PolicyTrigger, type Operation } from './actions.js';
import { normalizeAuditQuery } from './audit/audit-query.js';
import { describe, keyTextOf, ownBytes, ownKey, toBuffer, type BytesLike } from './bytes.js';
import type { AuditEntry, AuditQuery, AuditResult, AuditSink, BucketRequest, KeyValueStore, RateLimitDecision, RateLimitStore } from './contracts.js';
import { NEXT_HOOK, normalizeContext, PolicyContext, SET_VALUE } from './context.js';
import { PolicyViolation, ViolationCode, violationMessage } from './errors.js';
import { toDecision, type Decision, type PolicyHandler } from './hooks/handler.js';
import { isThenable } from './thenable.js';
import { parseTimeouts, StepTimeout, type Deadline, type PolicyTimeouts, type TimeoutStage } from './timeouts.js';
import { HookIndex, type IndexedHook } from './hooks/hook-index.js';
import { AuditTrail } from './audit/audit-trail.js';
import { MemoryRateLimitStore } from './memory/memory-rate-limit-store.js';
import { appliesTo, LimitBuckets, parseRateLimit, rateLimitId, type RateLimit, type RateLimitOperation, type RateLimitOptions } from './limits/rate-limit.js';

export interface PolicyEngineOptions {
  /** Milliseconds since the epoch; tests control time with it. @default Date.now */
  clock?: () => number;
  /** Where audit entries go. Passing one turns audit on. @default an in-memory ring, off until enableAudit() */
  auditSink?: AuditSink;
  /** Token buckets for addRateLimit. @default a MemoryRateLimitStore */
  rateLimitStore?: RateLimitStore;
  /**
   * What to do when the audit sink cannot record an entry: `'closed'` fails the operation
   * with code `audit_unavailable`; `'open'` lets it succeed and reports the error to
   * `onAuditError`. @default 'closed'
   */
  auditFailure?: 'closed' | 'open';
  /** Called with audit errors when `auditFailure` is `'open'`. @default undefined */
  onAuditError?: (error: unknown, entry: AuditEntry) => void;
  /**
   * Longest key accepted, in bytes (UTF-8 for string keys); a longer key is a RangeError and
   * nothing runs. Bounds the work any one key can cost. @default 65536
   */
  maxKeyBytes?: number;
  /** Milliseconds each step may stay pending before the operation fails with code `timeout`. */
  timeouts?: PolicyTimeouts;
}

export const DEFAULT_MAX_KEY_BYTES = 65_536;
// Buffers cannot be longer than this anyway.
const MAX_MAX_KEY_BYTES = 2 ** 31 - 1;

export interface EnableAuditOptions {
  /** Newest entries the in-memory log keeps (rule A1). @default 10000 */
  maxEntries?: number;
}

/** Context as callers pass it: `agent_id`, `session_id` and any custom keys (rule C1). */
export type PolicyCallContext = Record<string, string | undefined>;

const ALLOW: Decision = Object.freeze({ action: PolicyAction.ALLOW, value: undefined });

/**
 * Wraps a {@link KeyValueStore} with hooks, rate limits and an audit log. Every operation
 * runs: rate limits → before-hooks → storage → after-hooks → audit (rules O1–O3).
 */
export class PolicyEngine {
  readonly db: KeyValueStore;
  readonly #clock: () => number;
  readonly #hooks = new Map<PolicyTrigger, HookIndex<PolicyHandler>>();
  #seq = 0;
  readonly #limits: RateLimit[] = [];
  readonly #limitsFor: Record<Operation, LimitBuckets[]> = { read: [], write: [], delete: [] };
  readonly #rateLimitStore: RateLimitStore;
  readonly #audit: AuditTrail;
  readonly #maxKeyBytes: number;
  readonly #deadlines: Record<keyof PolicyTimeouts, Deadline>;

  constructor(db: KeyValueStore, options: PolicyEngineOptions = {}) {
    if (db === null || typeof db !== 'object' || typeof db.get !== 'function' || typeof db.put !== 'function' || typeof db.delete !== 'function') {
      throw new TypeError(`db must be a KeyValueStore with get, put and delete methods, got ${describe(db)}`);
    }
    if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
    const { clock = Date.now, auditSink, rateLimitStore, auditFailure = 'closed', onAuditError, maxKeyBytes = DEFAULT_MAX_KEY_BYTES } = options;
    if (typeof clock !== 'function') throw new TypeError(`options.clock must be a function, got ${describe(clock)}`);
    if (auditSink !== undefined && (typeof auditSink?.append !== 'function' || typeof auditSink.query !== 'function')) {
      throw new TypeError(`options.auditSink must be an AuditSink with append and query methods, got ${describe(auditSink)}`);
    }
    if (rateLimitStore !== undefined && typeof rateLimitStore?.consume !== 'function') {
      throw new TypeError(`options.rateLimitStore must be a RateLimitStore with a consume method, got ${describe(rateLimitStore)}`);
    }
    if (auditFailure !== 'closed' && auditFailure !== 'open') {
      throw new RangeError(`options.auditFailure must be 'closed' or 'open', got ${describe(auditFailure)}`);
    }
    if (onAuditError !== undefined && typeof onAuditError !== 'function') {
      throw new TypeError(`options.onAuditError must be a function, got ${describe(onAuditError)}`);
    }
    if (typeof maxKeyBytes !== 'number' || !Number.isInteger(maxKeyBytes) || maxKeyBytes < 1 || maxKeyBytes > MAX_MAX_KEY_BYTES) {
      throw new RangeError(`options.maxKeyBytes must be an integer from 1 to ${MAX_MAX_KEY_BYTES}, got ${describe(maxKeyBytes)}`);
    }
    this.#deadlines = parseTimeouts(options.timeouts);
    this.#maxKeyBytes = maxKeyBytes;
    this.db = db;
    this.#clock = clock;
    this.#rateLimitStore = rateLimitStore ?? new MemoryRateLimitStore();
    this.#audit = new AuditTrail({ sink: auditSink, failOpen: auditFailure === 'open', onError: onAuditError, deadline: this.#deadlines.audit });
    for (const trigger of Object.values(PolicyTrigger)) this.#hooks.set(trigger, new HookIndex<PolicyHandler>());
  }

  // ---- hooks: one registration path for every trigger -------------------------------

  /** Registers `handler` for keys matching `pattern` on `trigger`. Returns the engine. */
  on(trigger: PolicyTrigger, pattern: string, handler: PolicyHandler): this {
    if (!isPolicyTrigger(trigger)) {
      throw new RangeError(`trigger must be one of ${Object.values(PolicyTrigger).join(', ')}, got ${describe(trigger)}`);
    }
    if (typeof handler !== 'function') throw new TypeError(`handler must be a function, got ${describe(handler)}`);
    this.#hooks.get(trigger)!.add(pattern, this.#seq++, handler);
    return this;
  }

  beforeWrite(pattern: string, handler: PolicyHandler): this {
    return this.on(PolicyTrigger.BEFORE_WRITE, pattern, handler);
  }
  afterWrite(pattern: string, handler: PolicyHandler): this {
    return this.on(PolicyTrigger.AFTER_WRITE, pattern, handler);
  }
  beforeRead(pattern: string, handler: PolicyHandler): this {
    return this.on(PolicyTrigger.BEFORE_READ, pattern, handler);
  }
  afterRead(pattern: string, handler: PolicyHandler): this {
    return this.on(PolicyTrigger.AFTER_READ, pattern, handler);
  }
  beforeDelete(pattern: string, handler: PolicyHandler): this {
    return this.on(PolicyTrigger.BEFORE_DELETE, pattern, handler);
  }
  afterDelete(pattern: string, handler: PolicyHandler): this {
    return this.on(PolicyTrigger.AFTER_DELETE, pattern, handler);
  }

  // ---- rate limits -------------------------------------------------------------------

  /**
   * Adds a token-bucket limit: `addRateLimit('write', { maxPerMinute: 100, scope: 'agent_id' })`
   * or the Node SDK's `addRateLimit('write', 100, 'agent_id')`. Bad configuration throws
   * before anything changes (rule R8).
   */
  addRateLimit(operation: RateLimitOperation, options: RateLimitOptions): this;
  addRateLimit(operation: RateLimitOperation, maxPerMinute: number, scope?: string): this;
  addRateLimit(operation: RateLimitOperation, maxOrOptions: number | RateLimitOptions, scope?: string): this {
    const parsed = parseRateLimit(operation, maxOrOptions, scope);
    const limit: RateLimit = Object.freeze({ ...parsed, id: rateLimitId(parsed, new Set(this.#limits.map((l) => l.id))) });
    this.#limits.push(limit);
    const buckets = new LimitBuckets(limit);
    for (const op of ['read', 'write', 'delete'] as const) if (appliesTo(limit, op)) this.#limitsFor[op].push(buckets);
    return this;
  }

  /** The limits registered so far, in registration order. */
  get rateLimits(): readonly RateLimit[] {
    return this.#limits.slice();
  }

  // ---- audit ---------------------------------------------------------------------------

  /** Turns audit on (rule A1). `maxEntries` sizes the in-memory log. */
  enableAudit(options: EnableAuditOptions = {}): this {
    if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
    this.#audit.enable(options.maxEntries);
    return this;
  }

  /** Stops recording; entries already recorded stay readable. */
  disableAudit(): this {
    this.#audit.disable();
    return this;
  }

  get auditEnabled(): boolean {
    return this.#audit.enabled;
  }

  /** The newest `limit` (default 100) entries matching the filters, oldest first (rule A3). */
  async getAuditLog(query: AuditQuery = {}): Promise<AuditEntry[]> {
    return this.#audit.query(normalizeAuditQuery(query));
  }

  // ---- operations ----------------------------------------------------------------------
  //
  // Each step below answers synchronously when everything it calls does (in-memory limiter
  // and audit, handlers that return a plain action) and returns a promise only otherwise, so
  // an operation awaits once per step that really waits: usually just the storage call.
  // Awaiting a value that is already there still costs a microtask turn each time.

  /** Writes `value` under `key` if the policies allow it (rule O1). */
  async put(key: BytesLike, value: BytesLike, context?: PolicyCallContext): Promise<void> {
    // Private copies first: what the hooks approve is exactly what storage and audit see.
    const k = ownKey(key, this.#maxKeyBytes);
    const v = ownBytes(value, 'value');
    const ctx = this.#context('write', k, v, context, key);
    const admitted = this.#admit(ctx);
    if (admitted !== undefined) await admitted;
    let decision = this.#evaluate(PolicyTrigger.BEFORE_WRITE, ctx);
    if (decision instanceof Promise) decision = await decision;
    if (decision.action === PolicyAction.DENY) return this.#deny(ctx);
    const written = decision.action === PolicyAction.MODIFY && decision.value !== undefined ? decision.value : v;
    try {
      await this.#deadlines.storage.race(this.db.put(k, written));
    } catch (error) {
      return this.#storageFailed(ctx, error);
    }
    ctx[SET_VALUE](written);
    const after = this.#evaluate(PolicyTrigger.AFTER_WRITE, ctx);
    if (after instanceof Promise) await after;
    const audited = this.#audit.record(ctx, 'allowed');
    if (audited !== undefined) await audited;
  }

  /** Reads `key` if the policies allow it; null when absent or withheld by `after_read` (rule O2). */
  async get(key: BytesLike, context?: PolicyCallContext): Promise<Buffer | null> {
    const k = ownKey(key, this.#maxKeyBytes);
    const ctx = this.#context('read', k, null, context, key);
    const admitted = this.#admit(ctx);
    if (admitted !== undefined) await admitted;
    let decision = this.#evaluate(PolicyTrigger.BEFORE_READ, ctx);
    if (decision instanceof Promise) decision = await decision;
    if (decision.action === PolicyAction.DENY) return this.#deny(ctx);
    let stored: Uint8Array | null | undefined;
    try {
      stored = await this.#deadlines.storage.race(this.db.get(k));
    } catch (error) {
      return this.#storageFailed(ctx, error);
    }
    let result: AuditResult = 'allowed';
    let value: Buffer | null = null;
    if (stored !== null && stored !== undefined) {
      value = toBuffer(stored, 'stored value');
      ctx[SET_VALUE](value);
      let after = this.#evaluate(PolicyTrigger.AFTER_READ, ctx);
      if (after instanceof Promise) after = await after;
      if (after.action === PolicyAction.DENY) {
        value = null;
        result = 'redacted';
      } else if (after.action === PolicyAction.MODIFY) {
        // What the caller receives differs from what is stored: audited `redacted` (H8).
        if (after.value !== undefined) value = after.value;
        result = 'redacted';
      }
    }
    const audited = this.#audit.record(ctx, result);
    if (audited !== undefined) await audited;
    return value;
  }

  /** Deletes `key` if the policies allow it; a missing key succeeds (rules O3, O6). */
  async delete(key: BytesLike, context?: PolicyCallContext): Promise<void> {
    const k = ownKey(key, this.#maxKeyBytes);
    const ctx = this.#context('delete', k, null, context, key);
    const admitted = this.#admit(ctx);
    if (admitted !== undefined) await admitted;
    let decision = this.#evaluate(PolicyTrigger.BEFORE_DELETE, ctx);
    if (decision instanceof Promise) decision = await decision;
    if (decision.action === PolicyAction.DENY) return this.#deny(ctx);
    try {
      await this.#deadlines.storage.race(this.db.delete(k));
    } catch (error) {
      return this.#storageFailed(ctx, error);
    }
    const after = this.#evaluate(PolicyTrigger.AFTER_DELETE, ctx);
    if (after instanceof Promise) await after;
    const audited = this.#audit.record(ctx, 'allowed');
    if (audited !== undefined) await audited;
  }

  // ---- pipeline steps --------------------------------------------------------------------

  #context(operation: Operation, key: Buffer, value: Buffer | null, context: unknown, given: BytesLike): PolicyContext {
    return new PolicyContext(operation, key, keyTextOf(key, given), value, normalizeContext(context), this.#clock());
  }

  /**
   * Rate limits (rules R2–R7): all applicable buckets in one call, all or nothing. Returns
   * undefined when the store admitted the operation synchronously.
   */
  #admit(ctx: PolicyContext): Promise<void> | undefined {
    const limits = this.#limitsFor[ctx.operation];
    if (limits.length === 0) return undefined;
    const buckets: BucketRequest[] = new Array(limits.length);
    let answer: RateLimitDecision | PromiseLike<RateLimitDecision>;
    try {
      for (let i = 0; i < limits.length; i++) buckets[i] = limits[i]!.request(ctx.custom);
      answer = this.#rateLimitStore.consume(buckets, ctx.timestamp);
    } catch (cause) {
      return this.#fail(ctx, 'error', ViolationCode.LIMITER_UNAVAILABLE, cause);
    }
    return isThenable(answer) ? this.#admitLater(ctx, this.#deadlines.rateLimit.race(answer)) : this.#checkAdmission(ctx, answer);
  }

  async #admitLater(ctx: PolicyContext, answer: PromiseLike<RateLimitDecision>): Promise<void> {
    let decision: RateLimitDecision;
    try {
      decision = await answer;
    } catch (cause) {
      if (cause instanceof StepTimeout) return this.#fail(ctx, 'error', ViolationCode.TIMEOUT, cause, undefined, cause.stage);
      return this.#fail(ctx, 'error', ViolationCode.LIMITER_UNAVAILABLE, cause);
    }
    return this.#checkAdmission(ctx, decision);
  }

  #checkAdmission(ctx: PolicyContext, decision: RateLimitDecision): Promise<never> | undefined {
    if (typeof decision?.allowed !== 'boolean') {
      const cause = new TypeError(`rate-limit store answered ${describe(decision)}`);
      return this.#fail(ctx, 'error', ViolationCode.LIMITER_UNAVAILABLE, cause);
    }
    if (!decision.allowed) return this.#fail(ctx, 'rate_limited', ViolationCode.RATE_LIMITED, undefined, decision.retryAfterMs);
    return undefined;
  }

  /**
   * Runs one trigger's matching hooks in order until DENY or MODIFY (rules H1–H4, H10).
   * Synchronous until a handler returns a promise; the rest then runs in {@link #evaluateLater}.
   */
  #evaluate(trigger: PolicyTrigger, ctx: PolicyContext): Decision | Promise<Decision> {
    const index = this.#hooks.get(trigger)!;
    return index.size === 0 ? ALLOW : this.#runHooks(trigger, ctx, index.match(ctx.keyText), 0);
  }

  #runHooks(trigger: PolicyTrigger, ctx: PolicyContext, hooks: readonly IndexedHook<PolicyHandler>[], from: number): Decision | Promise<Decision> {
    for (let i = from; i < hooks.length; i++) {
      const hook = hooks[i]!;
      let decision: Decision;
      try {
        ctx[NEXT_HOOK]();
        const result = hook.value(ctx);
        if (isThenable(result)) return this.#evaluateLater(trigger, ctx, hooks, i, this.#deadlines.hook.race(result));
        decision = toDecision(result, ctx);
      } catch (cause) {
        return this.#hookFailed(trigger, ctx, hook, cause);
      }
      if (decision.action === PolicyAction.DENY || decision.action === PolicyAction.MODIFY) return decision;
    }
    return ALLOW;
  }

  /** Continues {@link #runHooks} once the handler at `at` has settled. */
  async #evaluateLater(
    trigger: PolicyTrigger,
    ctx: PolicyContext,
    hooks: readonly IndexedHook<PolicyHandler>[],
    at: number,
    pending: PromiseLike<unknown>,
  ): Promise<Decision> {
    let decision: Decision;
    try {
      decision = toDecision(await pending, ctx);
    } catch (cause) {
      return this.#hookFailed(trigger, ctx, hooks[at]!, cause);
    }
    if (decision.action === PolicyAction.DENY || decision.action === PolicyAction.MODIFY) return decision;
    return this.#runHooks(trigger, ctx, hooks, at + 1);
  }

  /** A handler threw, answered nonsense or never answered: fail closed, audited `error` (rule H10). */
  async #hookFailed(trigger: PolicyTrigger, ctx: PolicyContext, hook: IndexedHook<PolicyHandler>, cause: unknown): Promise<never> {
    const timedOut = cause instanceof StepTimeout;
    const code = timedOut ? ViolationCode.TIMEOUT : ViolationCode.HOOK_FAILED;
    const error = new PolicyViolation(code, violationMessage(code, ctx.operation), {
      operation: ctx.operation,
      key: ctx.keyText,
      cause,
      trigger,
      pattern: hook.pattern,
      stage: timedOut ? 'hook' : undefined,
    });
    await this.#audit.recordQuietly(ctx, 'error');
    throw error;
  }

  async #deny(ctx: PolicyContext): Promise<never> {
    return this.#fail(ctx, 'denied', ViolationCode.DENIED);
  }

  /**
   * Storage errors escape as themselves, audited `error` (rule E2); a storage call that never
   * settled fails with code `timeout`.
   */
  async #storageFailed(ctx: PolicyContext, error: unknown): Promise<never> {
    if (error instanceof StepTimeout) return this.#fail(ctx, 'error', ViolationCode.TIMEOUT, error, undefined, error.stage);
    await this.#audit.recordQuietly(ctx, 'error');
    throw error;
  }

  async #fail(ctx: PolicyContext, result: AuditResult, code: ViolationCode, cause?: unknown, retryAfterMs?: number, stage?: TimeoutStage): Promise<never> {
    await this.#audit.recordQuietly(ctx, result);
    throw new PolicyViolation(code, violationMessage(code, ctx.operation), { operation: ctx.operation, key: ctx.keyText, cause, retryAfterMs, stage });
  }
}
