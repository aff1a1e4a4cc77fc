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
  // One field per trigger: index() is on every operation's path, twice.
  #beforeWrite!: HookIndex<Rule>;
  #afterWrite!: HookIndex<Rule>;
  #beforeRead!: HookIndex<Rule>;
  #afterRead!: HookIndex<Rule>;
  #beforeDelete!: HookIndex<Rule>;
  #afterDelete!: HookIndex<Rule>;
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
      this.#set(trigger, index);
    }
    this.byTrigger = byTrigger;
    this.plain = plain;
    this.size = rules.length;
  }

  index(trigger: PolicyTrigger): HookIndex<Rule> {
    switch (trigger) {
      case PolicyTrigger.BEFORE_WRITE:
        return this.#beforeWrite;
      case PolicyTrigger.AFTER_WRITE:
        return this.#afterWrite;
      case PolicyTrigger.BEFORE_READ:
        return this.#beforeRead;
      case PolicyTrigger.AFTER_READ:
        return this.#afterRead;
      case PolicyTrigger.BEFORE_DELETE:
        return this.#beforeDelete;
      default:
        return this.#afterDelete;
    }
  }

  #set(trigger: PolicyTrigger, index: HookIndex<Rule>): void {
    switch (trigger) {
      case PolicyTrigger.BEFORE_WRITE:
        this.#beforeWrite = index;
        break;
      case PolicyTrigger.AFTER_WRITE:
        this.#afterWrite = index;
        break;
      case PolicyTrigger.BEFORE_READ:
        this.#beforeRead = index;
        break;
      case PolicyTrigger.AFTER_READ:
        this.#afterRead = index;
        break;
      case PolicyTrigger.BEFORE_DELETE:
        this.#beforeDelete = index;
        break;
      default:
        this.#afterDelete = index;
    }
  }
}
