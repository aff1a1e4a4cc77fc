import { isDecisionId, PolicyViolation, type AuditEntry, type EvaluationAnswer } from '@sochdb-policy/core';
import { sameBytes, showBytes, showSpec, toBytes } from './bytes.js';
import type { AuditEntryExpectation, BytesSpec, CallExpectation, EvaluateExpectation, Outcome, ScanExpectation } from './case-types.js';
import type { Recorder } from './handlers.js';

export type Actual = { ok: true; result: unknown } | { ok: false; error: unknown };

function showError(error: unknown): string {
  if (error instanceof PolicyViolation) return `PolicyViolation(${error.code}: ${JSON.stringify(error.message)})`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `thrown ${String(error)}`;
}

function showActual(actual: Actual): string {
  if (!actual.ok) return showError(actual.error);
  const r = actual.result;
  return r instanceof Uint8Array ? `value ${showBytes(r)}` : r === null ? 'value null' : 'success';
}

/** Checks a step's result against its expectation; returns what differs, or undefined. */
export function checkOutcome(expect: Outcome, actual: Actual, recorder: Recorder): string | undefined {
  const main = checkMain(expect, actual);
  if (main !== undefined) return main;
  if (expect.calls !== undefined) {
    const diff = checkCalls(expect.calls, recorder.calls);
    if (diff !== undefined) return diff;
  }
  if (expect.logs !== undefined && JSON.stringify(expect.logs) !== JSON.stringify(recorder.logs)) {
    return `expected logs ${JSON.stringify(expect.logs)}, got ${JSON.stringify(recorder.logs)}`;
  }
  if (expect.reason !== undefined) {
    const error = actual.ok ? undefined : actual.error;
    const got = error instanceof PolicyViolation && error.ruleId !== undefined ? [error.ruleId] : [];
    if (JSON.stringify(got) !== JSON.stringify(expect.reason)) return `expected reason ${JSON.stringify(expect.reason)}, got ${JSON.stringify(got)}`;
    if (error instanceof PolicyViolation && !isDecisionId(error.decisionId)) return `expected a decision id on the violation, got ${JSON.stringify(error.decisionId)}`;
  }
  return undefined;
}

/** A dry run's answer against its expectation. */
export function checkEvaluation(expect: EvaluateExpectation, actual: Actual): string | undefined {
  if (!actual.ok) return `expected an evaluation, got ${showActual(actual)}`;
  const a = actual.result as EvaluationAnswer;
  const got: Record<string, unknown> = {
    allowed: a.allowed,
    action: a.action,
    reason: a.reason.map((r) => r.id),
    applied_rules: a.appliedRules,
    shadow: a.shadow?.ruleId ?? null,
    rate_limit: a.rateLimit.status,
  };
  for (const [name, want] of Object.entries(expect)) {
    if (JSON.stringify(got[name]) !== JSON.stringify(want)) return `expected ${name} ${JSON.stringify(want)}, got ${JSON.stringify(got[name])}`;
  }
  if (!isDecisionId(a.decisionId)) return `expected a decision id, got ${JSON.stringify(a.decisionId)}`;
  return undefined;
}

function checkMain(expect: Outcome, actual: Actual): string | undefined {
  if (expect.ok) return actual.ok ? undefined : `expected success, got ${showActual(actual)}`;
  if (expect.value !== undefined) {
    if (actual.ok && (actual.result === null || actual.result instanceof Uint8Array) && sameBytes(actual.result, expect.value)) return undefined;
    return `expected value ${showSpec(expect.value)}, got ${showActual(actual)}`;
  }
  if (expect.violation) {
    const want = expect.violation;
    const wanted = `PolicyViolation(${want.code}${want.message === undefined ? '' : `: ${JSON.stringify(want.message)}`})`;
    if (actual.ok || !(actual.error instanceof PolicyViolation)) return `expected ${wanted}, got ${showActual(actual)}`;
    if (actual.error.code !== want.code || (want.message !== undefined && actual.error.message !== want.message)) {
      return `expected ${wanted}, got ${showActual(actual)}`;
    }
    if (want.index !== undefined && actual.error.index !== want.index) return `expected the violation to name operation ${want.index}, got ${String(actual.error.index)}`;
    return undefined;
  }
  if (expect.error) {
    if (actual.ok) return `expected ${expect.error} error, got ${showActual(actual)}`;
    const e = actual.error;
    // Storage errors escape as themselves, never wrapped in a PolicyViolation (E2).
    const matches =
      expect.error === 'storage'
        ? e instanceof Error && !(e instanceof PolicyViolation) && !(e instanceof TypeError) && !(e instanceof RangeError)
        : e instanceof (expect.error === 'TypeError' ? TypeError : RangeError);
    return matches ? undefined : `expected ${expect.error} error, got ${showActual(actual)}`;
  }
  return 'expectation has no outcome';
}

function checkCalls(expected: readonly CallExpectation[], calls: Recorder['calls']): string | undefined {
  const got = JSON.stringify(calls.map((c) => c.name));
  const want = JSON.stringify(expected.map((c) => (typeof c === 'string' ? c : c.name)));
  if (got !== want) return `expected calls ${want}, got ${got}`;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    if (typeof e === 'string') continue;
    const call = calls[i]!;
    if (e.key !== undefined && !call.key.equals(toBytes(e.key))) {
      return `call ${i + 1} (${e.name}): expected key ${showSpec(e.key)}, got ${showBytes(call.key)}`;
    }
    if (e.value !== undefined && !sameBytes(call.value, e.value)) {
      return `call ${i + 1} (${e.name}): expected value ${showSpec(e.value)}, got ${showBytes(call.value)}`;
    }
  }
  return undefined;
}

/** Audit entries compare field by field and in order; timestamps never (A4). */
export function checkAuditEntries(
  expected: readonly AuditEntryExpectation[],
  actual: Actual,
  decisionFields = false,
  violationId?: string,
  batchFields = false,
): string | undefined {
  if (!actual.ok) return `expected audit entries, got ${showActual(actual)}`;
  const entries = actual.result as AuditEntry[];
  for (let i = 1; i < entries.length; i++) {
    if (!(entries[i - 1]!.timestamp <= entries[i]!.timestamp)) return `audit entries out of order at ${i + 1}: timestamps ${entries[i - 1]!.timestamp}, ${entries[i]!.timestamp}`;
  }
  // Batch ids as the expectation's labels: the first entry with an id gives it its label.
  const labels = new Map<string, string>();
  const batchLabel = (id: string, wanted: string): string => {
    const known = labels.get(id);
    if (known !== undefined) return known;
    // A label already given to another id: this id is a different batch.
    const label = [...labels.values()].includes(wanted) ? `another batch than ${wanted}` : wanted;
    labels.set(id, label);
    return label;
  };
  const got = entries.map((e, i) => {
    const out: Record<string, unknown> = { operation: e.operation, key: e.key, agent_id: e.agentId, session_id: e.sessionId, result: e.result };
    const x = expected[i];
    if (decisionFields && x !== undefined) {
      if (x.rule_id !== undefined) out.rule_id = e.ruleId ?? null;
      if (x.applied_rules !== undefined) out.applied_rules = e.appliedRules;
      if (x.shadow_rule_id !== undefined) out.shadow_rule_id = e.shadowRuleId ?? null;
      if (x.decision_id === 'present') out.decision_id = isDecisionId(e.decisionId) ? 'present' : e.decisionId;
      if (x.decision_id === 'same_as_violation') out.decision_id = e.decisionId !== undefined && e.decisionId === violationId ? 'same_as_violation' : e.decisionId;
    }
    if (batchFields && x?.batch !== undefined) out.batch = e.batchId === undefined ? null : batchLabel(e.batchId, x.batch);
    return out;
  });
  const want = expected.map((e) => {
    const out: Record<string, unknown> = { operation: e.operation, key: e.key, agent_id: e.agent_id, session_id: e.session_id, result: e.result };
    if (decisionFields) {
      if (e.rule_id !== undefined) out.rule_id = e.rule_id;
      if (e.applied_rules !== undefined) out.applied_rules = e.applied_rules;
      if (e.shadow_rule_id !== undefined) out.shadow_rule_id = e.shadow_rule_id;
      if (e.decision_id !== undefined) out.decision_id = e.decision_id;
    }
    if (batchFields && e.batch !== undefined) out.batch = e.batch;
    return out;
  });
  if (JSON.stringify(got) === JSON.stringify(want)) return undefined;
  return `expected audit entries ${JSON.stringify(want)}, got ${JSON.stringify(got)}`;
}

/** A scan's entries and ending against its expectation. */
export function checkScan(expect: ScanExpectation, entries: readonly { key: Buffer; value: Buffer | undefined }[], end: Actual, recorder: Recorder): string | undefined {
  const got = entries.map((e) => `${showBytes(e.key)}=${e.value === undefined ? 'null' : showBytes(e.value)}`);
  const want = expect.entries.map((e) => `${showSpec(e.key)}=${e.value === null ? 'null' : showSpec(e.value)}`);
  if (JSON.stringify(got) !== JSON.stringify(want)) return `expected entries ${JSON.stringify(want)}, got ${JSON.stringify(got)}`;
  const ending: Outcome = expect.violation !== undefined ? { violation: expect.violation } : expect.error !== undefined ? { error: expect.error } : { ok: true };
  const diff = checkOutcome({ ...ending, calls: expect.calls }, end, recorder);
  return diff === undefined ? undefined : `after the entries: ${diff}`;
}

/** The keys `filter_allowed` answered against the expected ones. */
export function checkKeys(expected: readonly BytesSpec[], actual: Actual): string | undefined {
  if (!actual.ok) return `expected keys, got ${showActual(actual)}`;
  const got = (actual.result as Buffer[]).map((k) => showBytes(k));
  const want = expected.map((k) => showSpec(k));
  return JSON.stringify(got) === JSON.stringify(want) ? undefined : `expected keys ${JSON.stringify(want)}, got ${JSON.stringify(got)}`;
}
