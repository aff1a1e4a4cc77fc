import { OPERATIONS } from '../actions.js';
import { describe } from '../bytes.js';
import { AUDIT_RESULTS, type AuditEntry, type AuditQuery } from '../contracts.js';

export const DEFAULT_AUDIT_LIMIT = 100;

/** Validates an audit query and fills in the default limit; shared by every sink. */
export function normalizeAuditQuery(query: unknown = {}): Required<Pick<AuditQuery, 'limit'>> & AuditQuery {
  if (query === null || typeof query !== 'object' || Array.isArray(query)) {
    throw new TypeError(`audit query must be an object, got ${describe(query)}`);
  }
  const q = query as AuditQuery;
  const limit = q.limit ?? DEFAULT_AUDIT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${describe(limit)}`);
  for (const name of ['agentId', 'sessionId', 'ruleId'] as const) {
    const v = (q as Record<string, unknown>)[name];
    if (v !== undefined && typeof v !== 'string') throw new TypeError(`${name} must be a string, got ${describe(v)}`);
  }
  if (q.operation !== undefined && !OPERATIONS.includes(q.operation)) {
    throw new RangeError(`operation must be one of ${OPERATIONS.join(', ')}, got ${describe(q.operation)}`);
  }
  if (q.result !== undefined && !AUDIT_RESULTS.includes(q.result)) {
    throw new RangeError(`result must be one of ${AUDIT_RESULTS.join(', ')}, got ${describe(q.result)}`);
  }
  for (const name of ['since', 'until'] as const) {
    const v = q[name];
    if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v))) throw new TypeError(`${name} must be a number, got ${describe(v)}`);
  }
  return { ...q, limit };
}

/** Whether an entry passes a query's filters (not its limit). */
export function matchesAuditQuery(entry: AuditEntry, q: AuditQuery): boolean {
  return (
    (q.agentId === undefined || entry.agentId === q.agentId) &&
    (q.operation === undefined || entry.operation === q.operation) &&
    (q.result === undefined || entry.result === q.result) &&
    (q.ruleId === undefined || entry.ruleId === q.ruleId) &&
    (q.since === undefined || entry.timestamp >= q.since) &&
    (q.until === undefined || entry.timestamp <= q.until)
  );
}
