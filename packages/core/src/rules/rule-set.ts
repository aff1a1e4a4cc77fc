import { PolicyTrigger } from '../actions.js';
import { HookIndex } from '../hooks/hook-index.js';
import type { Composition } from './compose.js';
import type { Rule } from './rule.js';

/**
 * Every rule of an engine (code hooks and loaded documents) as one immutable snapshot. An
 * operation takes the current snapshot when it starts and uses it to the end, so swapping in
 * a reloaded document never changes the rules of an operation in flight.
 */
export class RuleSet {
  readonly mode: Composition;
  readonly defaultDeny: boolean;
  /** Every trigger's rules in evaluation order (priority, then registration). */
  readonly byTrigger: ReadonlyMap<PolicyTrigger, readonly Rule[]>;
  /** Each trigger's index, at {@link slot}: index() is on every operation's path, twice. */
  readonly #indexes: HookIndex<Rule>[] = [];
  /**
   * Only code hooks, first-match, no deny-by-default: the engine runs the seed's loop as it
   * always has, with nothing of rules on the path.
   */
  readonly plain: boolean;
  readonly size: number;

  constructor(rules: readonly Rule[], mode: Composition, defaultDeny: boolean) {
    this.mode = mode;
    this.defaultDeny = defaultDeny;
    const byTrigger = new Map<PolicyTrigger, Rule[]>();
    for (const trigger of Object.values(PolicyTrigger)) byTrigger.set(trigger, []);
    let plain = mode === 'first-match' && !defaultDeny;
    for (const rule of rules) {
      byTrigger.get(rule.trigger)!.push(rule);
      if (!rule.plain) plain = false;
    }
    for (const [trigger, list] of byTrigger) {
      // Stable: equal priorities keep registration order, as Rust's sort_by does.
      list.sort((a, b) => b.priority - a.priority || a.order - b.order);
      const index = new HookIndex<Rule>();
      // The index answers in `seq` order: seq is the evaluation position.
      list.forEach((rule, i) => index.add(rule.pattern, i, rule));
      this.#indexes[slot(trigger)] = index;
    }
    this.byTrigger = byTrigger;
    this.plain = plain;
    this.size = rules.length;
  }

  index(trigger: PolicyTrigger): HookIndex<Rule> {
    return this.#indexes[slot(trigger)]!;
  }
}

/** Where a trigger's index sits: a switch over the six names, cheaper than a map lookup. */
function slot(trigger: PolicyTrigger): number {
  switch (trigger) {
    case PolicyTrigger.BEFORE_WRITE:
      return 0;
    case PolicyTrigger.AFTER_WRITE:
      return 1;
    case PolicyTrigger.BEFORE_READ:
      return 2;
    case PolicyTrigger.AFTER_READ:
      return 3;
    case PolicyTrigger.BEFORE_DELETE:
      return 4;
    default:
      return 5;
  }
}
