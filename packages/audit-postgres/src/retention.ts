import { makeHasher } from '@sochdb-policy/audit-file/format';
import pg from 'pg';
import { byChain, writeCheckpoint, type ChainHead, type Checkpoint, type CheckpointBody } from './checkpoint.js';
import { DEFAULT_SCHEMA } from './postgres-audit-sink.js';
import { ident } from './sql.js';

export interface RetentionResult {
  /** The retention checkpoint verification now starts from. */
  checkpoint: Checkpoint;
  /** Entries deleted. */
  deleted: number;
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
  try {
    const checkpoint = await writeCheckpoint(client, schema, hasher, 'retention', async (heads) => {
      await client.query(`SET LOCAL sochdb_audit.retention = 'on'`);
      const old = await client.query<{ body: string }>(`SELECT body FROM ${s}.checkpoints WHERE kind = 'retention' ORDER BY id DESC LIMIT 1`);
      const starts = new Map<string, ChainHead>();
      for (const h of old.rows.length === 0 ? [] : ((JSON.parse(old.rows[0]!.body) as CheckpointBody).starts ?? [])) starts.set(h[0], h);
      for (const [chainId, headSeq] of heads) {
        const cut = await client.query<{ seq: string | null }>(`SELECT min(seq) AS seq FROM ${s}.entries WHERE chain_id = $1 AND ts >= $2`, [chainId, options.before]);
        const last = cut.rows[0]!.seq === null ? headSeq : Number(cut.rows[0]!.seq) - 1;
        if (last <= (starts.get(chainId)?.[1] ?? 0)) continue;
        const row = await client.query<{ hash: string }>(`SELECT hash FROM ${s}.entries WHERE chain_id = $1 AND seq = $2`, [chainId, last]);
        if (row.rows.length === 0) throw new Error(`chain ${JSON.stringify(chainId)} has no seq ${last}: verify it before retention`);
        starts.set(chainId, [chainId, last, row.rows[0]!.hash]);
        const del = await client.query(`DELETE FROM ${s}.entries WHERE chain_id = $1 AND seq <= $2`, [chainId, last]);
        deleted += del.rowCount ?? 0;
      }
      await client.query(`DELETE FROM ${s}.checkpoints`);
      return [...starts.values()].sort(byChain);
    });
    return { checkpoint, deleted };
  } finally {
    await client.end().catch(() => {});
  }
}
