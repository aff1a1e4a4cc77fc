import { PolicyAction, type PolicyTrigger } from '../actions.js';
import type { Decision, PolicyHandler } from '../hooks/handler.js';
import type { CompiledCondition } from './condition.js';
import type { RuleEffect } from './document.js';

/**
 * A rule as the engine runs it: from a document, or a hook registered in code (effect
 * `handler`, no condition, priority 0 unless given). Immutable once made.
 */
export interface Rule {
  readonly id: string;
  readonly trigger: PolicyTrigger;
  readonly pattern: string;
  /** Higher runs first; equal priorities keep registration order. */
  readonly priority: number;
  readonly namespace: string | undefined;
  readonly effect: RuleEffect;
  /** false: shadow mode, evaluated and recorded but never enforced. */
  readonly enforce: boolean;
  readonly condition: CompiledCondition | undefined;
  /** For effect `handler`. */
  readonly handler: PolicyHandler | undefined;
  /** For every other effect: the decision it always makes. */
  readonly decision: Decision | undefined;
  readonly description: string | undefined;
  /** `code`, or the name the document was loaded under. */
  readonly source: string;
  /** A code hook: a handler alone, run exactly as before rules existed. */
  readonly plain: boolean;
  /** Registration order across the engine (rule H1). */
  readonly order: number;
}

/** The deciding "rule" of an operation that deny-by-default refused: no rule allowed it. */
export const DEFAULT_DENY_ID = '$default';

export const STATIC_DECISIONS: Readonly<Record<'allow' | 'deny' | 'log', Decision>> = Object.freeze({
  allow: Object.freeze({ action: PolicyAction.ALLOW, value: undefined }),
  deny: Object.freeze({ action: PolicyAction.DENY, value: undefined }),
  log: Object.freeze({ action: PolicyAction.LOG, value: undefined }),
});

/** The parts of a rule a violation, an audit entry or an explanation names. */
export interface RuleRef {
  id: string;
  trigger: PolicyTrigger;
  pattern: string;
}

export function ruleRef(rule: Pick<Rule, 'id' | 'trigger' | 'pattern'>): RuleRef {
  return { id: rule.id, trigger: rule.trigger, pattern: rule.pattern };
}
