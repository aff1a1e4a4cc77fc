import { PolicyAction, PolicyTrigger } from '../actions.js';
import { contextValue, CUSTOM, NEXT_HOOK, type PolicyContext } from '../context.js';
import { DECISION, DecisionContext } from '../events/decision-record.js';
import { toDecision, type Decision } from '../hooks/handler.js';
import { isThenable } from '../thenable.js';
import type { Deadline } from '../timeouts.js';
import { endsFirstMatch, joinOutcome } from './compose.js';
import { ConditionInput } from './condition.js';
import type { RuleSet } from './rule-set.js';
import { DEFAULT_DENY_ID, STATIC_DECISIONS, type Rule } from './rule.js';

/** A rule's handler or condition failed: the engine fails the operation closed (rule H10). */
export class RuleFailure {
  constructor(
    readonly rule: Rule,
    readonly cause: unknown,
  ) {}
}

/** What `evaluate`/`explain` report for each rule of the trigger. */
export interface RuleCheck {
  id: string;
  trigger: PolicyTrigger;
  pattern: string;
  priority: number;
  namespace: string | null;
  enforce: boolean;
  patternMatched: boolean;
  /** false: the context's namespace differs (the rule was skipped); null: the rule has none. */
  namespaceMatched: boolean | null;
  /** null: no condition, or not evaluated (pattern or namespace did not match, or evaluation stopped). */
  conditionMatched: boolean | null;
  /** What the rule answered, when it was evaluated. */
  outcome: PolicyAction | null;
  /** Whether this rule's outcome counted (false for shadow rules and rules after the stop). */
  applied: boolean;
  error?: string;
}

const BEFORE = new Set<PolicyTrigger>([PolicyTrigger.BEFORE_WRITE, PolicyTrigger.BEFORE_READ, PolicyTrigger.BEFORE_DELETE]);
const ALLOW = STATIC_DECISIONS.allow;
const DENY = STATIC_DECISIONS.deny;

/** The pseudo-rule that deny-by-default decides with. */
function defaultDenyRule(trigger: PolicyTrigger): Rule {
  return {
    id: DEFAULT_DENY_ID, trigger, pattern: '**', priority: 0, namespace: undefined, effect: 'deny', enforce: true,
    condition: undefined, handler: undefined, decision: DENY, description: 'deny-by-default: no rule allowed the operation',
    source: 'default', plain: false, order: -1,
  };
}

/**
 * One trigger's run over the rules that match the key: namespace, condition, effect, then
 * the composition mode's join. Synchronous until a handler returns a promise.
 */
export class TriggerRun {
  #i = 0;
  #outcome: Decision = ALLOW;
  #decider: Rule | undefined;
  #allowed = false;
  #allowRule: Rule | undefined;
  #input: ConditionInput | undefined;
  readonly #namespace: string | undefined;

  constructor(
    readonly set: RuleSet,
    readonly trigger: PolicyTrigger,
    readonly ctx: PolicyContext,
    readonly rules: readonly Rule[],
    readonly deadline: Deadline,
    /** For `evaluate`: one check per rule, filled in as rules run; failures become DENY instead of throwing. */
    readonly checks?: Map<Rule, RuleCheck>,
  ) {
    this.#namespace = contextValue(ctx[CUSTOM](), 'namespace');
  }

  run(): Decision | Promise<Decision> {
    const { rules, ctx } = this;
    for (; this.#i < rules.length; this.#i++) {
      const rule = rules[this.#i]!;
      const check = this.checks?.get(rule);
      // Rust's namespace filter: a namespaced rule is skipped only when the context names a
      // different namespace; a context without one gets every namespaced rule.
      if (rule.namespace !== undefined && this.#namespace !== undefined && rule.namespace !== this.#namespace) {
        if (check) check.namespaceMatched = false;
        continue;
      }
      let decision: Decision;
      try {
        if (rule.condition !== undefined) {
          const holds = rule.condition.test((this.#input ??= new ConditionInput(ctx, this.trigger)));
          if (check) check.conditionMatched = holds;
          if (!holds) continue;
        }
        if (rule.handler !== undefined) {
          ctx[NEXT_HOOK]();
          const result = rule.handler(ctx);
          if (isThenable(result)) return this.#later(rule, this.deadline.race(result));
          decision = this.#handlerDecision(rule, result);
        } else decision = rule.decision!;
      } catch (cause) {
        const failed = this.#failed(rule, cause);
        if (failed !== undefined) return failed;
        continue;
      }
      if (this.#step(rule, decision)) return this.#finish();
    }
    return this.#finish();
  }

  async #later(rule: Rule, pending: PromiseLike<unknown>): Promise<Decision> {
    let decision: Decision;
    try {
      decision = this.#handlerDecision(rule, await pending);
    } catch (cause) {
      const failed = this.#failed(rule, cause);
      if (failed !== undefined) return failed;
      this.#i++;
      return this.run();
    }
    if (this.#step(rule, decision)) return this.#finish();
    this.#i++;
    return this.run();
  }

  #handlerDecision(rule: Rule, result: unknown): Decision {
    const decision = toDecision(result, this.ctx);
    // Only an explicit ALLOW counts as allowing under deny-by-default: a hook that returns
    // nothing has said nothing about the key.
    if (decision.action === PolicyAction.ALLOW && result !== PolicyAction.ALLOW && (result as { action?: unknown })?.action !== PolicyAction.ALLOW) {
      return IMPLICIT_ALLOW;
    }
    return decision;
  }

  /** A shadow rule's failure is recorded; an enforced rule's fails closed. */
  #failed(rule: Rule, cause: unknown): Decision | undefined {
    const check = this.checks?.get(rule);
    if (check) check.error = String((cause as Error)?.message ?? cause).split('\n')[0];
    if (!rule.enforce) {
      this.#shadow(rule, 'error');
      return undefined;
    }
    if (this.checks === undefined) throw new RuleFailure(rule, cause);
    if (check) check.applied = true;
    this.#record(rule);
    this.#decider = rule;
    this.#outcome = DENY;
    return this.#finish(true);
  }

  #shadow(rule: Rule, action: PolicyAction | 'error'): void {
    if (!(this.ctx instanceof DecisionContext)) return;
    const state = this.ctx[DECISION]();
    state.shadow ??= { rule, action };
  }

  #record(rule: Rule): void {
    if (this.ctx instanceof DecisionContext) this.ctx[DECISION]().apply(rule.id);
  }

  /** Joins one rule's decision in; true when evaluation stops here. */
  #step(rule: Rule, decision: Decision): boolean {
    const check = this.checks?.get(rule);
    if (check) check.outcome = decision.action;
    if (!rule.enforce) {
      if (decision.action === PolicyAction.DENY || decision.action === PolicyAction.MODIFY) this.#shadow(rule, decision.action);
      return false;
    }
    if (check) check.applied = true;
    this.#record(rule);
    if (decision.action === PolicyAction.ALLOW && decision !== IMPLICIT_ALLOW && !this.#allowed) {
      // A namespaced allow grants only in its own namespace: leaving the namespace out of the
      // context must never widen what deny-by-default lets through.
      if (rule.namespace === undefined || rule.namespace === this.#namespace) {
        this.#allowed = true;
        this.#allowRule = rule;
      }
    }
    if (this.set.mode === 'first-match') {
      if (endsFirstMatch(decision)) {
        this.#outcome = decision;
        this.#decider = rule;
        return true;
      }
      if (decision.action === PolicyAction.LOG && this.#outcome === ALLOW) this.#outcome = decision;
      return false;
    }
    const joined = joinOutcome(this.#outcome, decision);
    if (joined.decides) this.#decider = rule;
    this.#outcome = joined.outcome;
    return joined.stop;
  }

  #finish(failed = false): Decision {
    let outcome = this.#outcome;
    let decider = this.#decider;
    if (!failed && this.set.defaultDeny && BEFORE.has(this.trigger) && !this.#allowed && outcome.action !== PolicyAction.DENY) {
      outcome = DENY;
      decider = defaultDenyRule(this.trigger);
    }
    if (outcome.action === PolicyAction.ALLOW || outcome.action === PolicyAction.LOG) {
      // An allowed outcome is decided by the first rule that allowed it explicitly, else by a LOG.
      decider = this.#allowRule ?? (outcome.action === PolicyAction.LOG ? decider : undefined);
    }
    if (decider !== undefined && this.ctx instanceof DecisionContext) {
      const state = this.ctx[DECISION]();
      if (outcome.action !== PolicyAction.ALLOW || state.decidedBy === undefined) state.decidedBy = decider;
    }
    return outcome === IMPLICIT_ALLOW ? ALLOW : outcome;
  }
}

/** ALLOW from a handler that returned nothing: allows, but does not count for deny-by-default. */
const IMPLICIT_ALLOW: Decision = Object.freeze({ action: PolicyAction.ALLOW, value: undefined });
