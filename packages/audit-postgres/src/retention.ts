import { makeHasher } from '@sochdb-policy/audit-file/format';
import pg from 'pg';
import { byChain, writeCheckpoint, type ChainHead, type Checkpoint, type CheckpointBody } from './checkpoint.js';
import { monthPartition } from './partitions.js';
import { DEFAULT_SCHEMA } from './postgres-audit-sink.js';
import { ident } from './sql.js';

export interface RetentionResult {
  /** The retention checkpoint verification now starts from. */
  checkpoint: Checkpoint;
  /** Entries deleted. */
  deleted: number;
  /** Month partitions dropped whole (a table partitioned with `partitioning: 'monthly'`): every row of theirs was to go. */
  droppedPartitions: string[];
}

/**
 * Deletes, in each chain, the oldest entries up to the first one at or after `before` (ms),
 * in one transaction that first writes a retention checkpoint: the head of every chain and
 * where each chain now starts (its last deleted seq and hash), so verification starts from it.
 * Older checkpoints are deleted too. Needs DELETE on the tables: run it as their owner, not
 * as a writer role.
 */
export async function dropBefore(
  connection: string | pg.ClientConfig,
  options: { before: number; schema?: string; hmacKey?: string | Uint8Array },
): Promise<RetentionResult> {
  if (typeof options?.before !== 'number' || !Number.isFinite(options.before)) throw new TypeError('options.before must be a finite number (ms since the epoch)');
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const s = ident(schema);
  const hasher = makeHasher(options.hmacKey === undefined ? undefined : Buffer.from(options.hmacKey as string));
  const client = new pg.Client(typeof connection === 'string' ? { connectionString: connection } : connection);
  client.on('error', () => {});
  await client.connect();
  let deleted = 0;
  const droppedPartitions: string[] = [];
  try {
    const checkpoint = await writeCheckpoint(client, schema, hasher, 'retention', async (heads) => {
      await client.query(`SET LOCAL sochdb_audit.retention = 'on'`);
      const old = await client.query<{ body: string }>(`SELECT body FROM ${s}.checkpoints WHERE kind = 'retention' ORDER BY id DESC LIMIT 1`);
      const starts = new Map<string, ChainHead>();
      for (const h of old.rows.length === 0 ? [] : ((JSON.parse(old.rows[0]!.body) as CheckpointBody).starts ?? [])) starts.set(h[0], h);
      // Where each chain will start: its last entry before the first one at or after `before`.
      const cuts: [string, number][] = [];
      for (const [chainId, headSeq] of heads) {
        const cut = await client.query<{ seq: string | null }>(`SELECT min(seq) AS seq FROM ${s}.entries WHERE chain_id = $1 AND ts >= $2`, [chainId, options.before]);
        const last = cut.rows[0]!.seq === null ? headSeq : Number(cut.rows[0]!.seq) - 1;
        if (last <= (starts.get(chainId)?.[1] ?? 0)) continue;
        const row = await client.query<{ hash: string }>(`SELECT hash FROM ${s}.entries WHERE chain_id = $1 AND seq = $2`, [chainId, last]);
        if (row.rows.length === 0) throw new Error(`chain ${JSON.stringify(chainId)} has no seq ${last}: verify it before retention`);
        starts.set(chainId, [chainId, last, row.rows[0]!.hash]);
        cuts.push([chainId, last]);
      }
      // A month partition that ends by `before` and holds no row that stays goes whole (DROP,
      // not row by row); a row that stays (a clock that went back) keeps its partition.
      const parts = await client.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1) ORDER BY c.relname`,
        [`${s}.entries`],
      );
      const chainIds = [...starts.values()].map((h) => h[0]);
      const startSeqs = [...starts.values()].map((h) => h[1]);
      for (const { name } of parts.rows) {
        const m = /^entries_y(\d{4})m(\d{2})$/.exec(name);
        if (m === null || monthPartition(Number(m[1]), Number(m[2]) - 1).to > options.before) continue;
        const t = `${s}.${ident(name)}`;
        const stays = await client.query(
          `SELECT 1 FROM ${t} p LEFT JOIN unnest($1::text[], $2::bigint[]) AS c(chain_id, cut) ON c.chain_id = p.chain_id WHERE c.cut IS NULL OR p.seq > c.cut LIMIT 1`,
          [chainIds, startSeqs],
        );
        if (stays.rows.length > 0) continue;
        const n = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${t}`);
        await client.query(`DROP TABLE ${t}`);
        deleted += Number(n.rows[0]!.n);
        droppedPartitions.push(name);
      }
      for (const [chainId, last] of cuts) {
        const del = await client.query(`DELETE FROM ${s}.entries WHERE chain_id = $1 AND seq <= $2`, [chainId, last]);
        deleted += del.rowCount ?? 0;
      }
      await client.query(`DELETE FROM ${s}.checkpoints`);
      return [...starts.values()].sort(byChain);
    });
    return { checkpoint, deleted, droppedPartitions };
  } finally {
    await client.end().catch(() => {});
  }
}
