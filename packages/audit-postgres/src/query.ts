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
  // Rows hold the audit record of format 1 (no decision fields): filtering on a rule id here
  // would silently match everything, so it is refused.
  if ((q as { ruleId?: unknown }).ruleId !== undefined) throw new RangeError('query.ruleId is not supported by the PostgreSQL audit sink: its rows hold the format 1 record, without rule ids');
  if (q.operation !== undefined && !OPERATIONS.includes(q.operation)) throw new RangeError(`query.operation must be one of ${OPERATIONS.join(', ')}`);
  if (q.result !== undefined && !AUDIT_RESULTS.includes(q.result)) throw new RangeError(`query.result must be one of ${AUDIT_RESULTS.join(', ')}`);
  for (const name of ['since', 'until'] as const) {
    const v = q[name];
    if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v))) throw new TypeError(`query.${name} must be a number`);
  }
  for (const name of ['agentId', 'chainId'] as const) {
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
 * The WHERE conditions ($1, $2, ... in order) of a query's filters. An agent id PostgreSQL
 * text cannot hold is stored readable (U+FFFD) with the exact body beside it: `exactAgent` is
 * then the id to compare after reading.
 */
export function whereOf(q: PostgresAuditQuery): { where: string[]; params: unknown[]; exactAgent: string | undefined } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replace('?', `$${params.length}`));
  };
  const exactAgent = q.agentId !== undefined && !textSafe(q.agentId) ? q.agentId : undefined;
  if (q.agentId !== undefined) add('agent_id = ?', exactAgent === undefined ? q.agentId : readable(q.agentId));
  if (q.chainId !== undefined) add('chain_id = ?', q.chainId);
  if (q.operation !== undefined) add('operation = ?', q.operation);
  if (q.result !== undefined) add('result = ?', q.result);
  if (q.since !== undefined) add('ts >= ?', q.since);
  if (q.until !== undefined) add('ts <= ?', q.until);
  return { where, params, exactAgent };
}

/**
 * Matching entries of every chain in the schema (or of `chainId`), the newest `limit`, oldest
 * first; ordered by timestamp, then chain id and seq. Filters run in SQL on indexed columns.
 */
export async function queryEntries(db: pg.Pool | pg.ClientBase, schema: string, q: PostgresAuditQuery): Promise<AuditEntry[]> {
  const limit = checkQuery(q);
  if (limit === 0) return [];
  const { where, params, exactAgent } = whereOf(q);
  const filter = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
  const cap = exactAgent === undefined ? `LIMIT ${limit}` : '';
  const { rows } = await db.query<EntryRow>(
    `SELECT chain_id, seq, ts, operation, key, agent_id, session_id, result, prev, hash, body FROM ${ident(schema)}.entries ${filter}
     ORDER BY ts DESC, chain_id DESC, seq DESC ${cap}`,
    params,
  );
  let entries = rows.map(rowEntry);
  if (exactAgent !== undefined) entries = entries.filter((e) => e.agentId === exactAgent).slice(0, limit);
  return entries.reverse();
}
