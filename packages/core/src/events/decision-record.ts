import type { Operation, PolicyAction } from '../actions.js';
import type { AuditEntry, AuditResult } from '../contracts.js';
import { PolicyContext, UNBOXED, type CallerContext } from '../context.js';
import type { Rule, RuleRef } from '../rules/rule.js';
import { formatDecisionId, nextDecisionId, type DecisionIdParts } from './decision-id.js';
import { AppliedRules } from './applied-rules.js';
import type { Observation } from './observation.js';

/** Engine-only methods of {@link DecisionContext}; not exported from the package. */
export const DECISION = Symbol('decision');
/** Engine-only: the applied-rule list of a {@link DecisionContext}, if one is collected. */
export const APPLIED = Symbol('applied');
/** Engine-only: the {@link Observation} of a {@link DecisionContext}. */
export const OBSERVATION = Symbol('observation');
/** Engine-only: whether the operation of a {@link DecisionContext} is failing (no state made for the question). */
export const FAILING = Symbol('failing');

/** What a shadow rule (`enforce: false`) would have done had it been enforced. */
export interface ShadowHit {
  rule: Rule;
  action: PolicyAction | 'error';
}

/** The engine's record of one operation's decision, kept private on the context. */
export class DecisionState implements DecisionIdParts {
  #id: string | undefined = undefined;
  /** The rule that decided (denied, modified, or allowed under deny-by-default). */
  decidedBy: RuleRef | undefined = undefined;
  /** The rules that applied so far, in evaluation order; collected only when something will read them. */
  appliedRules: AppliedRules | undefined;
  /** The first shadow rule that would have denied or modified the operation. */
  shadow: ShadowHit | undefined = undefined;
  /** The id shared by the entries of one batch or scan. */
  batchId: string | undefined = undefined;
  /** The operation is failing (set as the failure starts, before its audit entry is awaited). */
  failing = false;
  // The decision id's parts (./decision-id.ts), drawn on first use; ms -1 until then. `ms` and
  // `timestamp` hold references (UNBOXED), shared with the context and the id generator.
  ms: number = UNBOXED;
  counter = 0;
  hi = 0;
  lo = 0;
  readonly timestamp: number = UNBOXED;

  constructor(timestamp: number, collect: boolean) {
    this.ms = -1;
    this.timestamp = timestamp;
    this.appliedRules = collect ? AppliedRules.NONE : undefined;
  }

  /** Records that rule `id` applied, when applied rules are collected. */
  apply(id: string): void {
    if (this.appliedRules !== undefined) this.appliedRules = this.appliedRules.then(id);
  }

  /** A copy of the applied rule ids, or undefined when they are not collected. */
  get applied(): string[] | undefined {
    return this.appliedRules?.ids.slice();
  }

  /** Draws the decision id's parts if nothing has yet: the id is fixed from then on. */
  drawId(): this {
    if (this.ms < 0) nextDecisionId(this.timestamp, this);
    return this;
  }

  /** Made on first read: an operation nobody records pays nothing for it. */
  get id(): string {
    if (this.#id === undefined) {
      this.drawId();
      this.#id = formatDecisionId(this.ms, this.counter, this.hi, this.lo);
    }
    return this.#id;
  }

  /** The id's text if something has read it already. */
  get idText(): string | undefined {
    return this.#id;
  }
}

/**
 * A {@link PolicyContext} that also carries the operation's decision. Hooks see an ordinary
 * PolicyContext: the record sits behind a private field and an unexported symbol.
 */
export class DecisionContext extends PolicyContext {
  #state: DecisionState | undefined;
  readonly #observation: Observation | undefined;

  /**
   * `collect`: record the applied rules (an audit entry or a decision event will carry them).
   * `observation`: the operation publishes a decision event when it ends (someone subscribes).
   */
  constructor(
    operation: Operation,
    key: Buffer,
    keyText: string,
    value: Buffer | null,
    custom: CallerContext,
    timestamp: number,
    collect: boolean,
    observation?: Observation,
  ) {
    super(operation, key, keyText, value, custom, timestamp);
    this.#state = collect ? new DecisionState(timestamp, true) : undefined;
    this.#observation = observation;
  }

  /** The decision record, created on first use. */
  [DECISION](): DecisionState {
    return (this.#state ??= new DecisionState(this.timestamp, false));
  }

  /** Records that rule `id` applied, when something will read the applied rules (no state made for the question). */
  [APPLIED](id: string): void {
    this.#state?.apply(id);
  }

  /** Whether the operation is failing (marked as its failure starts, before the audit entry is awaited). */
  [FAILING](): boolean {
    return this.#state?.failing === true;
  }

  /** The operation's observation, when someone subscribes to decision events. */
  [OBSERVATION](): Observation | undefined {
    return this.#observation;
  }
}


/**
 * One decision, as both the audit entry and the decision event describe it: the event is this
 * record plus what only a live observer needs (timings, the error, the rate-limit answer). Both
 * are built by {@link decisionRecord}, so they cannot drift apart (docs/diagnostics.md).
 */
export interface DecisionRecord extends AuditEntry {
  /** UUIDv7, time-ordered: the same on the violation, the audit entry and the event. */
  decisionId: string;
  /** The rule or hook that decided, `null` when none did (`$default`: deny-by-default). */
  ruleId: string | null;
}

/**
 * The record of `ctx`'s decision with result `result`: the audit entry's fields, and the
 * shared part of the decision event. A plain {@link PolicyContext} (no decision state) gives
 * the seed's six fields.
 */
export function decisionRecord(ctx: PolicyContext, result: AuditResult): AuditEntry {
  const entry: AuditEntry = {
    timestamp: ctx.timestamp,
    operation: ctx.operation,
    key: ctx.keyText,
    agentId: ctx.agentId ?? null,
    sessionId: ctx.sessionId ?? null,
    result,
  };
  if (ctx instanceof DecisionContext) {
    const decision = ctx[DECISION]();
    entry.decisionId = decision.id;
    entry.ruleId = decision.decidedBy?.id ?? null;
    if (decision.appliedRules !== undefined) entry.appliedRules = decision.appliedRules.ids.slice();
    if (decision.shadow !== undefined) {
      entry.shadowRuleId = decision.shadow.rule.id;
      entry.shadowAction = decision.shadow.action as AuditEntry['shadowAction'];
    }
    if (decision.batchId !== undefined) entry.batchId = decision.batchId;
  }
  return entry;
}

/** The decision id of `ctx`, made now if nothing asked for it before. */
export function decisionIdOf(ctx: PolicyContext): string | undefined {
  return ctx instanceof DecisionContext ? ctx[DECISION]().id : undefined;
}
