import { GENESIS_HASH, headerBody, type Hasher } from '@sochdb-policy/audit-file/format';
import type pg from 'pg';
import { ident, lockKey } from './sql.js';

/** [chain id, seq, hash]: where a chain stood (seq 0: no entry yet, hash of its header). */
export type ChainHead = [chainId: string, seq: number, hash: string];

export type CheckpointKind = 'periodic' | 'retention';

/** A checkpoint row's body (what its hash covers), canonical JSON in this member order. */
export interface CheckpointBody {
  type: 'checkpoint';
  id: number;
  time: number;
  kind: CheckpointKind;
  alg: Hasher['alg'];
  /** Every chain's head when the checkpoint was written, sorted by chain id. */
  heads: ChainHead[];
  /** Retention only: where each chain now starts (its last deleted entry), sorted by chain id. */
  starts?: ChainHead[];
  prev: string;
}

/** What {@link PostgresAuditSink.checkpoint} returns: keep `id` and `hash` elsewhere as an anchor. */
export interface Checkpoint {
  id: number;
  hash: string;
  time: number;
  kind: CheckpointKind;
  /** Chains named. */
  chains: number;
}

export function checkpointBody(b: Omit<CheckpointBody, 'type'>): string {
  const ordered: CheckpointBody = { type: 'checkpoint', id: b.id, time: b.time, kind: b.kind, alg: b.alg, heads: b.heads, ...(b.starts !== undefined && { starts: b.starts }), prev: b.prev };
  return JSON.stringify(ordered);
}

/** Code-unit order, the same in every locale and every language (not the database collation's). */
export const byChain = (a: ChainHead, b: ChainHead) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** The hash a chain's implicit header record (seq 0, genesis prev) has with `alg`, in the chain's format version. */
export function headerHash(hasher: Hasher, version: 1 | 2 = 1): string {
  return hasher.text(headerBody(hasher.alg, 0, GENESIS_HASH, version));
}

/** A chain's format version from its row (`version` NULL or absent: a chain created before version 2). */
export function chainVersion(v: unknown): 1 | 2 {
  return v === 2 || v === '2' ? 2 : 1;
}

/** Inside a transaction: serializes checkpoint writers (and retention) of one schema. */
export async function lockCheckpoints(client: pg.ClientBase, schema: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey(schema, 'checkpoints')]);
}

/** Every chain's head, read inside the caller's transaction. */
export async function readHeads(client: pg.ClientBase, schema: string, hasher: Hasher): Promise<ChainHead[]> {
  const s = ident(schema);
  // to_jsonb: the version column may not exist yet (tables from before it, not migrated).
  const { rows } = await client.query<{ chain_id: string; version: string | null; seq: string | null; hash: string | null }>(
    `SELECT c.chain_id, to_jsonb(c) ->> 'version' AS version, e.seq, e.hash FROM ${s}.chains c
     LEFT JOIN LATERAL (SELECT seq, hash FROM ${s}.entries e WHERE e.chain_id = c.chain_id ORDER BY seq DESC LIMIT 1) e ON true`,
  );
  return rows.map((r): ChainHead => (r.seq === null ? [r.chain_id, 0, headerHash(hasher, chainVersion(r.version))] : [r.chain_id, Number(r.seq), r.hash!])).sort(byChain);
}

/**
 * Writes the next checkpoint in its own transaction on `client` (which must not be in one).
 * `prepare` runs inside the transaction after the lock, before the heads are read (retention
 * deletes there) and may return the `starts` to record.
 */
export async function writeCheckpoint(
  client: pg.ClientBase,
  schema: string,
  hasher: Hasher,
  kind: CheckpointKind,
  prepare?: (heads: ChainHead[]) => Promise<ChainHead[] | undefined>,
): Promise<Checkpoint> {
  const s = ident(schema);
  await client.query('BEGIN');
  try {
    await lockCheckpoints(client, schema);
    const last = await client.query<{ id: string; hash: string }>(`SELECT id, hash FROM ${s}.checkpoints ORDER BY id DESC LIMIT 1`);
    const id = last.rows.length === 0 ? 1 : Number(last.rows[0]!.id) + 1;
    const prev = last.rows.length === 0 ? GENESIS_HASH : last.rows[0]!.hash;
    const heads = await readHeads(client, schema, hasher);
    const starts = prepare === undefined ? undefined : await prepare(heads);
    const time = Date.now();
    const body = checkpointBody({ id, time, kind, alg: hasher.alg, heads, ...(starts !== undefined && { starts }), prev });
    const hash = hasher.text(body);
    await client.query(`INSERT INTO ${s}.checkpoints (id, created_at, kind, body, hash) VALUES ($1, $2, $3, $4, $5)`, [id, time, kind, body, hash]);
    await client.query('COMMIT');
    return { id, hash, time, kind, chains: heads.length };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
