import pg from 'pg';
import { withClient, type Connection } from './connection.js';
import { DEFAULT_SCHEMA } from './postgres-audit-sink.js';
import { ident, literal, lockKey } from './sql.js';

/** A month's partition: `entries_y2025m06` holds `ts` in [from, to) (ms, UTC month). */
export interface MonthPartition {
  name: string;
  from: number;
  to: number;
}

/** The partition of the UTC month `year`-`month` (month 0-11). */
export function monthPartition(year: number, month: number): MonthPartition {
  const from = Date.UTC(year, month, 1);
  const to = Date.UTC(year, month + 1, 1);
  const d = new Date(from);
  return { name: `entries_y${d.getUTCFullYear()}m${String(d.getUTCMonth() + 1).padStart(2, '0')}`, from, to };
}

export interface EnsurePartitionsResult {
  /** Partitions created now. */
  created: string[];
  /** Months left to the default partition because it already holds rows of theirs (move them first). */
  skipped: string[];
}

/** Whether `entries` in `schema` is a partitioned table (undefined: no such table). */
export async function isPartitioned(client: pg.ClientBase, schema: string): Promise<boolean | undefined> {
  const { rows } = await client.query<{ relkind: string }>(`SELECT relkind FROM pg_class WHERE oid = to_regclass($1)`, [`${ident(schema)}.entries`]);
  return rows.length === 0 ? undefined : rows[0]!.relkind === 'p';
}

/**
 * Inside the caller's transaction: creates the month partitions from the month of `from`
 * through `months` - 1 months after it that are missing, each with UNIQUE (chain_id, seq) and
 * the TRUNCATE trigger. A month whose rows already went to the default partition is skipped.
 */
export async function createMonthPartitions(client: pg.ClientBase, schema: string, from: number, months: number): Promise<EnsurePartitionsResult> {
  const s = ident(schema);
  const result: EnsurePartitionsResult = { created: [], skipped: [] };
  const start = new Date(from);
  for (let i = 0; i < months; i++) {
    const p = monthPartition(start.getUTCFullYear(), start.getUTCMonth() + i);
    const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${s}.${ident(p.name)}`]);
    if (exists.rows[0]!.t !== null) continue;
    const stray = await client.query(`SELECT 1 FROM ${s}.entries_default WHERE ts >= $1 AND ts < $2 LIMIT 1`, [p.from, p.to]);
    if (stray.rows.length > 0) {
      result.skipped.push(p.name);
      continue;
    }
    const t = `${s}.${ident(p.name)}`;
    await client.query(`CREATE TABLE ${t} PARTITION OF ${s}.entries FOR VALUES FROM (${p.from}) TO (${p.to})`);
    await client.query(`CREATE UNIQUE INDEX ${ident(`${p.name}_chain_seq`)} ON ${t} (chain_id, seq)`);
    await client.query(`CREATE TRIGGER no_truncate BEFORE TRUNCATE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${s}.refuse_change()`);
    result.created.push(p.name);
  }
  return result;
}

/**
 * Creates the monthly partitions of a partitioned audit schema ahead of time: the month of
 * `from` (default now) and the `months` - 1 after it (default 3 in all). Run it as the tables'
 * owner, e.g. monthly from a scheduler; a sink opened with `setup: true` and `partitioning:
 * 'monthly'` does it at open and at each checkpoint. Entries of a month without a partition
 * go to the default partition meanwhile (nothing fails).
 */
export async function ensureMonthlyPartitions(
  connection: Connection,
  options: { schema?: string; from?: number; months?: number } = {},
): Promise<EnsurePartitionsResult> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const from = options.from ?? Date.now();
  const months = options.months ?? 3;
  if (typeof from !== 'number' || !Number.isFinite(from)) throw new TypeError('options.from must be a finite number (ms since the epoch)');
  if (!Number.isSafeInteger(months) || months < 1 || months > 1200) throw new RangeError(`options.months must be an integer from 1 to 1200, got ${String(months)}`);
  return withClient(connection, async (client) => {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey(schema, 'setup')]);
      const partitioned = await isPartitioned(client, schema);
      if (partitioned !== true) {
        throw new RangeError(`${ident(schema)}.entries is ${partitioned === undefined ? 'missing' : 'not partitioned'}: partitions need tables set up with partitioning: 'monthly' (${literal(schema)})`);
      }
      const result = await createMonthPartitions(client, schema, from, months);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  });
}
