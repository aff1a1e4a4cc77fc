import { isPolicyTrigger, OPERATIONS, PolicyAction, PolicyTrigger, type Operation } from '../actions.js';
import { describe, keyTextOf, ownBytes, ownKey, type BytesLike } from '../bytes.js';
import type { BucketRequest, RateLimitDecision, RateLimitStore } from '../contracts.js';
import { callerContext, type ContextMap } from '../context.js';
import { DECISION, DecisionContext } from '../events/decision-record.js';
import type { LimitBuckets } from '../limits/rate-limit.js';
import type { Deadline } from '../timeouts.js';
import { TriggerRun, type RuleCheck } from './evaluate.js';
import type { RuleSet } from './rule-set.js';
import { ruleRef, type Rule, type RuleRef } from './rule.js';

export interface EvaluateOptions {
  /** The value of a write, or the stored value to check an `after_read` redaction against. */
  value?: BytesLike;
  context?: Record<string, string | undefined>;
  /** The trigger to evaluate. @default the operation's before-trigger */
  trigger?: PolicyTrigger;
}

/** Whether the rate limits would admit the operation now (nothing is charged). */
export type RateLimitAnswer =
  | { status: 'admitted' | 'limited'; remaining: number; retryAfterMs: number; limitedBy?: string }
  | { status: 'none' }
  /** The store has no `peek` capability, or it failed. */
  | { status: 'unknown'; reason: string };

/**
 * The answer of `policy.evaluate` and `sochdb-policy explain --json`: a Cedar-style decision
 * with its reason (the deciding rule), per-rule errors, and every rule checked.
 */
export interface EvaluationAnswer {
  type: 'success';
  decisionId: string;
  operation: Operation;
  trigger: PolicyTrigger;
  key: string;
  /** What the trigger decided: `allow`, `deny`, `modify` or `log`. */
  action: PolicyAction;
  /** false when the rules deny; the rate limits are reported separately in `rateLimit`. */
  allowed: boolean;
  /** The deciding rule, when one decided (Cedar's `reason`). */
  reason: RuleRef[];
  /** Ids of the rules whose outcome counted (Rust's `applied_rules`). */
  appliedRules: string[];
  /** Every rule on the trigger, in evaluation order, with what matched. */
  rules: RuleCheck[];
  /** Rules whose condition or handler failed (the operation fails closed on the first). */
  errors: { ruleId: string; code: 'hook_failed'; message: string }[];
  /** Shadow mode: the first rule with `enforce: false` that would have denied or modified. */
  shadow: { ruleId: string; action: string } | null;
  /** For MODIFY: the value that would be written or returned, as UTF-8 text. */
  value?: string;
  rateLimit: RateLimitAnswer;
  composition: RuleSet['mode'];
  defaultDeny: boolean;
}

export interface ExplainEnv {
  set: RuleSet;
  maxKeyBytes: number;
  clock: () => number;
  hookDeadline: Deadline;
  limits: Record<Operation, LimitBuckets[]>;
  store: RateLimitStore;
}

const BEFORE: Record<Operation, PolicyTrigger> = {
  write: PolicyTrigger.BEFORE_WRITE,
  read: PolicyTrigger.BEFORE_READ,
  delete: PolicyTrigger.BEFORE_DELETE,
};

export async function explainOperation(env: ExplainEnv, operation: Operation, key: BytesLike, options: EvaluateOptions = {}): Promise<EvaluationAnswer> {
  if (!OPERATIONS.includes(operation)) throw new RangeError(`operation must be one of ${OPERATIONS.join(', ')}, got ${describe(operation)}`);
  if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
  const trigger = options.trigger ?? BEFORE[operation];
  if (!isPolicyTrigger(trigger) || !trigger.endsWith(operation === 'write' ? '_write' : operation === 'read' ? '_read' : '_delete')) {
    throw new RangeError(`options.trigger must be a trigger of ${operation}, got ${describe(trigger)}`);
  }
  const k = ownKey(key, env.maxKeyBytes);
  const value = options.value === undefined ? null : ownBytes(options.value, 'options.value');
  const caller = callerContext(options.context, 'options.context');
  const context = caller.custom;
  const ctx = new DecisionContext(operation, k, keyTextOf(k, key), value, caller, env.clock(), true);
  const { set } = env;
  const all = set.byTrigger.get(trigger)!;
  const matched = set.index(trigger).match(ctx.keyText).map((hook) => hook.value);
  const matchedSet = new Set<Rule>(matched);
  const checks = new Map<Rule, RuleCheck>();
  for (const rule of all) {
    checks.set(rule, {
      id: rule.id,
      trigger: rule.trigger,
      pattern: rule.pattern,
      priority: rule.priority,
      namespace: rule.namespace ?? null,
      enforce: rule.enforce,
      patternMatched: matchedSet.has(rule),
      namespaceMatched: rule.namespace === undefined ? null : true,
      conditionMatched: null,
      outcome: null,
      applied: false,
    });
  }
  const decision = await new TriggerRun(set, trigger, ctx, matched, env.hookDeadline, checks).run();
  const state = ctx[DECISION]();
  const rules = [...checks.values()];
  for (const check of rules) if (!check.patternMatched) check.namespaceMatched = null;
  const answer: EvaluationAnswer = {
    type: 'success',
    decisionId: state.id,
    operation,
    trigger,
    key: ctx.keyText,
    action: decision.action,
    allowed: decision.action !== PolicyAction.DENY,
    reason: state.decidedBy === undefined ? [] : [ruleRef(state.decidedBy)],
    appliedRules: state.applied ?? [],
    rules,
    errors: rules.filter((c) => c.error !== undefined).map((c) => ({ ruleId: c.id, code: 'hook_failed' as const, message: c.error! })),
    shadow: state.shadow === undefined ? null : { ruleId: state.shadow.rule.id, action: state.shadow.action },
    rateLimit: await peekLimits(env, operation, context, ctx.timestamp),
    composition: set.mode,
    defaultDeny: set.defaultDeny,
  };
  if (decision.action === PolicyAction.MODIFY) {
    const out = decision.value ?? value;
    if (out !== null) answer.value = out.toString('utf8');
  }
  return answer;
}

async function peekLimits(env: ExplainEnv, operation: Operation, context: ContextMap, now: number): Promise<RateLimitAnswer> {
  const limits = env.limits[operation];
  if (limits.length === 0) return { status: 'none' };
  if (typeof env.store.peek !== 'function') return { status: 'unknown', reason: 'the rate-limit store has no peek capability' };
  let answer: RateLimitDecision;
  try {
    const buckets: BucketRequest[] = limits.map((l) => l.request(context));
    answer = await env.store.peek(buckets, now);
  } catch (error) {
    return { status: 'unknown', reason: String((error as Error)?.message ?? error) };
  }
  return answer.allowed
    ? { status: 'admitted', remaining: answer.remaining, retryAfterMs: 0 }
    : { status: 'limited', remaining: answer.remaining, retryAfterMs: answer.retryAfterMs, limitedBy: answer.limitedBy };
}
