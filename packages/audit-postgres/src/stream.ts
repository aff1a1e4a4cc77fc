import { IteratorError, type AuditEntry, type AuditSink } from '@sochdb-policy/core';
import type pg from 'pg';
import { checkFilters, whereOf, type PostgresAuditQuery } from './query.js';
import { rowEntry, type EntryRow } from './rows.js';
import { ident } from './sql.js';

/** The contract's stream query and iterator (core's index does not name them yet). */
export type AuditStreamQuery = NonNullable<Parameters<NonNullable<AuditSink['entries']>>[0]>;
export type AuditEntryIterator = ReturnType<NonNullable<AuditSink['entries']>>;

/** `entries` of the PostgreSQL sink: the contract's stream query plus `chainId`. */
export interface PostgresAuditStreamQuery extends AuditStreamQuery {
  chainId?: string;
}

/** Rows per page: the first page small (a quick first row), then larger, never above this. */
export const MAX_PAGE_ROWS = 2000;
const FIRST_PAGE_ROWS = 100;

/** A position in the fleet's order (ts, chain id, seq). */
interface Position {
  ts: number;
  chainId: string;
  seq: number;
}

/** The cursor of a position: opaque base64url of `[ts, chainId, seq]`. */
export function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify([p.ts, p.chainId, p.seq])).toString('base64url');
}

export function decodeCursor(cursor: unknown): Position {
  const bad = () => new TypeError(`after must be a cursor from this sink, got ${JSON.stringify(cursor)}`);
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > 1000 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(v) || v.length !== 3) throw bad();
  const [ts, chainId, seq] = v as [unknown, unknown, unknown];
  if (typeof ts !== 'number' || !Number.isFinite(ts) || typeof chainId !== 'string' || !Number.isSafeInteger(seq) || (seq as number) < 1) throw bad();
  return { ts, chainId, seq: seq as number };
}

/** Where pages are read: a pool (a connection per page) or one client (pages in turn). */
export type StreamSource = pg.Pool | pg.ClientBase;

/**
 * Every matching entry of every chain (or of `chainId`), lazily, by keyset pagination on
 * `(ts, chain_id, seq)` — never OFFSET — in pages of at most {@link MAX_PAGE_ROWS} rows: memory
 * is one page whatever the number of matches. Between pages nothing is held (no transaction, no
 * connection), so a slow reader pins nothing on the server; each page sees what had committed
 * when it ran, so entries appended during the read may be yielded (when they sort after the
 * position reached), never twice. `onClose` runs once when the iterator is closed.
 */
export function streamEntries(db: StreamSource, schema: string, query: PostgresAuditStreamQuery = {}, onClose?: () => void): AuditEntryIterator {
  return streamRows(db, schema, query, (row) => rowEntry(row), onClose);
}

/** An entry as the CLI and exporters read it: where it is in its chain (`chainId`, `seq`, `hash`) and its `cursor`. */
export interface PostgresAuditRecord extends AuditEntry {
  chainId: string;
  seq: number;
  hash: string;
  /** Pass as `after` to resume after this entry. */
  cursor: string;
}

/** An iterator like {@link AuditEntryIterator}, of `T`. */
export interface RowIterator<T> extends AsyncIterable<T> {
  next(): Promise<T | undefined>;
  nextv(size: number): Promise<T[]>;
  readonly cursor: string | undefined;
  close(): Promise<void>;
}

/** {@link streamEntries}, each entry with its chain id, seq, hash and cursor. */
export function streamRecords(db: StreamSource, schema: string, query: PostgresAuditStreamQuery = {}, onClose?: () => void): RowIterator<PostgresAuditRecord> {
  return streamRows(db, schema, query, (row, p) => ({ ...rowEntry(row), chainId: p.chainId, seq: p.seq, hash: row.hash, cursor: encodeCursor(p) }), onClose);
}

function streamRows<T extends AuditEntry>(db: StreamSource, schema: string, query: PostgresAuditStreamQuery, make: (row: EntryRow, p: Position) => T, onClose?: () => void): RowIterator<T> {
  if (query === null || typeof query !== 'object') throw new TypeError('query must be an object');
  const { order = 'asc', after, signal, limit: rawLimit, ...filters } = query;
  if (order !== 'asc' && order !== 'desc') throw new RangeError(`order must be 'asc' or 'desc', got ${JSON.stringify(order)}`);
  const limit = rawLimit ?? Infinity;
  if (limit !== Infinity && (!Number.isSafeInteger(limit) || limit < 0)) throw new RangeError(`limit must be a non-negative integer or Infinity, got ${String(limit)}`);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  checkFilters(filters as PostgresAuditQuery);
  let position = after === undefined ? undefined : decodeCursor(after);
  const asc = order === 'asc';
  const { where, params, exact } = whereOf(filters as PostgresAuditQuery);
  const dir = asc ? 'ASC' : 'DESC';
  const base = `SELECT * FROM ${ident(schema)}.entries`;

  let cursor: string | undefined = after;
  let buffer: T[] = [];
  let positions: Position[] = [];
  let at = 0;
  let ended = limit === 0;
  let yielded = 0;
  let pageRows = FIRST_PAGE_ROWS;
  let busy = false;
  let closed = false;

  const page = async (): Promise<void> => {
    const conds = [...where];
    const p = [...params];
    if (position !== undefined) {
      // The explicit ts bound lets the index on ts (or on agent_id, ts) start at the position.
      p.push(position.ts, position.chainId, position.seq);
      const n = p.length;
      conds.push(asc ? `ts >= $${n - 2}` : `ts <= $${n - 2}`, `(ts, chain_id, seq) ${asc ? '>' : '<'} ($${n - 2}::float8, $${n - 1}::text, $${n}::bigint)`);
    }
    const rows = exact === undefined ? Math.min(pageRows, limit - yielded) : pageRows;
    pageRows = Math.min(pageRows * 4, MAX_PAGE_ROWS);
    const text = `${base}${conds.length === 0 ? '' : ` WHERE ${conds.join(' AND ')}`} ORDER BY ts ${dir}, chain_id ${dir}, seq ${dir} LIMIT ${rows}`;
    const result = await db.query<EntryRow>(text, p);
    if (result.rows.length < rows) ended = true;
    const last = result.rows.at(-1);
    if (last !== undefined) position = { ts: last.ts, chainId: last.chain_id, seq: Number(last.seq) };
    buffer = [];
    positions = [];
    at = 0;
    for (const row of result.rows) {
      const p = { ts: row.ts, chainId: row.chain_id, seq: Number(row.seq) };
      const e = make(row, p);
      if (exact !== undefined && !exact(e)) continue;
      buffer.push(e);
      positions.push(p);
    }
  };

  const enter = (call: string) => {
    if (closed) throw new IteratorError('iterator_closed', `${call}() on a closed iterator`);
    if (busy) throw new IteratorError('iterator_busy', `${call}() while another call on this iterator is pending; await it first`);
    if (signal?.aborted) {
      void it.close();
      throw signal.reason;
    }
  };

  /** Rejects with the signal's reason as soon as it aborts (the page query finishes on its own). */
  const abortable = <T>(work: Promise<T>): Promise<T> => {
    if (signal === undefined) return work;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        void it.close();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) onAbort();
          else resolve(v);
        },
        (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  };

  const take = async (size: number): Promise<T[]> => {
    const out: T[] = [];
    while (out.length < size && yielded < limit) {
      if (at === buffer.length) {
        if (ended) break;
        await page();
        continue;
      }
      out.push(buffer[at]!);
      cursor = encodeCursor(positions[at]!);
      at++;
      yielded++;
    }
    if (yielded >= limit) ended = true;
    return out;
  };

  const call = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    enter(name);
    busy = true;
    try {
      return await abortable(fn());
    } finally {
      busy = false;
    }
  };

  const it: RowIterator<T> = {
    get cursor() {
      return cursor;
    },
    next() {
      return call('next', async () => (await take(1))[0]);
    },
    async nextv(size: number) {
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) throw new RangeError(`size must be a positive integer, got ${String(size)}`);
      return call('nextv', () => take(size));
    },
    async close() {
      if (closed) return;
      closed = true;
      buffer = [];
      positions = [];
      onClose?.();
    },
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          const e = await it.next();
          if (e === undefined) return;
          yield e;
        }
      } finally {
        await it.close();
      }
    },
  };
  return it;
}
