import { createHash } from 'node:crypto';

/** `"name"` with inner quotes doubled: a safe SQL identifier for any schema name. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A signed 64-bit advisory lock key (as text, for a bigint parameter) derived from `parts`. */
export function lockKey(...parts: string[]): string {
  const digest = createHash('sha256').update(JSON.stringify(['sochdb-policy-audit', ...parts])).digest();
  return digest.readBigInt64BE(0).toString();
}

/** The last column the setup adds: a table without it needs the setup SQL run again (it migrates in place). */
export const LATEST_COLUMN = { table: 'entries', column: 'batch_id' } as const;

/** How the entries table is laid out: one table, or partitioned by month of `ts` (docs/audit-postgres.md). */
export type Partitioning = 'none' | 'monthly';

export interface SetupOptions {
  /**
   * Only when the entries table is created: `'monthly'` makes it a table partitioned by range
   * of `ts`, one partition per calendar month (UTC) plus a default one; see
   * {@link ensureMonthlyPartitions}. An existing table keeps its layout. @default 'none'
   */
  partitioning?: Partitioning;
}

/** The tables, indexes and append-only triggers in schema `schema` (docs/audit-postgres.md). */
export function setupSql(schema: string, options: SetupOptions = {}): string {
  const s = ident(schema);
  const partitioning = options.partitioning ?? 'none';
  if (partitioning !== 'none' && partitioning !== 'monthly') throw new RangeError(`partitioning must be 'none' or 'monthly', got ${JSON.stringify(partitioning)}`);
  const monthly = partitioning === 'monthly';
  return `
CREATE SCHEMA IF NOT EXISTS ${s};

-- One row per chain (one writer instance). Immutable once written.
CREATE TABLE IF NOT EXISTS ${s}.chains (
  chain_id   text PRIMARY KEY,
  alg        text NOT NULL CHECK (alg IN ('sha256', 'hmac-sha256')),
  created_at double precision NOT NULL
);

-- The entries: the audit file's entry record, one row each. seq is assigned by the writer,
-- 1, 2, 3, ... per chain; prev/hash chain the rows exactly as the file's lines are chained.
-- body holds the canonical record body only when a text field cannot be stored as PostgreSQL
-- text (a NUL or a lone surrogate); the columns then hold a readable copy.
CREATE TABLE IF NOT EXISTS ${s}.entries (
  chain_id   text NOT NULL,
  seq        bigint NOT NULL CHECK (seq >= 1),
  ts         double precision NOT NULL,
  operation  text NOT NULL,
  key        text NOT NULL,
  agent_id   text,
  session_id text,
  result     text NOT NULL,
  prev       text NOT NULL,
  hash       text NOT NULL,
  body       text${monthly ? '' : `,
  PRIMARY KEY (chain_id, seq)`}
)${monthly ? ' PARTITION BY RANGE (ts)' : ''};${monthly ? `
-- Partitioned by month of ts: a primary key would have to include ts, so each partition has
-- its own UNIQUE (chain_id, seq) instead (made with the partition); the default partition
-- takes what no month's partition covers (an append never fails for lack of one).
CREATE TABLE IF NOT EXISTS ${s}.entries_default PARTITION OF ${s}.entries DEFAULT;
CREATE UNIQUE INDEX IF NOT EXISTS entries_default_chain_seq ON ${s}.entries_default (chain_id, seq);` : ''}
-- The engine's decision fields (the audit file's format 2 members), added in place to tables
-- created before them; NULL in the rows written before (and in entries without them).
-- rule_decided says whether the entry has a ruleId: NULL no, false null (no rule decided),
-- true the rule_id column.
ALTER TABLE ${s}.entries
  ADD COLUMN IF NOT EXISTS decision_id    text,
  ADD COLUMN IF NOT EXISTS rule_id        text,
  ADD COLUMN IF NOT EXISTS rule_decided   boolean,
  ADD COLUMN IF NOT EXISTS applied_rules  text[],
  ADD COLUMN IF NOT EXISTS shadow_rule_id text,
  ADD COLUMN IF NOT EXISTS shadow_action  text CHECK (shadow_action IN ('deny', 'modify', 'error')),
  ADD COLUMN IF NOT EXISTS batch_id       text;
-- The format version of a chain's records: 2 for chains created since the decision fields
-- (their implicit header is a version 2 header), NULL (1) for chains created before.
ALTER TABLE ${s}.chains ADD COLUMN IF NOT EXISTS version smallint CHECK (version IN (1, 2));
CREATE INDEX IF NOT EXISTS entries_ts ON ${s}.entries (ts);
CREATE INDEX IF NOT EXISTS entries_agent_ts ON ${s}.entries (agent_id, ts);

-- Checkpoints: one chain of rows across the fleet, each naming the head (seq, hash) of every chain.
CREATE TABLE IF NOT EXISTS ${s}.checkpoints (
  id         bigint PRIMARY KEY CHECK (id >= 1),
  created_at double precision NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('periodic', 'retention')),
  body       text NOT NULL,
  hash       text NOT NULL
);

-- Rows are never changed: UPDATE and TRUNCATE are refused for everyone, DELETE too except by
-- the retention routine (run by the tables' owner, which sets sochdb_audit.retention).
CREATE OR REPLACE FUNCTION ${s}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('sochdb_audit.retention', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit rows are append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$fn$;
DO $do$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['chains', 'entries', 'checkpoints'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'append_only' AND tgrelid = format('%I.%I', ${literal(schema)}, t)::regclass) THEN
      EXECUTE format('CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON %I.%I FOR EACH ROW EXECUTE FUNCTION %I.refuse_change()', ${literal(schema)}, t, ${literal(schema)});
      EXECUTE format('CREATE TRIGGER no_truncate BEFORE TRUNCATE ON %I.%I FOR EACH STATEMENT EXECUTE FUNCTION %I.refuse_change()', ${literal(schema)}, t, ${literal(schema)});
    END IF;
  END LOOP;${monthly ? `
  -- TRUNCATE of a partition itself does not fire the parent's statement trigger.
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'no_truncate' AND tgrelid = format('%I.%I', ${literal(schema)}, 'entries_default')::regclass) THEN
    EXECUTE format('CREATE TRIGGER no_truncate BEFORE TRUNCATE ON %I.entries_default FOR EACH STATEMENT EXECUTE FUNCTION %I.refuse_change()', ${literal(schema)}, ${literal(schema)});
  END IF;` : ''}
END
$do$;
`;
}

/** A SQL string literal. */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Grants for a writer role: INSERT and SELECT only (docs/audit-postgres.md, "Roles"). */
export function writerGrantsSql(schema: string, role: string): string {
  const s = ident(schema);
  return `GRANT USAGE ON SCHEMA ${s} TO ${ident(role)};
GRANT SELECT, INSERT ON ${s}.chains, ${s}.entries, ${s}.checkpoints TO ${ident(role)};`;
}
