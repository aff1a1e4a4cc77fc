import type { Operation, PolicyTrigger } from '../actions.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { AuditResult, KeyValueStore, RateLimitStore } from '../contracts.js';
import type { CallerContext } from '../context.js';
import type { ViolationCode } from '../errors.js';
import type { DecisionContext } from '../events/decision-record.js';
import type { Observation, STORAGE_ERROR } from '../events/observation.js';
import type { Decision } from '../hooks/handler.js';
import type { LimitBuckets } from '../limits/rate-limit.js';
import type { RuleSet } from '../rules/rule-set.js';
import type { Deadline, TimeoutStage } from '../timeouts.js';

/**
 * The engine's pipeline steps, handed to the multi-key operations (scan, batch, filterAllowed)
 * so that they run exactly the steps `put`, `get` and `delete` run — the same rate limiting,
 * hook evaluation, failure handling, audit and decision events — without living in engine.ts.
 * Internal: not exported from the package.
 */
export interface Pipeline {
  readonly db: KeyValueStore;
  readonly maxKeyBytes: number;
  readonly clock: () => number;
  readonly audit: AuditTrail;
  readonly rateLimitStore: RateLimitStore;
  readonly deadlines: { readonly rateLimit: Deadline; readonly storage: Deadline };
  /** The limits that apply to `operation`. */
  limitsFor(operation: Operation): readonly LimitBuckets[];
  /** The current rule snapshot (an operation keeps the one it started with). */
  rules(): RuleSet;
  /** Whether anything receives decision events. */
  observing(): boolean;
  /** Runs `run` as one observed operation (timed, traced, published as it ends). */
  observed<T>(operation: Operation, run: (o: Observation) => Promise<T>): Promise<T>;
  /** A new observation for an operation whose event the caller publishes itself. */
  observation(operation: Operation): Observation;
  publish(o: Observation, failed: boolean, error: unknown): void;
  /**
   * The decision context of one key: `keyText` is `key`'s text (`keyTextOf` in bytes.ts), `caller`
   * the call's context (shared by its decisions), `timestamp` the engine's clock for the operation.
   */
  context(operation: Operation, key: Buffer, keyText: string, value: Buffer | null, caller: CallerContext, timestamp: number, o: Observation | undefined): DecisionContext;
  /** Rate limits for one operation: one token from each applicable bucket (throws `rate_limited`). */
  admit(ctx: DecisionContext): Promise<void> | undefined;
  evaluate(trigger: PolicyTrigger, ctx: DecisionContext, set: RuleSet): Decision | Promise<Decision>;
  /** The observed operation of `ctx` is failing with `result`. */
  failing(ctx: DecisionContext, result: AuditResult, code?: typeof STORAGE_ERROR): void;
  fail(ctx: DecisionContext, result: AuditResult, code: ViolationCode, cause?: unknown, retryAfterMs?: number, stage?: TimeoutStage): Promise<never>;
  storageFailed(ctx: DecisionContext, error: unknown): Promise<never>;
}

