import type { AuditEntry, AuditResult, Operation } from '@sochdb-policy/core';
import { entryBody, type EntryRecord } from '@sochdb-policy/audit-file/format';

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

/** A row of the entries table as node-postgres returns it. */
export interface EntryRow {
  chain_id: string;
  seq: string | number;
  ts: number;
  operation: string;
  key: string;
  agent_id: string | null;
  session_id: string | null;
  result: string;
  prev: string;
  hash: string;
  body: string | null;
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

export function needsBody(e: AuditEntry): boolean {
  return !textSafe(e.key) || (e.agentId !== null && !textSafe(e.agentId)) || (e.sessionId !== null && !textSafe(e.sessionId));
}

/** The entry a row stands for: from its stored body when it has one, else from its columns. */
export function rowEntry(row: EntryRow): AuditEntry {
  if (row.body !== null) {
    const b = JSON.parse(row.body) as { timestamp: number; operation: Operation; key: string; agent_id: string | null; session_id: string | null; result: AuditResult };
    return { timestamp: b.timestamp, operation: b.operation, key: b.key, agentId: b.agent_id, sessionId: b.session_id, result: b.result };
  }
  return {
    timestamp: row.ts,
    operation: row.operation as Operation,
    key: row.key,
    agentId: row.agent_id,
    sessionId: row.session_id,
    result: row.result as AuditResult,
  };
}

/** The audit file's entry record for a row (fields from the body when stored). */
export function rowRecord(row: EntryRow): EntryRecord {
  const e = rowEntry(row);
  return {
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
}

/**
 * The canonical body a row's hash must cover, or a reason the row is inconsistent: a stored
 * body that is not canonical or disagrees with the row's columns (seq, prev, readable copies).
 */
export function rowBody(row: EntryRow): { body: string } | { problem: string } {
  const seq = Number(row.seq);
  if (row.body === null) {
    const e = rowEntry(row);
    return { body: entryBody(seq, e, row.prev) };
  }
  let e: AuditEntry;
  try {
    e = rowEntry(row);
  } catch {
    return { problem: 'its stored body is not JSON' };
  }
  const body = entryBody(seq, e, row.prev);
  if (body !== row.body) return { problem: 'its stored body is not the canonical body of its seq and prev' };
  const same =
    e.timestamp === row.ts &&
    e.operation === row.operation &&
    readable(e.key) === row.key &&
    (e.agentId === null ? row.agent_id === null : readable(e.agentId) === row.agent_id) &&
    (e.sessionId === null ? row.session_id === null : readable(e.sessionId) === row.session_id) &&
    e.result === row.result;
  return same ? { body } : { problem: 'its columns differ from its stored body' };
}
