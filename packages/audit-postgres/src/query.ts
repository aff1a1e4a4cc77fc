import { AUDIT_RESULTS, OPERATIONS, type AuditEntry, type AuditQuery } from '@sochdb-policy/core';
import type pg from 'pg';
import { readable, rowEntry, textSafe, type EntryRow } from './rows.js';
import { ident } from './sql.js';

/** The contract's filters, plus `chainId` to read one writer's chain. */
export interface PostgresAuditQuery extends AuditQuery {
  chainId?: string;
}

/** Most entries one query may ask for. */
export const MAX_QUERY_LIMIT = 1_000_000;

/** Checks the filters (not the limit) of a query. */
export function checkFilters(q: PostgresAuditQuery): void {
  if (q === null || typeof q !== 'object') throw new TypeError('query must be an object');
  if (q.operation !== undefined && !OPERATIONS.includes(q.operation)) throw new RangeError(`query.operation must be one of ${OPERATIONS.join(', ')}`);
  if (q.result !== undefined && !AUDIT_RESULTS.includes(q.result)) throw new RangeError(`query.result must be one of ${AUDIT_RESULTS.join(', ')}`);
  for (const name of ['since', 'until'] as const) {
    const v = q[name];
    if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v))) throw new TypeError(`query.${name} must be a number`);
  }
  for (const name of ['agentId', 'chainId', 'ruleId'] as const) {
    if (q[name] !== undefined && typeof q[name] !== 'string') throw new TypeError(`query.${name} must be a string`);
  }
}

function checkQuery(q: PostgresAuditQuery): number {
  checkFilters(q);
  const limit = q.limit ?? 100;
  if (!Number.isSafeInteger(limit) || limit < 0 || limit > MAX_QUERY_LIMIT) {
    throw new RangeError(`query.limit must be an integer from 0 to ${MAX_QUERY_LIMIT}, got ${String(limit)}`);
  }
  return limit;
}

/**
 * The WHERE conditions ($1, $2, ... in order) of a query's filters. An agent or rule id
 * PostgreSQL text cannot hold is stored readable (U+FFFD) with the exact body beside it:
 * `exact` then says which of the rows read match.
 */
export function whereOf(q: PostgresAuditQuery): { where: string[]; params: unknown[]; exact: ((e: AuditEntry) => boolean) | undefined } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replace('?', `$${params.length}`));
  };
  // A stored readable copy holds U+FFFD where the exact value has a NUL or lone surrogate: a
  // value with U+FFFD may match such a copy without being the value, so it is compared exactly too.
  const inexact = (v: string | undefined): v is string => v !== undefined && (!textSafe(v) || v.includes('\uFFFD'));
  const exactAgent = inexact(q.agentId) ? q.agentId : undefined;
  if (q.agentId !== undefined) add('agent_id = ?', readable(q.agentId));
  // rule_id is set only when rule_decided is true (docs/audit-postgres.md): the entries decided by this rule.
  const exactRule = inexact(q.ruleId) ? q.ruleId : undefined;
  if (q.ruleId !== undefined) add('rule_id = ?', readable(q.ruleId));
  if (q.chainId !== undefined) add('chain_id = ?', q.chainId);
  if (q.operation !== undefined) add('operation = ?', q.operation);
  if (q.result !== undefined) add('result = ?', q.result);
  if (q.since !== undefined) add('ts >= ?', q.since);
  if (q.until !== undefined) add('ts <= ?', q.until);
  const exact =
    exactAgent === undefined && exactRule === undefined
      ? undefined
      : (e: AuditEntry) => (exactAgent === undefined || e.agentId === exactAgent) && (exactRule === undefined || e.ruleId === exactRule);
  return { where, params, exact };
}

/**
 * Matching entries of every chain in the schema (or of `chainId`), the newest `limit`, oldest
 * first; ordered by timestamp, then chain id and seq. Filters run in SQL on indexed columns.
 */
export async function queryEntries(db: pg.Pool | pg.ClientBase, schema: string, q: PostgresAuditQuery): Promise<AuditEntry[]> {
  const limit = checkQuery(q);
  if (limit === 0) return [];
  const { where, params, exact } = whereOf(q);
  const filter = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
  const cap = exact === undefined ? `LIMIT ${limit}` : '';
  const { rows } = await db.query<EntryRow>(
    `SELECT * FROM ${ident(schema)}.entries ${filter}
     ORDER BY ts DESC, chain_id DESC, seq DESC ${cap}`,
    params,
  );
  let entries = rows.map(rowEntry);
  if (exact !== undefined) entries = entries.filter(exact).slice(0, limit);
  return entries.reverse();
}
