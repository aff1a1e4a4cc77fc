import type { PolicyTrigger } from '../actions.js';
import type { AuditResult, RateLimitDecision } from '../contracts.js';
import { PolicyViolation, type ViolationCode } from '../errors.js';
import type { TimeoutStage } from '../timeouts.js';
import type { OperationMessage } from './channels.js';
import { DECISION, type DecisionContext, type DecisionRecord } from './decision-record.js';

/**
 * The `code` of a decision event whose operation failed because the store threw: the store's
 * error escapes to the caller as itself (rule E2), so it has no {@link ViolationCode}.
 */
export const STORAGE_ERROR = 'storage_error';

/** Milliseconds an operation spent in each step, from `performance.now()`. */
export interface DecisionDurations {
  /** From the call to the end, everything included. */
  totalMs: number;
  /** The rate-limit store's `consume`. */
  rateLimitMs: number;
  /** Before- and after-hooks and rules. */
  hooksMs: number;
  /** The storage call. */
  storageMs: number;
  /** The audit sink's `append`. */
  auditMs: number;
}

/** The rate-limit answer of an operation the limits refused. */
export interface DecisionRateLimit {
  /** Whole tokens left in the emptiest bucket. */
  remaining: number;
  /** Milliseconds until a retry can pass. */
  retryAfterMs: number;
  /** The key of the first bucket that had no token (limit id and scope value), when the store says. */
  limitedBy: string | null;
}

/**
 * What `sochdb-policy:decision` publishes and `policy.onDecision` listeners receive, once per
 * operation as it ends: the {@link DecisionRecord} its audit entry carries (same fields, same
 * values), plus what only a live observer needs. One object is shared by every subscriber:
 * treat it as read-only (copy what you keep and change). Field by field: docs/diagnostics.md.
 */
export interface DecisionEvent extends DecisionRecord {
  /** Ids of the rules and hooks whose outcome counted, in evaluation order (always collected for events; a copy, not the audit entry's array). */
  appliedRules: string[];
  /** The deciding rule's trigger, `null` when no rule decided. */
  trigger: PolicyTrigger | null;
  /** The deciding rule's pattern, `null` when no rule decided. */
  pattern: string | null;
  /** Why the operation failed: the violation's code, `storage_error`, or `null` when it succeeded. */
  code: ViolationCode | typeof STORAGE_ERROR | null;
  /** For code `timeout`: the step that did not settle. */
  stage: TimeoutStage | null;
  /** For result `rate_limited`: the limiter's answer. */
  rateLimit: DecisionRateLimit | null;
  /** What the operation threw (a PolicyViolation or the store's error); undefined when it succeeded. */
  error: unknown;
  /** `performance.now()` when the operation was called: an OpenTelemetry span's start time. */
  startTime: number;
  durations: DecisionDurations;
}

// Steps, as indexes into Observation#spent.
export const STEP_NONE = 0;
export const STEP_RATE_LIMIT = 1;
export const STEP_HOOKS = 2;
export const STEP_STORAGE = 3;
export const STEP_AUDIT = 4;
type Step = 0 | 1 | 2 | 3 | 4;

/**
 * One observed operation: made only when someone subscribes, so an operation nobody observes
 * takes no timestamps and builds no event. The engine moves it from step to step; time is
 * charged to the step the operation was in.
 */
export class Observation {
  readonly startTime: number;
  #last: number;
  #step: Step = STEP_NONE;
  readonly #spent = [0, 0, 0, 0, 0];
  /** Set when the operation's decision context exists: before it, nothing was decided. */
  ctx: DecisionContext | undefined = undefined;
  /** A successful operation's result when it is not `allowed` (a redacted read). */
  result: AuditResult | undefined = undefined;
  /** The audit result of a refused or failed operation, where the engine decided it. */
  failure: AuditResult | undefined = undefined;
  /** Set with `failure` when the code is not on the error (a store's own error). */
  code: DecisionEvent['code'] | undefined = undefined;
  rateLimit: RateLimitDecision | undefined = undefined;
  readonly message: OperationMessage;

  constructor(message: OperationMessage) {
    this.message = message;
    this.startTime = this.#last = performance.now();
  }

  /** Charges the time since the last step change to the current step and enters `step`. */
  enter(step: Step): void {
    const now = performance.now();
    this.#spent[this.#step]! += now - this.#last;
    this.#last = now;
    this.#step = step;
  }

  /** Records the audit result of a failure the engine decided (and, for a store's error, its code). */
  fail(result: AuditResult, code?: DecisionEvent['code']): void {
    this.failure = result;
    this.code = code;
  }

  /** The event of the ended operation, or undefined when it ended before deciding anything (a bad argument). */
  event(failed: boolean, error: unknown): DecisionEvent | undefined {
    const ctx = this.ctx;
    if (ctx === undefined) return undefined;
    this.enter(STEP_NONE);
    const result: AuditResult = failed ? (this.failure ?? 'error') : (this.result ?? 'allowed');
    let code: DecisionEvent['code'] = null;
    let stage: TimeoutStage | null = null;
    if (failed) {
      if (this.code !== undefined) code = this.code;
      else if (PolicyViolation.isPolicyViolation(error)) code = error.code;
      else code = STORAGE_ERROR;
      if (PolicyViolation.isPolicyViolation(error)) stage = error.stage ?? null;
    }
    const state = ctx[DECISION]();
    const rule = state.decidedBy;
    const limit = this.rateLimit;
    const spent = this.#spent;
    // One literal, every field in one order (one object shape for every event); the decision
    // fields are decisionRecord's (events.test.ts checks that event and audit entry agree).
    const record: DecisionEvent = {
      timestamp: ctx.timestamp,
      operation: ctx.operation,
      key: ctx.keyText,
      agentId: ctx.agentId ?? null,
      sessionId: ctx.sessionId ?? null,
      result,
      decisionId: state.id,
      ruleId: rule?.id ?? null,
      // A copy: the audit entry and every event have their own array.
      appliedRules: state.applied ?? [],
      trigger: rule?.trigger ?? null,
      pattern: rule?.pattern ?? null,
      code,
      stage,
      rateLimit:
        limit === undefined || result !== 'rate_limited'
          ? null
          : { remaining: limit.remaining, retryAfterMs: limit.retryAfterMs, limitedBy: limit.limitedBy ?? null },
      error: failed ? error : undefined,
      startTime: this.startTime,
      durations: {
        totalMs: this.#last - this.startTime,
        rateLimitMs: spent[STEP_RATE_LIMIT]!,
        hooksMs: spent[STEP_HOOKS]!,
        storageMs: spent[STEP_STORAGE]!,
        auditMs: spent[STEP_AUDIT]!,
      },
    };
    if (state.shadow !== undefined) {
      record.shadowRuleId = state.shadow.rule.id;
      record.shadowAction = state.shadow.action as DecisionEvent['shadowAction'];
    }
    if (state.batchId !== undefined) record.batchId = state.batchId;
    // Not frozen (freezing three objects cost about a tenth of an observed operation): one
    // object is shared by every subscriber, documented as read-only.
    return record;
  }
}
