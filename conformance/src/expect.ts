import { PolicyViolation, type AuditEntry } from '@sochdb-policy/core';
import { sameBytes, showBytes, showSpec, toBytes } from './bytes.js';
import type { AuditEntryExpectation, CallExpectation, Outcome } from './case-types.js';
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
export function checkAuditEntries(expected: readonly AuditEntryExpectation[], actual: Actual): string | undefined {
  if (!actual.ok) return `expected audit entries, got ${showActual(actual)}`;
  const entries = actual.result as AuditEntry[];
  for (let i = 1; i < entries.length; i++) {
    if (!(entries[i - 1]!.timestamp <= entries[i]!.timestamp)) return `audit entries out of order at ${i + 1}: timestamps ${entries[i - 1]!.timestamp}, ${entries[i]!.timestamp}`;
  }
  const got = entries.map((e) => ({
    operation: e.operation,
    key: e.key,
    agent_id: e.agentId,
    session_id: e.sessionId,
    result: e.result,
  }));
  const want = expected.map((e) => ({ operation: e.operation, key: e.key, agent_id: e.agent_id, session_id: e.session_id, result: e.result }));
  if (JSON.stringify(got) === JSON.stringify(want)) return undefined;
  return `expected audit entries ${JSON.stringify(want)}, got ${JSON.stringify(got)}`;
}
