import type { Operation, PolicyAction } from '../actions.js';
import { PolicyContext, type ContextMap } from '../context.js';
import type { Rule, RuleRef } from '../rules/rule.js';
import { newDecisionId } from './decision-id.js';

/** Engine-only methods of {@link DecisionContext}; not exported from the package. */
export const DECISION = Symbol('decision');

/** What a shadow rule (`enforce: false`) would have done had it been enforced. */
export interface ShadowHit {
  rule: Rule;
  action: PolicyAction | 'error';
}

/** The engine's record of one operation's decision, kept private on the context. */
export class DecisionState {
  #id: string | undefined = undefined;
  /** The rule that decided (denied, modified, or allowed under deny-by-default). */
  decidedBy: RuleRef | undefined = undefined;
  /** Ids of the rules that applied, in evaluation order; collected only when something will read them. */
  applied: string[] | undefined;
  /** The first shadow rule that would have denied or modified the operation. */
  shadow: ShadowHit | undefined = undefined;

  constructor(
    readonly timestamp: number,
    collect: boolean,
  ) {
    this.applied = collect ? [] : undefined;
  }

  /** Made on first read: an operation nobody records pays nothing for it. */
  get id(): string {
    return (this.#id ??= newDecisionId(this.timestamp));
  }
}

/**
 * A {@link PolicyContext} that also carries the operation's decision. Hooks see an ordinary
 * PolicyContext: the record sits behind a private field and an unexported symbol.
 */
export class DecisionContext extends PolicyContext {
  #state: DecisionState | undefined;

  constructor(operation: Operation, key: Buffer, keyText: string, value: Buffer | null, custom: ContextMap, timestamp: number, collect: boolean) {
    super(operation, key, keyText, value, custom, timestamp);
    this.#state = collect ? new DecisionState(timestamp, true) : undefined;
  }

  /** The decision record, created on first use. */
  [DECISION](): DecisionState {
    return (this.#state ??= new DecisionState(this.timestamp, false));
  }
}

/** The decision id of `ctx`, made now if nothing asked for it before. */
export function decisionIdOf(ctx: PolicyContext): string | undefined {
  return ctx instanceof DecisionContext ? ctx[DECISION]().id : undefined;
}
