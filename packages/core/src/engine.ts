import { isPolicyTrigger, PolicyAction, PolicyTrigger, type Operation } from './actions.js';
import { normalizeAuditQuery } from './audit/audit-query.js';
import { describe, keyTextOf, ownBytes, ownKey, toBuffer, type BytesLike } from './bytes.js';
import type { AuditEntry, AuditQuery, AuditResult, AuditSink, BucketRequest, KeyValueStore, RateLimitDecision, RateLimitStore } from './contracts.js';
import { callerContext, CUSTOM, NEXT_HOOK, PolicyContext, SET_VALUE, type CallerContext } from './context.js';
import { PolicyViolation, ViolationCode, violationMessage } from './errors.js';
import { toDecision, type Decision, type PolicyHandler } from './hooks/handler.js';
import { isThenable } from './thenable.js';
import { parseTimeouts, StepTimeout, type Deadline, type PolicyTimeouts, type TimeoutStage } from './timeouts.js';
import type { IndexedHook } from './hooks/hook-index.js';
import { compilePattern } from './hooks/pattern.js';
import { RuleSet } from './rules/rule-set.js';
import { DEFAULT_DENY_ID, ruleRef, type Rule, type RuleRef } from './rules/rule.js';
import type { Composition } from './rules/compose.js';
import { RuleFailure, TriggerRun } from './rules/evaluate.js';
import { APPLIED, DECISION, DecisionContext, OBSERVATION } from './events/decision-record.js';
import { decisionChannel, operationChannel, type OperationMessage } from './events/channels.js';
import { Observation, STEP_AUDIT, STEP_HOOKS, STEP_RATE_LIMIT, STEP_STORAGE, STORAGE_ERROR, type DecisionEvent } from './events/observation.js';
import { compileDocument, type CompiledDocument, type LoadOptions } from './rules/load.js';
import { PolicyDocumentError, type DocumentIssue, type ParsedDocument } from './rules/document.js';
import { explainOperation, type EvaluateOptions, type EvaluationAnswer } from './rules/explain.js';
import { AuditTrail } from './audit/audit-trail.js';
import { MemoryRateLimitStore } from './memory/memory-rate-limit-store.js';
import { requireCapability } from './storage/supports.js';
import { normalizeRange } from './storage/range.js';
import type { Pipeline } from './operations/pipeline.js';
import { PolicyScan, type ScanOptions } from './operations/scan.js';
import { runBatch, type PolicyBatchOperation } from './operations/batch.js';
import { filterAllowed } from './operations/filter.js';
import { limiterFailed, unreadableDecision, type LimiterFailure } from './limits/limiter-failure.js';
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
  /**
   * How the rules of one trigger combine (docs/policy-documents.md): `'first-match'` (the
   * seed's registration-order semantics) or `'deny-overrides'` (SochDB Rust's
   * `CompiledPolicySet`). A loaded document's `mode` sets it too. @default 'first-match'
   */
  composition?: Composition;
  /** Fail closed on any operation that no rule explicitly allows (an allow-list). @default false */
  defaultDeny?: boolean;
}

/** Options of a hook registered in code. */
export interface HookOptions {
  /** Names the hook in violations, audit entries and explanations. @default `hook-N` (registration number) */
  id?: string;
  /** Higher runs first; equal priorities keep registration order. @default 0 */
  priority?: number;
}

/** Receives one {@link DecisionEvent} per operation of the engine it was given to, as the operation ends. */
export type DecisionListener = (event: DecisionEvent) => void;

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
const HOOK_OPTION_NAMES = ['id', 'priority'];
const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;
let documentNames = 0;

/**
 * Wraps a {@link KeyValueStore} with hooks, rate limits and an audit log. Every operation
 * runs: rate limits → before-hooks → storage → after-hooks → audit (rules O1–O3).
 */
export class PolicyEngine {
  readonly db: KeyValueStore;
  readonly #clock: () => number;
  /** Hooks registered in code, as rules. */
  readonly #codeRules: Rule[] = [];
  /** Loaded documents by name, with their rules numbered in registration order. */
  readonly #documents = new Map<string, { doc: CompiledDocument; rules: Rule[] }>();
  #order = 0;
  /** The snapshot operations use; rebuilt on the first operation after any change. */
  #set: RuleSet | undefined;
  #composition: Composition | undefined;
  readonly #defaultDeny: boolean;
  readonly #limits: RateLimit[] = [];
  readonly #limitsFor: Record<Operation, LimitBuckets[]> = { read: [], write: [], delete: [] };
  readonly #rateLimitStore: RateLimitStore;
  readonly #audit: AuditTrail;
  readonly #maxKeyBytes: number;
  readonly #deadlines: Record<keyof PolicyTimeouts, Deadline>;
  /** `onDecision` listeners; replaced, never changed in place, so a listener may unsubscribe during a call. */
  #listeners: readonly DecisionListener[] = [];
  /** The steps above, for the multi-key operations in ./operations/ (scan, batch, filterAllowed). */
  readonly #pipeline: Pipeline;

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
    const { composition, defaultDeny = false } = options;
    if (composition !== undefined && composition !== 'first-match' && composition !== 'deny-overrides') {
      throw new RangeError(`options.composition must be 'first-match' or 'deny-overrides', got ${describe(composition)}`);
    }
    if (typeof defaultDeny !== 'boolean') throw new TypeError(`options.defaultDeny must be a boolean, got ${describe(defaultDeny)}`);
    this.#composition = composition;
    this.#defaultDeny = defaultDeny;
    this.#pipeline = this.#makePipeline();
  }

  #makePipeline(): Pipeline {
    return {
      db: this.db,
      maxKeyBytes: this.#maxKeyBytes,
      clock: this.#clock,
      audit: this.#audit,
      rateLimitStore: this.#rateLimitStore,
      deadlines: this.#deadlines,
      limitsFor: (operation) => this.#limitsFor[operation],
      rules: () => this.#set ?? this.#rules(),
      observing: () => this.#observing(),
      observed: (operation, run) => this.#observed(operation, run),
      observation: (operation) => new Observation({ operation, decision: undefined }),
      publish: (o, failed, error) => this.#publish(o, failed, error),
      context: (operation, key, keyText, value, caller, timestamp, o) => this.#contextOf(operation, key, keyText, value, caller, timestamp, o),
      admit: (ctx) => this.#admit(ctx),
      evaluate: (trigger, ctx, set) => this.#evaluate(trigger, ctx, set),
      failing: (ctx, result, code) => this.#failing(ctx, result, code),
      fail: (ctx, result, code, cause, retryAfterMs, stage) => this.#fail(ctx, result, code, cause, retryAfterMs, stage),
      storageFailed: (ctx, error) => this.#storageFailed(ctx, error),
    };
  }

  // ---- hooks: one registration path for every trigger -------------------------------

  /**
   * Registers `handler` for keys matching `pattern` on `trigger`; `options.id` names it in
   * violations and audit entries. Returns the engine.
   */
  on(trigger: PolicyTrigger, pattern: string, handler: PolicyHandler, options?: HookOptions): this {
    if (!isPolicyTrigger(trigger)) {
      throw new RangeError(`trigger must be one of ${Object.values(PolicyTrigger).join(', ')}, got ${describe(trigger)}`);
    }
    if (typeof handler !== 'function') throw new TypeError(`handler must be a function, got ${describe(handler)}`);
    compilePattern(pattern);
    const order = this.#order;
    let id = `hook-${order}`;
    let priority = 0;
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
      for (const name of Object.keys(options)) {
        if (!HOOK_OPTION_NAMES.includes(name)) throw new RangeError(`options.${name} is not a hook option; the options are ${HOOK_OPTION_NAMES.join(', ')}`);
      }
      if (options.id !== undefined) {
        if (typeof options.id !== 'string' || !RULE_ID.test(options.id)) throw new RangeError(`options.id must match ${RULE_ID.source}, got ${describe(options.id)}`);
        if (this.#ruleIds().has(options.id)) throw new RangeError(`options.id ${JSON.stringify(options.id)} is already a rule or hook id`);
        id = options.id;
      }
      if (options.priority !== undefined) {
        if (!Number.isSafeInteger(options.priority)) throw new RangeError(`options.priority must be an integer, got ${describe(options.priority)}`);
        priority = options.priority;
      }
    }
    this.#order++;
    this.#codeRules.push(
      Object.freeze({
        id, trigger, pattern, priority, namespace: undefined, effect: 'handler' as const, enforce: true, condition: undefined,
        handler, decision: undefined, description: undefined, source: 'code', plain: true, order,
      }),
    );
    this.#set = undefined;
    return this;
  }

  beforeWrite(pattern: string, handler: PolicyHandler, options?: HookOptions): this {
    return this.on(PolicyTrigger.BEFORE_WRITE, pattern, handler, options);
  }
  afterWrite(pattern: string, handler: PolicyHandler, options?: HookOptions): this {
    return this.on(PolicyTrigger.AFTER_WRITE, pattern, handler, options);
  }
  beforeRead(pattern: string, handler: PolicyHandler, options?: HookOptions): this {
    return this.on(PolicyTrigger.BEFORE_READ, pattern, handler, options);
  }
  afterRead(pattern: string, handler: PolicyHandler, options?: HookOptions): this {
    return this.on(PolicyTrigger.AFTER_READ, pattern, handler, options);
  }
  beforeDelete(pattern: string, handler: PolicyHandler, options?: HookOptions): this {
    return this.on(PolicyTrigger.BEFORE_DELETE, pattern, handler, options);
  }
  afterDelete(pattern: string, handler: PolicyHandler, options?: HookOptions): this {
    return this.on(PolicyTrigger.AFTER_DELETE, pattern, handler, options);
  }

  // ---- rules as data ---------------------------------------------------------------------

  /**
   * Adds a policy document's rules, rate limits and audit settings (docs/policy-documents.md).
   * `document` is a parsed object, or the answer of `parsePolicyText`/`readPolicyFile` (which
   * lets errors carry lines and columns). Loading again under the same `options.name`
   * replaces that document atomically: operations in flight finish with the rules they
   * started with. Anything invalid throws {@link PolicyDocumentError} and changes nothing.
   */
  load(document: unknown, options: LoadOptions = {}): this {
    const parsed = isParsed(document) ? document : undefined;
    const file = options.file ?? parsed?.file;
    const compiled = compileDocument(parsed ? parsed.document : document, { ...options, file, parsed });
    const name = options.name ?? file ?? `document-${++documentNames}`;
    const issues: DocumentIssue[] = [];
    const previous = this.#documents.get(name);
    const taken = this.#ruleIds(name);
    compiled.rules.forEach((rule, i) => {
      if (taken.has(rule.id)) issues.push({ file, ruleId: rule.id, field: `/rules/${i}/id`, message: `rule id ${JSON.stringify(rule.id)} is already used by a hook or another document` });
    });
    const mode = compiled.mode;
    if (mode !== undefined) {
      for (const [other, { doc }] of this.#documents) {
        if (other !== name && doc.mode !== undefined && doc.mode !== mode) {
          issues.push({ file, field: '/mode', message: `mode ${mode} conflicts with ${doc.mode} of the loaded document ${JSON.stringify(other)}` });
        }
      }
    }
    const limits = JSON.stringify(compiled.rateLimits);
    if (previous !== undefined && JSON.stringify(previous.doc.rateLimits) !== limits) {
      issues.push({ file, field: '/rate_limits', message: 'rate_limits cannot change when a document is reloaded; create a new engine' });
    }
    const parsedLimits: ReturnType<typeof parseRateLimit>[] = [];
    if (previous === undefined) {
      compiled.rateLimits.forEach((l, i) => {
        try {
          parsedLimits.push(parseRateLimit(l.operation, { maxPerMinute: l.maxPerMinute, scope: l.scope }, undefined));
        } catch (error) {
          issues.push({ file, field: `/rate_limits/${i}`, message: (error as Error).message });
        }
      });
    }
    if (issues.length > 0) throw new PolicyDocumentError(issues);
    // Nothing can fail from here on: the swap is all or nothing.
    const rules = compiled.rules.map((rule) => Object.freeze({ ...rule, source: name, order: this.#order++ }));
    this.#documents.set(name, { doc: compiled, rules });
    for (const limit of parsedLimits) this.#addLimit(limit);
    if (compiled.audit?.enabled === true && !this.#audit.enabled) this.enableAudit({ maxEntries: compiled.audit.maxEntries });
    this.#set = undefined;
    return this;
  }

  /** Removes a document loaded under `name` (its rate limits stay). Returns whether there was one. */
  unload(name: string): boolean {
    const had = this.#documents.delete(name);
    if (had) this.#set = undefined;
    return had;
  }

  /** Names of the loaded documents, in load order. */
  get documents(): string[] {
    return [...this.#documents.keys()];
  }

  /** Every rule and code hook, in evaluation order per trigger. */
  get rules(): readonly RuleRef[] {
    const set = this.#rules();
    return [...set.byTrigger.values()].flatMap((list) => list.map(ruleRef));
  }

  /**
   * A dry run (like SochDB's gRPC `Evaluate` and OPA's `--explain`): what the rules decide for
   * `operation` on `key`, with every rule checked, and whether the rate limits would admit it.
   * No storage access, no token taken, no audit entry. Code handlers do run: keep them pure.
   */
  evaluate(operation: Operation, key: BytesLike, options: EvaluateOptions = {}): Promise<EvaluationAnswer> {
    return explainOperation(
      {
        set: this.#rules(),
        maxKeyBytes: this.#maxKeyBytes,
        clock: this.#clock,
        hookDeadline: this.#deadlines.hook,
        limits: this.#limitsFor,
        store: this.#rateLimitStore,
      },
      operation,
      key,
      options,
    );
  }

  #ruleIds(except?: string): Set<string> {
    const ids = new Set<string>();
    for (const rule of this.#codeRules) ids.add(rule.id);
    for (const [name, { rules }] of this.#documents) if (name !== except) for (const rule of rules) ids.add(rule.id);
    return ids;
  }

  #rules(): RuleSet {
    if (this.#set !== undefined) return this.#set;
    let mode = this.#composition;
    let defaultDeny = this.#defaultDeny;
    const all: Rule[] = [...this.#codeRules];
    for (const { doc, rules } of this.#documents.values()) {
      mode ??= doc.mode;
      defaultDeny ||= doc.defaultDeny;
      all.push(...rules);
    }
    return (this.#set = new RuleSet(all, mode ?? 'first-match', defaultDeny));
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
    this.#addLimit(parseRateLimit(operation, maxOrOptions, scope));
    return this;
  }

  #addLimit(parsed: ReturnType<typeof parseRateLimit>): void {
    const limit: RateLimit = Object.freeze({ ...parsed, id: rateLimitId(parsed, new Set(this.#limits.map((l) => l.id))) });
    this.#limits.push(limit);
    const buckets = new LimitBuckets(limit);
    for (const op of ['read', 'write', 'delete'] as const) if (appliesTo(limit, op)) this.#limitsFor[op].push(buckets);
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

  // ---- decision events -------------------------------------------------------------------

  /**
   * Calls `listener` with this engine's {@link DecisionEvent} as each operation ends, before
   * the operation's promise settles. Returns a function that unsubscribes. A listener that
   * throws changes nothing about the operation: the error is reported with
   * `process.emitWarning`. Every engine's events also go to the `sochdb-policy:decision`
   * diagnostics channel (docs/diagnostics.md).
   */
  onDecision(listener: DecisionListener): () => void {
    if (typeof listener !== 'function') throw new TypeError(`listener must be a function, got ${describe(listener)}`);
    // A wrapper per call: the same function subscribed twice is called twice and unsubscribes one at a time.
    const entry: DecisionListener = (event) => listener(event);
    this.#listeners = [...this.#listeners, entry];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== entry);
    };
  }

  /**
   * Whether anything receives this engine's decision events: the only cost an operation nobody
   * observes pays. An operation calls its body directly when this is false and through
   * {@link #observed} otherwise. `!== false`: `TracingChannel.hasSubscribers` is undefined
   * before Node 20.13, and there every operation is observed.
   */
  #observing(): boolean {
    return this.#listeners.length !== 0 || decisionChannel.hasSubscribers !== false || operationChannel.hasSubscribers !== false;
  }

  /**
   * Runs one operation observed: it is timed step by step, traced on `sochdb-policy:operation`
   * when that has subscribers, and publishes its decision event as it ends. Only called when
   * something listens; every operation (put, get, delete, and any added later) goes through here.
   */
  #observed<T>(operation: Operation, run: (observation: Observation) => Promise<T>): Promise<T> {
    const message: OperationMessage = { operation, decision: undefined };
    const observation = new Observation(message);
    // `=== false`: TracingChannel.hasSubscribers is undefined before Node 20.13; trace there.
    if (operationChannel.hasSubscribers === false) return this.#settle(observation, run(observation));
    return operationChannel.tracePromise(() => this.#settle(observation, run(observation)), message);
  }

  async #settle<T>(observation: Observation, pending: Promise<T>): Promise<T> {
    let value: T;
    try {
      value = await pending;
    } catch (error) {
      this.#publish(observation, true, error);
      throw error;
    }
    this.#publish(observation, false, undefined);
    return value;
  }

  /** Hands the ended operation's event to this engine's listeners and to the channel. */
  #publish(observation: Observation, failed: boolean, error: unknown): void {
    const event = observation.event(failed, error);
    if (event === undefined) return;
    observation.message.decision = event;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (thrown) {
        process.emitWarning(thrown instanceof Error ? thrown : new Error(String(thrown)), { code: 'SOCHDB_POLICY_LISTENER', detail: 'an onDecision listener threw; the operation was not affected' });
      }
    }
    if (decisionChannel.hasSubscribers) decisionChannel.publish(event);
  }

  // ---- operations ----------------------------------------------------------------------
  //
  // Each step below answers synchronously when everything it calls does (in-memory limiter
  // and audit, handlers that return a plain action) and returns a promise only otherwise, so
  // an operation awaits once per step that really waits: usually just the storage call.
  // Awaiting a value that is already there still costs a microtask turn each time.

  /** Writes `value` under `key` if the policies allow it (rule O1). */
  put(key: BytesLike, value: BytesLike, context?: PolicyCallContext): Promise<void> {
    // Nobody listens: no observation, no timestamps, no event (docs/diagnostics.md).
    if (!this.#observing()) return this.#put(key, value, context, undefined);
    return this.#observed('write', (o) => this.#put(key, value, context, o));
  }

  async #put(key: BytesLike, value: BytesLike, context: PolicyCallContext | undefined, o: Observation | undefined): Promise<void> {
    // Private copies first: what the hooks approve is exactly what storage and audit see.
    const k = ownKey(key, this.#maxKeyBytes);
    const v = ownBytes(value, 'value');
    const set = this.#set ?? this.#rules();
    const ctx = this.#context('write', k, v, context, key, o);
    const admitted = this.#admit(ctx);
    if (admitted !== undefined) await admitted;
    o?.enter(STEP_HOOKS);
    let decision = this.#evaluate(PolicyTrigger.BEFORE_WRITE, ctx, set);
    if (decision instanceof Promise) decision = await decision;
    if (decision.action === PolicyAction.DENY) return this.#deny(ctx);
    const written = decision.action === PolicyAction.MODIFY && decision.value !== undefined ? decision.value : v;
    o?.enter(STEP_STORAGE);
    try {
      await this.#deadlines.storage.race(this.db.put(k, written));
    } catch (error) {
      return this.#storageFailed(ctx, error);
    }
    ctx[SET_VALUE](written);
    o?.enter(STEP_HOOKS);
    const after = this.#evaluate(PolicyTrigger.AFTER_WRITE, ctx, set);
    if (after instanceof Promise) await after;
    o?.enter(STEP_AUDIT);
    const audited = this.#audit.record(ctx, 'allowed');
    if (audited !== undefined) await audited;
  }

  /** Reads `key` if the policies allow it; null when absent or withheld by `after_read` (rule O2). */
  get(key: BytesLike, context?: PolicyCallContext): Promise<Buffer | null> {
    if (!this.#observing()) return this.#get(key, context, undefined);
    return this.#observed('read', (o) => this.#get(key, context, o));
  }

  /**
   * A read is the engine's latency-bound operation (a sequential `get` waits on libuv's thread
   * pool), so it is written without `async`: synchronous up to the storage call when the limiter
   * and the `before_read` hooks answer synchronously (the usual case), then one promise of its
   * own that the storage deadline rejects directly ({@link Deadline.watch}), instead of an async
   * function awaiting a deadline's promise awaiting the store's. Same steps, same order, same
   * failures as put and delete (docs/performance.md, "The sequential get").
   */
  #get(key: BytesLike, context: PolicyCallContext | undefined, o: Observation | undefined): Promise<Buffer | null> {
    let k: Buffer;
    let set: RuleSet;
    let ctx: DecisionContext;
    let admitted: Promise<void> | undefined;
    let decision: Decision | Promise<Decision>;
    try {
      k = ownKey(key, this.#maxKeyBytes);
      set = this.#set ?? this.#rules();
      ctx = this.#context('read', k, null, context, key, o);
      admitted = this.#admit(ctx);
      if (admitted !== undefined) return this.#getAdmitted(admitted, k, set, ctx, o);
      o?.enter(STEP_HOOKS);
      decision = this.#evaluate(PolicyTrigger.BEFORE_READ, ctx, set);
    } catch (error) {
      return Promise.reject(error);
    }
    if (decision instanceof Promise) return this.#getDecided(decision, k, set, ctx, o);
    if (decision.action === PolicyAction.DENY) return this.#deny(ctx);
    return this.#read(k, set, ctx, o);
  }

  /** {@link #get} once the limiter has answered asynchronously. */
  async #getAdmitted(admitted: Promise<void>, k: Buffer, set: RuleSet, ctx: DecisionContext, o: Observation | undefined): Promise<Buffer | null> {
    await admitted;
    o?.enter(STEP_HOOKS);
    return this.#getDecided(this.#evaluate(PolicyTrigger.BEFORE_READ, ctx, set), k, set, ctx, o);
  }

  /** {@link #get} once `before_read` has decided asynchronously. */
  async #getDecided(pending: Decision | Promise<Decision>, k: Buffer, set: RuleSet, ctx: DecisionContext, o: Observation | undefined): Promise<Buffer | null> {
    const decision = await pending;
    if (decision.action === PolicyAction.DENY) return this.#deny(ctx);
    return this.#read(k, set, ctx, o);
  }

  /** The storage step of a read and what follows it: `after_read`, then the audit entry. */
  #read(k: Buffer, set: RuleSet, ctx: DecisionContext, o: Observation | undefined): Promise<Buffer | null> {
    o?.enter(STEP_STORAGE);
    return new Promise<Buffer | null>((resolve, reject) => {
      const failed = (error: unknown): void => resolve(this.#storageFailed(ctx, error));
      let pending: Uint8Array | null | undefined | PromiseLike<Uint8Array | null | undefined>;
      try {
        pending = this.db.get(k);
      } catch (error) {
        return failed(error);
      }
      const answered = (stored: Uint8Array | null | undefined): void => {
        try {
          resolve(this.#readAnswered(stored, set, ctx, o));
        } catch (error) {
          reject(error);
        }
      };
      if (isThenable(pending)) this.#deadlines.storage.watch(pending, answered, failed);
      else answered(pending);
    });
  }

  /** After the store answered a read: `after_read` on a value, then the audit entry (rule O2). */
  #readAnswered(stored: Uint8Array | null | undefined, set: RuleSet, ctx: DecisionContext, o: Observation | undefined): Buffer | null | Promise<Buffer | null> {
    o?.enter(STEP_HOOKS);
    if (stored === null || stored === undefined) return this.#readAudited(null, ALLOW, ctx, o);
    const value = toBuffer(stored, 'stored value');
    ctx[SET_VALUE](value);
    const after = this.#evaluate(PolicyTrigger.AFTER_READ, ctx, set);
    if (after instanceof Promise) return after.then((decided) => this.#readAudited(value, decided, ctx, o));
    return this.#readAudited(value, after, ctx, o);
  }

  /** What the caller receives after `after_read` decided, once its audit entry is written. */
  #readAudited(stored: Buffer | null, after: Decision, ctx: DecisionContext, o: Observation | undefined): Buffer | null | Promise<Buffer | null> {
    let result: AuditResult = 'allowed';
    let value = stored;
    if (stored !== null) {
      if (after.action === PolicyAction.DENY) {
        value = null;
        result = 'redacted';
      } else if (after.action === PolicyAction.MODIFY) {
        // What the caller receives differs from what is stored: audited `redacted` (H8).
        if (after.value !== undefined) value = after.value;
        result = 'redacted';
      }
    }
    if (o !== undefined) {
      o.result = result;
      o.enter(STEP_AUDIT);
    }
    const audited = this.#audit.record(ctx, result);
    return audited === undefined ? value : audited.then(() => value);
  }

  /** Deletes `key` if the policies allow it; a missing key succeeds (rules O3, O6). */
  delete(key: BytesLike, context?: PolicyCallContext): Promise<void> {
    if (!this.#observing()) return this.#delete(key, context, undefined);
    return this.#observed('delete', (o) => this.#delete(key, context, o));
  }

  async #delete(key: BytesLike, context: PolicyCallContext | undefined, o: Observation | undefined): Promise<void> {
    const k = ownKey(key, this.#maxKeyBytes);
    const set = this.#set ?? this.#rules();
    const ctx = this.#context('delete', k, null, context, key, o);
    const admitted = this.#admit(ctx);
    if (admitted !== undefined) await admitted;
    o?.enter(STEP_HOOKS);
    let decision = this.#evaluate(PolicyTrigger.BEFORE_DELETE, ctx, set);
    if (decision instanceof Promise) decision = await decision;
    if (decision.action === PolicyAction.DENY) return this.#deny(ctx);
    o?.enter(STEP_STORAGE);
    try {
      await this.#deadlines.storage.race(this.db.delete(k));
    } catch (error) {
      return this.#storageFailed(ctx, error);
    }
    o?.enter(STEP_HOOKS);
    const after = this.#evaluate(PolicyTrigger.AFTER_DELETE, ctx, set);
    if (after instanceof Promise) await after;
    o?.enter(STEP_AUDIT);
    const audited = this.#audit.record(ctx, 'allowed');
    if (audited !== undefined) await audited;
  }

  // ---- multi-key operations (docs/core.md): the bodies live in ./operations/ -----------------

  /**
   * The entries of `range` the read policy lets through, lazily, in key order (or reverse).
   * Each key the store yields is one read decision, charged and audited like `get` of that key:
   * one read token (no token left ends the scan with `rate_limited`), `before_read` (DENY leaves
   * the key out), `after_read` (DENY leaves the entry out, MODIFY replaces the value), one audit
   * entry with the scan's `batchId`. `break`, `close()` or an aborted `range.signal` release
   * the store's iterator. Throws {@link NotSupportedError} when the store has no `iterator`.
   */
  scan(range: ScanOptions = {}, context?: PolicyCallContext): PolicyScan {
    requireCapability(this.db, 'iterator', 'policy.scan');
    if (range === null || typeof range !== 'object') throw new TypeError(`range must be an object, got ${describe(range)}`);
    const { signal, ...bounds } = range;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`range.signal must be an AbortSignal, got ${describe(signal)}`);
    return new PolicyScan(this.#pipeline, normalizeRange(bounds), callerContext(context), signal);
  }

  /**
   * The keys (as given, in order) whose `before_read` decision is not DENY, without touching
   * storage: SochDB Rust's `get_denied_ids`, inverted. Takes no token and writes no audit entry.
   */
  filterAllowed<K extends BytesLike>(keys: Iterable<K>, context?: PolicyCallContext): Promise<K[]> {
    return filterAllowed(this.#pipeline, keys, context);
  }

  /**
   * Puts and deletes, all or nothing: one `consume` for every operation's tokens, every
   * operation's before-hooks (a DENY stores nothing and the violation's `index` and `key` name
   * the operation), one atomic `store.batch`, then after-hooks and one audit entry per
   * operation, tied by `batchId`. Rejects with {@link NotSupportedError} when the store has no `batch`.
   */
  batch(operations: readonly PolicyBatchOperation[], context?: PolicyCallContext): Promise<void> {
    return runBatch(this.#pipeline, operations, context);
  }

  // ---- pipeline steps --------------------------------------------------------------------

  #context(operation: Operation, key: Buffer, value: Buffer | null, context: unknown, given: BytesLike, o: Observation | undefined): DecisionContext {
    return this.#contextOf(operation, key, keyTextOf(key, given), value, callerContext(context), this.#clock(), o);
  }

  #contextOf(operation: Operation, key: Buffer, keyText: string, value: Buffer | null, caller: CallerContext, timestamp: number, o: Observation | undefined): DecisionContext {
    // Applied rules are collected only when an audit entry or a decision event will carry them.
    const ctx = new DecisionContext(operation, key, keyText, value, caller, timestamp, this.#audit.enabled || o !== undefined, o);
    if (o !== undefined) {
      o.ctx = ctx;
      o.enter(STEP_RATE_LIMIT);
    }
    return ctx;
  }

  /**
   * Rate limits (rules R2–R7): all applicable buckets in one call, all or nothing. Returns
   * undefined when the store admitted the operation synchronously.
   */
  #admit(ctx: DecisionContext): Promise<void> | undefined {
    const limits = this.#limitsFor[ctx.operation];
    if (limits.length === 0) return undefined;
    const buckets: BucketRequest[] = new Array(limits.length);
    let answer: RateLimitDecision | PromiseLike<RateLimitDecision>;
    try {
      for (let i = 0; i < limits.length; i++) buckets[i] = limits[i]!.request(ctx[CUSTOM]());
      answer = this.#rateLimitStore.consume(buckets, ctx.timestamp);
    } catch (cause) {
      return this.#limiterFailed(ctx, limiterFailed(cause));
    }
    return isThenable(answer) ? this.#admitLater(ctx, this.#deadlines.rateLimit.race(answer)) : this.#checkAdmission(ctx, answer);
  }

  async #admitLater(ctx: DecisionContext, answer: PromiseLike<RateLimitDecision>): Promise<void> {
    let decision: RateLimitDecision;
    try {
      decision = await answer;
    } catch (cause) {
      return this.#limiterFailed(ctx, limiterFailed(cause));
    }
    return this.#checkAdmission(ctx, decision);
  }

  #checkAdmission(ctx: DecisionContext, decision: RateLimitDecision): Promise<never> | undefined {
    const unreadable = unreadableDecision(decision);
    if (unreadable !== undefined) return this.#limiterFailed(ctx, unreadable);
    if (!decision.allowed) {
      const o = ctx[OBSERVATION]();
      if (o !== undefined) o.rateLimit = decision;
      return this.#fail(ctx, 'rate_limited', ViolationCode.RATE_LIMITED, undefined, decision.retryAfterMs);
    }
    return undefined;
  }

  #limiterFailed(ctx: DecisionContext, failure: LimiterFailure): Promise<never> {
    return this.#fail(ctx, 'error', failure.code, failure.cause, undefined, failure.stage);
  }

  /**
   * Runs one trigger's matching hooks in order until DENY or MODIFY (rules H1–H4, H10).
   * Synchronous until a handler returns a promise; the rest then runs in {@link #evaluateLater}.
   */
  #evaluate(trigger: PolicyTrigger, ctx: DecisionContext, set: RuleSet): Decision | Promise<Decision> {
    if (set.size === 0 && !set.defaultDeny) return ALLOW;
    const index = set.index(trigger);
    if (set.plain) return index.size === 0 ? ALLOW : this.#runHooks(trigger, ctx, index.match(ctx.keyText), 0);
    const matched = index.match(ctx.keyText);
    const rules: Rule[] = new Array(matched.length);
    for (let i = 0; i < matched.length; i++) rules[i] = matched[i]!.value;
    let decision: Decision | Promise<Decision>;
    try {
      decision = new TriggerRun(set, trigger, ctx, rules, this.#deadlines.hook).run();
    } catch (failure) {
      return this.#ruleFailed(trigger, ctx, failure);
    }
    return decision instanceof Promise ? decision.catch((failure: unknown) => this.#ruleFailed(trigger, ctx, failure)) : decision;
  }

  #ruleFailed(trigger: PolicyTrigger, ctx: DecisionContext, failure: unknown): Promise<never> {
    if (!(failure instanceof RuleFailure)) throw failure;
    return this.#hookFailed(trigger, ctx, failure.rule, failure.cause);
  }

  /** The seed's loop, for code hooks alone (rules H1–H4): nothing of rules on this path. */
  #runHooks(trigger: PolicyTrigger, ctx: DecisionContext, hooks: readonly IndexedHook<Rule>[], from: number): Decision | Promise<Decision> {
    for (let i = from; i < hooks.length; i++) {
      const hook = hooks[i]!;
      let decision: Decision;
      try {
        ctx[NEXT_HOOK]();
        const result = hook.value.handler!(ctx);
        if (isThenable(result)) return this.#evaluateLater(trigger, ctx, hooks, i, this.#deadlines.hook.race(result));
        decision = toDecision(result, ctx);
      } catch (cause) {
        return this.#hookFailed(trigger, ctx, hook.value, cause);
      }
      ctx[APPLIED](hook.value.id);
      if (decision.action === PolicyAction.DENY || decision.action === PolicyAction.MODIFY) {
        ctx[DECISION]().decidedBy = hook.value;
        return decision;
      }
    }
    return ALLOW;
  }

  /** Continues {@link #runHooks} once the handler at `at` has settled. */
  async #evaluateLater(
    trigger: PolicyTrigger,
    ctx: DecisionContext,
    hooks: readonly IndexedHook<Rule>[],
    at: number,
    pending: PromiseLike<unknown>,
  ): Promise<Decision> {
    let decision: Decision;
    try {
      decision = toDecision(await pending, ctx);
    } catch (cause) {
      return this.#hookFailed(trigger, ctx, hooks[at]!.value, cause);
    }
    ctx[APPLIED](hooks[at]!.value.id);
    if (decision.action === PolicyAction.DENY || decision.action === PolicyAction.MODIFY) {
      ctx[DECISION]().decidedBy = hooks[at]!.value;
      return decision;
    }
    return this.#runHooks(trigger, ctx, hooks, at + 1);
  }

  /** A handler threw, answered nonsense or never answered: fail closed, audited `error` (rule H10). */
  async #hookFailed(trigger: PolicyTrigger, ctx: DecisionContext, rule: Rule, cause: unknown): Promise<never> {
    const timedOut = cause instanceof StepTimeout;
    const code = timedOut ? ViolationCode.TIMEOUT : ViolationCode.HOOK_FAILED;
    const decision = ctx[DECISION]();
    decision.decidedBy = rule;
    decision.failing = true;
    const error = new PolicyViolation(code, violationMessage(code, ctx.operation), {
      operation: ctx.operation,
      key: ctx.keyText,
      cause,
      trigger,
      pattern: rule.pattern,
      ruleId: rule.id,
      decisionId: decision.id,
      stage: timedOut ? 'hook' : undefined,
    });
    this.#failing(ctx, 'error');
    await this.#audit.recordQuietly(ctx, 'error');
    throw error;
  }

  /** An observed operation is failing with audit result `result`: the rest of its time is the audit's. */
  #failing(ctx: DecisionContext, result: AuditResult, code?: typeof STORAGE_ERROR): void {
    const o = ctx[OBSERVATION]();
    if (o === undefined) return;
    o.fail(result, code);
    o.enter(STEP_AUDIT);
  }

  async #deny(ctx: DecisionContext): Promise<never> {
    return this.#fail(ctx, 'denied', ViolationCode.DENIED);
  }

  /**
   * Storage errors escape as themselves, audited `error` (rule E2); a storage call that never
   * settled fails with code `timeout`.
   */
  async #storageFailed(ctx: DecisionContext, error: unknown): Promise<never> {
    if (error instanceof StepTimeout) return this.#fail(ctx, 'error', ViolationCode.TIMEOUT, error, undefined, error.stage);
    this.#failing(ctx, 'error', STORAGE_ERROR);
    await this.#audit.recordQuietly(ctx, 'error');
    throw error;
  }

  async #fail(ctx: DecisionContext, result: AuditResult, code: ViolationCode, cause?: unknown, retryAfterMs?: number, stage?: TimeoutStage): Promise<never> {
    ctx[DECISION]().failing = true;
    this.#failing(ctx, result);
    await this.#audit.recordQuietly(ctx, result);
    const decision = ctx[DECISION]();
    const rule = code === ViolationCode.DENIED ? decision.decidedBy : undefined;
    throw new PolicyViolation(code, violationMessage(code, ctx.operation), {
      operation: ctx.operation,
      key: ctx.keyText,
      cause,
      retryAfterMs,
      stage,
      decisionId: decision.id,
      ruleId: rule?.id,
      trigger: rule?.trigger,
      pattern: rule?.pattern,
    });
  }
}

function isParsed(value: unknown): value is ParsedDocument {
  return typeof value === 'object' && value !== null && typeof (value as ParsedDocument).position === 'function' && 'document' in value;
}
