import { OPERATIONS, type Operation } from '../actions.js';
import { AUDIT_RESULTS, type AuditEntry, type AuditResult } from '../contracts.js';
import type { PolicyContext } from '../context.js';
import type { AppliedRules } from '../events/applied-rules.js';
import { formatDecisionId } from '../events/decision-id.js';
import type { DecisionState } from '../events/decision-record.js';

// Indexes into OPERATIONS and AUDIT_RESULTS.
const OPERATION_CODE: Readonly<Record<Operation, number>> = Object.freeze({ read: 0, write: 1, delete: 2 });
const RESULT_CODE: Readonly<Record<AuditResult, number>> = Object.freeze({ allowed: 0, denied: 1, rate_limited: 2, redacted: 3, error: 4 });
/** `ruleId` not recorded at all (an entry from a sink caller without decision fields). */
const NO_RULE_FIELD = undefined;

/**
 * Audit entries held column by column: numbers in typed arrays, texts in arrays of strings,
 * and no object per entry. An entry the engine records this way is a handful of slots in
 * arrays that live as long as the ring, instead of an object graph per operation that the
 * garbage collector must trace and move for as long as the ring keeps it. Entries become
 * objects again only when read.
 */
export class AuditRing {
  #length = 0;
  #timestamp: Float64Array;
  #codes: Uint8Array; // operation << 4 | result
  // Decision id parts (ms -1: none drawn); the text once something made it.
  #idMs: Float64Array;
  #idCounter: Uint16Array;
  #idHi: Uint32Array;
  #idLo: Uint32Array;
  #idText: (string | undefined)[] = [];
  #key: string[] = [];
  #agent: (string | null)[] = [];
  #session: (string | null)[] = [];
  #rule: (string | null | undefined)[] = [];
  #applied: (AppliedRules | readonly string[] | undefined)[] = [];
  /** The batch or scan id: the same string on every entry of one call. */
  #batch: (string | undefined)[] = [];
  /** Shadow mode's fields, rarely set: one object per entry that has them. */
  #shadow: (Pick<AuditEntry, 'shadowRuleId' | 'shadowAction'> | undefined)[] = [];

  constructor(readonly capacity: number) {
    const n = Math.min(capacity, 1024);
    this.#timestamp = new Float64Array(n);
    this.#codes = new Uint8Array(n);
    this.#idMs = new Float64Array(n);
    this.#idCounter = new Uint16Array(n);
    this.#idHi = new Uint32Array(n);
    this.#idLo = new Uint32Array(n);
  }

  /** Makes room for slot `slot` (slots are filled in order up to the capacity). */
  #reserve(slot: number): void {
    if (slot < this.#timestamp.length) return;
    const n = Math.min(this.capacity, Math.max(slot + 1, this.#timestamp.length * 2));
    const grow = <T extends Float64Array | Uint8Array | Uint16Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.#timestamp = grow(this.#timestamp, (k) => new Float64Array(k));
    this.#codes = grow(this.#codes, (k) => new Uint8Array(k));
    this.#idMs = grow(this.#idMs, (k) => new Float64Array(k));
    this.#idCounter = grow(this.#idCounter, (k) => new Uint16Array(k));
    this.#idHi = grow(this.#idHi, (k) => new Uint32Array(k));
    this.#idLo = grow(this.#idLo, (k) => new Uint32Array(k));
  }

  /** Writes an entry given as an object (a caller of `append`) into `slot`. */
  setEntry(slot: number, e: AuditEntry): void {
    this.#reserve(slot);
    this.#timestamp[slot] = e.timestamp;
    this.#codes[slot] = (OPERATION_CODE[e.operation] << 4) | RESULT_CODE[e.result];
    this.#idMs[slot] = -1;
    this.#idText[slot] = e.decisionId;
    this.#key[slot] = e.key;
    this.#agent[slot] = e.agentId;
    this.#session[slot] = e.sessionId;
    this.#rule[slot] = 'ruleId' in e ? e.ruleId : NO_RULE_FIELD;
    this.#applied[slot] = e.appliedRules;
    this.#batch[slot] = e.batchId;
    this.#shadow[slot] = e.shadowRuleId === undefined && e.shadowAction === undefined ? undefined : { shadowRuleId: e.shadowRuleId, shadowAction: e.shadowAction };
  }

  /** Writes the engine's decision on `ctx` with `result` into `slot`: the same entry `decisionRecord` builds. */
  setDecision(slot: number, ctx: PolicyContext, d: DecisionState, result: AuditResult): void {
    this.#reserve(slot);
    d.drawId();
    this.#timestamp[slot] = ctx.timestamp;
    this.#codes[slot] = (OPERATION_CODE[ctx.operation] << 4) | RESULT_CODE[result];
    this.#idMs[slot] = d.ms;
    this.#idCounter[slot] = d.counter;
    this.#idHi[slot] = d.hi;
    this.#idLo[slot] = d.lo;
    this.#idText[slot] = d.idText;
    this.#key[slot] = ctx.keyText;
    this.#agent[slot] = ctx.agentId ?? null;
    this.#session[slot] = ctx.sessionId ?? null;
    this.#rule[slot] = d.decidedBy?.id ?? null;
    this.#applied[slot] = d.appliedRules;
    const shadow = d.shadow;
    this.#batch[slot] = d.batchId;
    this.#shadow[slot] = shadow === undefined ? undefined : { shadowRuleId: shadow.rule.id, shadowAction: shadow.action as AuditEntry['shadowAction'] };
  }

  /** Fields a query filters on, without making the entry. */
  timestamp(slot: number): number {
    return this.#timestamp[slot]!;
  }
  operation(slot: number): Operation {
    return OPERATIONS[this.#codes[slot]! >> 4]!;
  }
  result(slot: number): AuditResult {
    return AUDIT_RESULTS[this.#codes[slot]! & 15]!;
  }
  agentId(slot: number): string | null {
    return this.#agent[slot]!;
  }
  ruleId(slot: number): string | null | undefined {
    return this.#rule[slot];
  }

  /** The entry in `slot` as a new object the caller owns. */
  entry(slot: number): AuditEntry {
    const e: AuditEntry = {
      timestamp: this.#timestamp[slot]!,
      operation: this.operation(slot),
      key: this.#key[slot]!,
      agentId: this.#agent[slot]!,
      sessionId: this.#session[slot]!,
      result: this.result(slot),
    };
    let id = this.#idText[slot];
    if (id === undefined && this.#idMs[slot]! >= 0) {
      id = formatDecisionId(this.#idMs[slot]!, this.#idCounter[slot]!, this.#idHi[slot]!, this.#idLo[slot]!);
      this.#idText[slot] = id;
    }
    if (id !== undefined) e.decisionId = id;
    const rule = this.#rule[slot];
    if (rule !== NO_RULE_FIELD) e.ruleId = rule;
    const applied = this.#applied[slot];
    if (applied !== undefined) e.appliedRules = Array.isArray(applied) ? (applied as string[]) : (applied as AppliedRules).ids.slice();
    const shadow = this.#shadow[slot];
    if (shadow !== undefined) {
      if (shadow.shadowRuleId !== undefined) e.shadowRuleId = shadow.shadowRuleId;
      if (shadow.shadowAction !== undefined) e.shadowAction = shadow.shadowAction;
    }
    const batch = this.#batch[slot];
    if (batch !== undefined) e.batchId = batch;
    return e;
  }

  /** Drops every entry's references (the typed arrays keep their size). */
  clear(): void {
    this.#idText = [];
    this.#key = [];
    this.#agent = [];
    this.#session = [];
    this.#rule = [];
    this.#applied = [];
    this.#batch = [];
    this.#shadow = [];
  }
}
