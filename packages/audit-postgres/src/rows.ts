import type { AuditEntry, AuditResult, Operation } from '@sochdb-policy/core';
import { entryBody, toAuditEntry, type EntryFields, type EntryRecord } from '@sochdb-policy/audit-file/format';

/** Whether PostgreSQL text can hold `s` exactly: no NUL, no lone surrogate. */
export function textSafe(s: string): boolean {
  return !LONE_SURROGATE.test(s) && !s.includes('\0');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** What a text column holds for a string it cannot hold exactly: lone surrogates and NULs as U+FFFD. */
export function readable(s: string): string {
  return s.replace(LONE_SURROGATES, '\uFFFD').replaceAll('\0', '\uFFFD');
}

/** Format version of the records a chain holds: 2 for chains created by this version (decision fields), 1 before. */
export type ChainVersion = 1 | 2;
/** What the shadow action column may hold. */
export const SHADOW_ACTIONS = ['deny', 'modify', 'error'] as const;

/**
 * A row of the entries table as node-postgres returns it. The decision columns are absent
 * (undefined) in a table created before they were added and not migrated: read as null.
 */
export interface EntryRow {
  chain_id: string;
  seq: string | number;
  ts: number;
  operation: string;
  key: string;
  agent_id: string | null;
  session_id: string | null;
  result: string;
  decision_id?: string | null;
  /** The deciding rule when `rule_decided` is true. */
  rule_id?: string | null;
  /** null: the entry has no `ruleId`; false: `ruleId` is null (no rule decided); true: `ruleId` is `rule_id`. */
  rule_decided?: boolean | null;
  applied_rules?: string[] | null;
  shadow_rule_id?: string | null;
  shadow_action?: string | null;
  batch_id?: string | null;
  prev: string;
  hash: string;
  body: string | null;
}

/** The decision fields of an entry (format 2 members), as the engine names them. */
type DecisionFields = Pick<AuditEntry, 'decisionId' | 'ruleId' | 'appliedRules' | 'shadowRuleId' | 'shadowAction' | 'batchId'>;

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

/**
 * The decision fields of `e` that are set, checked: an entry whose fields cannot be written
 * as the format says is refused, naming the field (as the audit file refuses it).
 */
export function decisionFields(e: AuditEntry): DecisionFields {
  const x = e as unknown as Record<string, unknown>;
  const out: DecisionFields = {};
  for (const name of ['decisionId', 'shadowRuleId', 'batchId'] as const) {
    if (x[name] === undefined) continue;
    if (typeof x[name] !== 'string') throw new TypeError(`entry.${name} must be a string, got ${describe(x[name])}`);
    out[name] = x[name] as string;
  }
  if (x.ruleId !== undefined) {
    if (x.ruleId !== null && typeof x.ruleId !== 'string') throw new TypeError(`entry.ruleId must be a string or null, got ${describe(x.ruleId)}`);
    out.ruleId = x.ruleId as string | null;
  }
  if (x.appliedRules !== undefined) {
    if (!Array.isArray(x.appliedRules) || !x.appliedRules.every((id) => typeof id === 'string')) {
      throw new TypeError(`entry.appliedRules must be an array of strings, got ${describe(x.appliedRules)}`);
    }
    out.appliedRules = [...(x.appliedRules as string[])];
  }
  if (x.shadowAction !== undefined) {
    if (!SHADOW_ACTIONS.includes(x.shadowAction as never)) throw new RangeError(`entry.shadowAction must be one of ${SHADOW_ACTIONS.join(', ')}, got ${describe(x.shadowAction)}`);
    out.shadowAction = x.shadowAction as AuditEntry['shadowAction'];
  }
  return out;
}

/** Columns to insert for one entry: body only when a field is not text-safe. */
export interface NewRow {
  seq: number;
  entry: AuditEntry;
  prev: string;
  hash: string;
  body: string;
  /** True when the canonical body must be stored because a column cannot hold a field exactly. */
  storeBody: boolean;
}

const unsafe = (s: string | null | undefined) => typeof s === 'string' && !textSafe(s);

/** Whether a column cannot hold one of the entry's strings exactly (then the canonical body is stored too). */
export function needsBody(e: AuditEntry): boolean {
  return (
    unsafe(e.key) ||
    unsafe(e.agentId) ||
    unsafe(e.sessionId) ||
    unsafe(e.decisionId) ||
    unsafe(e.ruleId) ||
    unsafe(e.shadowRuleId) ||
    unsafe(e.batchId) ||
    (e.appliedRules !== undefined && e.appliedRules.some(unsafe))
  );
}

/** The entry a row stands for: from its stored body when it has one, else from its columns. */
export function rowEntry(row: EntryRow): AuditEntry {
  // A stored body is the audit file's entry members, as the file holds them.
  if (row.body !== null) return toAuditEntry(JSON.parse(row.body) as EntryFields);
  const e: AuditEntry = {
    timestamp: row.ts,
    operation: row.operation as Operation,
    key: row.key,
    agentId: row.agent_id,
    sessionId: row.session_id,
    result: row.result as AuditResult,
  };
  // Member order of the format: decision_id, rule_id, applied_rules, shadow_rule_id, shadow_action, batch_id.
  if (row.decision_id != null) e.decisionId = row.decision_id;
  if (row.rule_decided != null) e.ruleId = row.rule_decided ? (row.rule_id ?? null) : null;
  if (row.applied_rules != null) e.appliedRules = row.applied_rules;
  if (row.shadow_rule_id != null) e.shadowRuleId = row.shadow_rule_id;
  if (row.shadow_action != null) e.shadowAction = row.shadow_action as AuditEntry['shadowAction'];
  if (row.batch_id != null) e.batchId = row.batch_id;
  return e;
}

/** The audit file's entry record for a row (fields from the body when stored). */
export function rowRecord(row: EntryRow): EntryRecord {
  const e = rowEntry(row);
  const r: EntryRecord & { batch_id?: string } = {
    type: 'entry',
    seq: Number(row.seq),
    timestamp: e.timestamp,
    operation: e.operation,
    key: e.key,
    agent_id: e.agentId,
    session_id: e.sessionId,
    result: e.result,
    prev: row.prev,
    hash: row.hash,
  };
  if (e.decisionId !== undefined) r.decision_id = e.decisionId;
  if (e.ruleId !== undefined) r.rule_id = e.ruleId;
  if (e.appliedRules !== undefined) r.applied_rules = e.appliedRules;
  if (e.shadowRuleId !== undefined) r.shadow_rule_id = e.shadowRuleId;
  if (e.shadowAction !== undefined) r.shadow_action = e.shadowAction;
  if (e.batchId !== undefined) r.batch_id = e.batchId;
  return r;
}

/** Whether an entry has any decision field (a format 2 member). */
export function hasDecision(e: AuditEntry): boolean {
  return (
    e.decisionId !== undefined || e.ruleId !== undefined || e.appliedRules !== undefined || e.shadowRuleId !== undefined || e.shadowAction !== undefined || e.batchId !== undefined
  );
}

/**
 * The canonical body a row's hash must cover (the audit file's format 2 body: its format 1
 * body when the row has no decision fields), or a reason the row is inconsistent: a stored
 * body that is not canonical or disagrees with the row's columns (seq, prev, readable copies).
 */
export function rowBody(row: EntryRow): { body: string } | { problem: string } {
  const seq = Number(row.seq);
  if (row.body === null) {
    const e = rowEntry(row);
    if (row.rule_decided === true && row.rule_id == null) return { problem: 'its rule_decided column is true without a rule_id' };
    if (row.rule_decided !== true && row.rule_id != null) return { problem: 'it has a rule_id without rule_decided' };
    return { body: entryBody(seq, e, row.prev, 2) };
  }
  let e: AuditEntry;
  try {
    e = rowEntry(row);
  } catch {
    return { problem: 'its stored body is not JSON' };
  }
  const body = entryBody(seq, e, row.prev, 2);
  if (body !== row.body) return { problem: 'its stored body is not the canonical body of its seq and prev' };
  const text = (v: string | null | undefined) => (v === undefined || v === null ? null : readable(v));
  const col = (v: string | null | undefined) => v ?? null;
  const rules = e.appliedRules === undefined ? null : JSON.stringify(e.appliedRules.map(readable));
  const same =
    e.timestamp === row.ts &&
    e.operation === row.operation &&
    readable(e.key) === row.key &&
    text(e.agentId) === row.agent_id &&
    text(e.sessionId) === row.session_id &&
    e.result === row.result &&
    text(e.decisionId) === col(row.decision_id) &&
    (e.ruleId === undefined ? row.rule_decided == null && row.rule_id == null : e.ruleId === null ? row.rule_decided === false && row.rule_id == null : row.rule_decided === true && readable(e.ruleId) === row.rule_id) &&
    rules === (row.applied_rules == null ? null : JSON.stringify(row.applied_rules)) &&
    text(e.shadowRuleId) === col(row.shadow_rule_id) &&
    (e.shadowAction ?? null) === col(row.shadow_action) &&
    text(e.batchId) === col(row.batch_id);
  return same ? { body } : { problem: 'its columns differ from its stored body' };
}
