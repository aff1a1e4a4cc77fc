import { AUDIT_RESULTS, OPERATIONS, type AuditEntry } from '@sochdb-policy/core';
import { SHADOW_ACTIONS } from './record.js';

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

/**
 * Checks an entry before it takes a seq: a record that cannot be written canonically
 * (NaN timestamp, unknown result) must be refused, not stored as something else.
 */
export function validateEntry(entry: unknown): AuditEntry {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new TypeError(`entry must be an audit entry object, got ${describe(entry)}`);
  }
  const e = entry as Record<string, unknown>;
  if (typeof e.timestamp !== 'number' || !Number.isFinite(e.timestamp)) {
    throw new TypeError(`entry.timestamp must be a finite number, got ${describe(e.timestamp)}`);
  }
  if (!OPERATIONS.includes(e.operation as never)) {
    throw new RangeError(`entry.operation must be one of ${OPERATIONS.join(', ')}, got ${describe(e.operation)}`);
  }
  if (typeof e.key !== 'string') throw new TypeError(`entry.key must be a string, got ${describe(e.key)}`);
  for (const name of ['agentId', 'sessionId'] as const) {
    if (e[name] !== null && typeof e[name] !== 'string') throw new TypeError(`entry.${name} must be a string or null, got ${describe(e[name])}`);
  }
  if (!AUDIT_RESULTS.includes(e.result as never)) {
    throw new RangeError(`entry.result must be one of ${AUDIT_RESULTS.join(', ')}, got ${describe(e.result)}`);
  }
  return entry as AuditEntry;
}

/**
 * Checks the decision fields a version 2 entry records (each optional): an entry whose
 * fields cannot be written as the format says is refused, naming the field.
 */
export function validateDecisionFields(e: AuditEntry): void {
  const x = e as unknown as Record<string, unknown>;
  for (const name of ['decisionId', 'shadowRuleId', 'batchId'] as const) {
    if (x[name] !== undefined && typeof x[name] !== 'string') throw new TypeError(`entry.${name} must be a string, got ${describe(x[name])}`);
  }
  if (x.ruleId !== undefined && x.ruleId !== null && typeof x.ruleId !== 'string') throw new TypeError(`entry.ruleId must be a string or null, got ${describe(x.ruleId)}`);
  if (x.appliedRules !== undefined && (!Array.isArray(x.appliedRules) || !x.appliedRules.every((id) => typeof id === 'string'))) {
    throw new TypeError(`entry.appliedRules must be an array of strings, got ${describe(x.appliedRules)}`);
  }
  if (x.shadowAction !== undefined && !SHADOW_ACTIONS.includes(x.shadowAction as never)) {
    throw new RangeError(`entry.shadowAction must be one of ${SHADOW_ACTIONS.join(', ')}, got ${describe(x.shadowAction)}`);
  }
}
