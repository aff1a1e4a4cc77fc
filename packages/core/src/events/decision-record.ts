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
export interface DecisionState {
  /** Made on first read: an operation nobody records pays nothing for it. */
  readonly id: string;
  /** The rule that decided (denied, modified, or allowed under deny-by-default). */
  decidedBy: RuleRef | undefined;
  /** Ids of the rules that applied, in evaluation order; collected only when something will read them. */
  applied: string[] | undefined;
  /** The first shadow rule that would have denied or modified the operation. */
  shadow: ShadowHit | undefined;
}

/**
 * A {@link PolicyContext} that also carries the operation's decision. Hooks see an ordinary
 * PolicyContext: the record sits behind a private field and an unexported symbol.
 */
export class DecisionContext extends PolicyContext {
  #id: string | undefined = undefined;
  #state: DecisionState | undefined = undefined;

  constructor(operation: Operation, key: Buffer, keyText: string, value: Buffer | null, custom: ContextMap, timestamp: number, collect: boolean) {
    super(operation, key, keyText, value, custom, timestamp);
    if (collect) this.#init().applied = [];
  }

  #init(): DecisionState {
    if (this.#state !== undefined) return this.#state;
    const self = this;
    return (this.#state = {
      get id() {
        return (self.#id ??= newDecisionId());
      },
      decidedBy: undefined,
      applied: undefined,
      shadow: undefined,
    });
  }

  /** The decision record, created on first use. */
  [DECISION](): DecisionState {
    return this.#state ?? this.#init();
  }
}

/** The decision id of `ctx`, made now if nothing asked for it before. */
export function decisionIdOf(ctx: PolicyContext): string | undefined {
  return ctx instanceof DecisionContext ? ctx[DECISION]().id : undefined;
}
