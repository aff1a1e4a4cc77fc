import { PolicyAction } from '../actions.js';
import type { Decision } from '../hooks/handler.js';

/**
 * How rule outcomes combine on one trigger.
 *
 * - `first-match` (the seed's semantics, rule H2): rules in order; ALLOW and LOG go on; the
 *   first DENY or MODIFY ends the trigger with that decision.
 * - `deny-overrides` (SochDB Rust `CompiledPolicySet`): rules by priority, highest first;
 *   outcomes join with precedence Deny > Modify > Log > Allow; the first Deny ends the
 *   trigger; with several modifications the last one wins.
 */
export type Composition = 'first-match' | 'deny-overrides';

const RANK: Record<PolicyAction, number> = { allow: 0, log: 1, modify: 2, deny: 3 };

/**
 * deny-overrides: the join of the outcome so far and one more rule's, as a truth table.
 * Returns the new outcome; `stop` says nothing after it can change the answer.
 * Each arm has a conformance case named after it (conformance/cases/rules-composition.json).
 */
export function joinOutcome(current: Decision, next: Decision): { outcome: Decision; stop: boolean; decides: boolean } {
  switch (next.action) {
    // deny-wins: Deny is the top of the order; nothing after it is evaluated.
    case PolicyAction.DENY:
      return { outcome: next, stop: true, decides: true };
    // modify-last-wins: a later modification replaces an earlier one (Rust keeps the last).
    case PolicyAction.MODIFY:
      return { outcome: next, stop: false, decides: true };
    // log-over-allow: Log raises Allow, never lowers Modify.
    case PolicyAction.LOG:
      return RANK[current.action] < RANK.log ? { outcome: next, stop: false, decides: true } : { outcome: current, stop: false, decides: false };
    // allow-is-bottom: Allow changes nothing already decided.
    default:
      return { outcome: current, stop: false, decides: false };
  }
}

/** first-match: whether this decision ends the trigger (rule H2). */
export function endsFirstMatch(decision: Decision): boolean {
  return decision.action === PolicyAction.DENY || decision.action === PolicyAction.MODIFY;
}
