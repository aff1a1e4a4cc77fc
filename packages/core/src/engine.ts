import { isPolicyTrigger, PolicyAction, PolicyTrigger, type Operation } from './actions.js';
import { normalizeAuditQuery } from './audit-query.js';
import { describe, keyText, toBuffer, toKey, type BytesLike } from './bytes.js';
import type { AuditEntry, AuditQuery, AuditResult, AuditSink, KeyValueStore, RateLimitDecision, RateLimitStore } from './contracts.js';
import { normalizeContext, PolicyContext } from './context.js';
import { PolicyViolation, ViolationCode, violationMessage } from './errors.js';
import { isThenable, toDecision, type Decision, type PolicyHandler } from './handler.js';
import { HookIndex } from './hook-index.js';
import { MemoryAuditSink } from './memory/memory-audit-sink.js';
import { MemoryRateLimitStore } from './memory/memory-rate-limit-store.js';
import { appliesTo, bucketFor, parseRateLimit, rateLimitId, type RateLimit, type RateLimitOperation, type RateLimitOptions } from './rate-limit.js';

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
}

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
  readonly #limitsFor: Record<Operation, RateLimit[]> = { read: [], write: [], delete: [] };
  readonly #rateLimitStore: RateLimitStore;
  #auditSink: AuditSink | undefined;
  readonly #customAuditSink: boolean;
  #auditOn: boolean;
  readonly #auditFailOpen: boolean;
  readonly #onAuditError: PolicyEngineOptions['onAuditError'];

  constructor(db: KeyValueStore, options: PolicyEngineOptions = {}) {
    if (db === null || typeof db !== 'object' || typeof db.get !== 'function' || typeof db.put !== 'function' || typeof db.delete !== 'function') {
      throw new TypeError(`db must be a KeyValueStore with get, put and delete methods, got ${describe(db)}`);
    }
    if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
    const { clock = Date.now, auditSink, rateLimitStore, auditFailure = 'closed', onAuditError } = options;
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
    this.db = db;
    this.#clock = clock;
    this.#rateLimitStore = rateLimitStore ?? new MemoryRateLimitStore();
    this.#auditSink = auditSink;
    this.#customAuditSink = auditSink !== undefined;
    this.#auditOn = auditSink !== undefined;
    this.#auditFailOpen = auditFailure === 'open';
    this.#onAuditError = onAuditError;
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
    for (const op of ['read', 'write', 'delete'] as const) if (appliesTo(limit, op)) this.#limitsFor[op].push(limit);
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
    const { maxEntries } = options;
    if (this.#customAuditSink) {
      if (maxEntries !== undefined) {
        throw new TypeError('maxEntries sizes the in-memory audit log; this engine writes to the auditSink it was given');
      }
    } else if (this.#auditSink instanceof MemoryAuditSink) {
      if (maxEntries !== undefined) this.#auditSink.resize(maxEntries);
    } else {
      this.#auditSink = new MemoryAuditSink({ maxEntries });
    }
    this.#auditOn = true;
    return this;
  }

  /** Stops recording; entries already recorded stay readable. */
  disableAudit(): this {
    this.#auditOn = false;
    return this;
  }

  get auditEnabled(): boolean {
    return this.#auditOn;
  }

  /** The newest `limit` (default 100) entries matching the filters, oldest first (rule A3). */
  async getAuditLog(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const q = normalizeAuditQuery(query);
    if (this.#auditSink === undefined) return [];
    return this.#auditSink.query(q);
  }

  // ---- operations ----------------------------------------------------------------------

  /** Writes `value` under `key` if the policies allow it (rule O1). */
  async put(key: BytesLike, value: BytesLike, context?: PolicyCallContext): Promise<void> {
    const k = toKey(key);
    const v = toBuffer(value, 'value');
    const ctx = this.#context('write', k, v, context);
    await this.#admit(ctx);
    const decision = await this.#evaluate(PolicyTrigger.BEFORE_WRITE, ctx);
    if (decision.action === PolicyAction.DENY) return this.#deny(ctx);
    const written = decision.action === PolicyAction.MODIFY && decision.value !== undefined ? decision.value : v;
    await this.#store(ctx, () => this.db.put(k, written));
    ctx.value = written;
    await this.#evaluate(PolicyTrigger.AFTER_WRITE, ctx);
    await this.#audit(ctx, 'allowed');
  }

  /** Reads `key` if the policies allow it; null when absent or withheld by `after_read` (rule O2). */
  async get(key: BytesLike, context?: PolicyCallContext): Promise<Buffer | null> {
    const k = toKey(key);
    const ctx = this.#context('read', k, null, context);
    await this.#admit(ctx);
    const decision = await this.#evaluate(PolicyTrigger.BEFORE_READ, ctx);
    if (decision.action === PolicyAction.DENY) return this.#deny(ctx);
    const stored = await this.#store(ctx, () => this.db.get(k));
    if (stored === null || stored === undefined) {
      await this.#audit(ctx, 'allowed');
      return null;
    }
    let value = toBuffer(stored, 'stored value');
    ctx.value = value;
    const after = await this.#evaluate(PolicyTrigger.AFTER_READ, ctx);
    if (after.action === PolicyAction.DENY) {
      await this.#audit(ctx, 'redacted');
      return null;
    }
    // What the caller receives differs from what is stored: audited `redacted` (H8).
    if (after.action === PolicyAction.MODIFY) {
      if (after.value !== undefined) value = after.value;
      await this.#audit(ctx, 'redacted');
      return value;
    }
    await this.#audit(ctx, 'allowed');
    return value;
  }

  /** Deletes `key` if the policies allow it; a missing key succeeds (rules O3, O6). */
  async delete(key: BytesLike, context?: PolicyCallContext): Promise<void> {
    const k = toKey(key);
    const ctx = this.#context('delete', k, null, context);
    await this.#admit(ctx);
    const decision = await this.#evaluate(PolicyTrigger.BEFORE_DELETE, ctx);
    if (decision.action === PolicyAction.DENY) return this.#deny(ctx);
    await this.#store(ctx, () => this.db.delete(k));
    await this.#evaluate(PolicyTrigger.AFTER_DELETE, ctx);
    await this.#audit(ctx, 'allowed');
  }

  // ---- pipeline steps --------------------------------------------------------------------

  #context(operation: Operation, key: Buffer, value: Buffer | null, context: unknown): PolicyContext {
    return new PolicyContext(operation, key, keyText(key), value, normalizeContext(context), this.#clock());
  }

  /** Rate limits (rules R2–R7): all applicable buckets in one call, all or nothing. */
  async #admit(ctx: PolicyContext): Promise<void> {
    const limits = this.#limitsFor[ctx.operation];
    if (limits.length === 0) return;
    const buckets = limits.map((limit) => bucketFor(limit, ctx.custom));
    let decision: RateLimitDecision;
    try {
      const answer = this.#rateLimitStore.consume(buckets, ctx.timestamp);
      decision = isThenable(answer) ? await answer : answer;
      if (typeof decision?.allowed !== 'boolean') throw new TypeError(`rate-limit store answered ${describe(decision)}`);
    } catch (cause) {
      await this.#fail(ctx, 'error', ViolationCode.LIMITER_UNAVAILABLE, cause);
    }
    if (!decision!.allowed) {
      await this.#fail(ctx, 'rate_limited', ViolationCode.RATE_LIMITED, undefined, decision!.retryAfterMs);
    }
  }

  /** Runs one trigger's matching hooks in order until DENY or MODIFY (rules H1–H4, H10). */
  async #evaluate(trigger: PolicyTrigger, ctx: PolicyContext): Promise<Decision> {
    const hooks = this.#hooks.get(trigger)!.match(ctx.keyText);
    for (let i = 0; i < hooks.length; i++) {
      const hook = hooks[i]!;
      let decision: Decision;
      try {
        ctx.modifiedValue = undefined;
        const result = hook.value(ctx);
        decision = toDecision(isThenable(result) ? await result : result, ctx);
      } catch (cause) {
        const error = new PolicyViolation(ViolationCode.HOOK_FAILED, violationMessage(ViolationCode.HOOK_FAILED, ctx.operation), {
          operation: ctx.operation,
          key: ctx.keyText,
          cause,
          trigger,
          pattern: hook.pattern,
        });
        await this.#auditQuietly(ctx, 'error');
        throw error;
      }
      if (decision.action === PolicyAction.DENY || decision.action === PolicyAction.MODIFY) return decision;
    }
    return ALLOW;
  }

  async #deny(ctx: PolicyContext): Promise<never> {
    return this.#fail(ctx, 'denied', ViolationCode.DENIED);
  }

  /** Storage errors escape as themselves, audited `error` (rule E2). */
  async #store<T>(ctx: PolicyContext, io: () => Promise<T>): Promise<T> {
    try {
      return await io();
    } catch (error) {
      await this.#auditQuietly(ctx, 'error');
      throw error;
    }
  }

  async #fail(ctx: PolicyContext, result: AuditResult, code: ViolationCode, cause?: unknown, retryAfterMs?: number): Promise<never> {
    await this.#auditQuietly(ctx, result);
    throw new PolicyViolation(code, violationMessage(code, ctx.operation), { operation: ctx.operation, key: ctx.keyText, cause, retryAfterMs });
  }

  #entry(ctx: PolicyContext, result: AuditResult): AuditEntry {
    return {
      timestamp: ctx.timestamp,
      operation: ctx.operation,
      key: ctx.keyText,
      agentId: ctx.agentId ?? null,
      sessionId: ctx.sessionId ?? null,
      result,
    };
  }

  /** Records the outcome of a successful operation; a failed append fails the operation closed. */
  async #audit(ctx: PolicyContext, result: AuditResult): Promise<void> {
    if (!this.#auditOn) return;
    const entry = this.#entry(ctx, result);
    try {
      const done = this.#auditSink!.append(entry);
      if (isThenable(done)) await done;
    } catch (cause) {
      if (this.#auditFailOpen) {
        this.#onAuditError?.(cause, entry);
        return;
      }
      throw new PolicyViolation(ViolationCode.AUDIT_UNAVAILABLE, violationMessage(ViolationCode.AUDIT_UNAVAILABLE, ctx.operation), {
        operation: ctx.operation,
        key: ctx.keyText,
        cause,
      });
    }
  }

  /** Records the outcome of an operation that is failing anyway: its own error wins. */
  async #auditQuietly(ctx: PolicyContext, result: AuditResult): Promise<void> {
    try {
      await this.#audit(ctx, result);
    } catch {
      // The operation already fails with a more specific error.
    }
  }
}
