import { ChainCursor, GENESIS_HASH, entryBody, makeHasher, type ChainProblem, type Hasher, type LogRecord, type ParsedLine } from '@sochdb-policy/audit-file/format';
import pg from 'pg';
import { chainVersion, checkpointBody, headerHash, type ChainHead, type CheckpointBody } from './checkpoint.js';
import { withClient, type Connection } from './connection.js';
import { DEFAULT_SCHEMA } from './postgres-audit-sink.js';
import { rowBody, rowEntry, rowRecord, type EntryRow } from './rows.js';
import { ident } from './sql.js';

/** A checkpoint recorded earlier (id and hash) that the database must still hold. */
export interface CheckpointAnchor {
  id: number;
  hash: string;
}

export interface PostgresVerifyOptions {
  schema?: string;
  /** Needed when the chains are HMAC-protected. */
  hmacKey?: string | Uint8Array;
  /** The checkpoint with this id must exist with this hash. */
  anchor?: CheckpointAnchor;
  /** Rows read per round trip. @default 5000 */
  pageSize?: number;
}

/** The audit file's reasons; a chain or checkpoint missing as a whole is `deleted`. */
export type PostgresVerifyReason = ChainProblem;

export interface PostgresVerifyProblem {
  /** The chain, or null for a problem with the checkpoints themselves. */
  chainId: string | null;
  /** First seq of the chain that is missing, altered or out of place (0 for a checkpoint problem). */
  seq: number;
  /** The checkpoint involved, if any. */
  checkpoint?: number;
  reason: PostgresVerifyReason;
  message: string;
}

export interface ChainReport {
  chainId: string;
  alg: string;
  ok: boolean;
  entries: number;
  firstSeq: number | null;
  lastSeq: number;
  lastHash: string;
  /** False when retention dropped the chain's oldest entries (it starts from a retention checkpoint). */
  genesis: boolean;
  /** Entries after the last checkpoint's head for this chain (not yet protected against truncation by a checkpoint). */
  unanchored: number;
  problem?: PostgresVerifyProblem;
}

export interface PostgresVerifyResult {
  ok: boolean;
  chains: ChainReport[];
  /** Entries that verified, all chains. */
  entries: number;
  checkpoints: number;
  /** Keep it elsewhere as an anchor: `--anchor ID:HASH`. */
  lastCheckpoint: CheckpointAnchor | null;
  /** False when retention removed older checkpoints. */
  genesis: boolean;
  /** The first problem found (checkpoints first, then chains in id order). */
  problem?: PostgresVerifyProblem;
  /** Every problem, one per chain at most. */
  problems: PostgresVerifyProblem[];
}

const parsedOk = (record: LogRecord, hashOk: boolean): ParsedLine => ({ ok: true, record, hashOk });

/**
 * Verifies every chain of the schema and the checkpoints across them: each row against the
 * audit file's chain rules (the same cursor the file verifier uses), each checkpoint against
 * the previous one and against the rows (a head it names must still be there with its hash:
 * a truncated or deleted chain shows). Reads with `connection` (any role with SELECT).
 */
export async function verifyPostgresAudit(connection: Connection, options: PostgresVerifyOptions = {}): Promise<PostgresVerifyResult> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const key = options.hmacKey === undefined ? undefined : Buffer.from(options.hmacKey as string);
  if (key !== undefined && key.length === 0) throw new RangeError('options.hmacKey must not be empty');
  const anchor = options.anchor;
  if (anchor !== undefined && (!Number.isSafeInteger(anchor.id) || anchor.id < 1 || !/^[0-9a-f]{64}$/.test(anchor.hash))) {
    throw new TypeError('options.anchor must be { id: positive integer, hash: 64 lowercase hex digits }');
  }
  return withClient(connection, async (client) => {
    // One snapshot for the whole walk: rows committed meanwhile are not half seen.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return await verifyIn(client, schema, makeHasher(key), anchor, options.pageSize ?? 5000);
    } finally {
      await client.query('ROLLBACK').catch(() => {});
    }
  });
}

async function verifyIn(client: pg.ClientBase, schema: string, hasher: Hasher, anchor: CheckpointAnchor | undefined, pageSize: number): Promise<PostgresVerifyResult> {
  const s = ident(schema);
  const result: PostgresVerifyResult = { ok: true, chains: [], entries: 0, checkpoints: 0, lastCheckpoint: null, genesis: true, problems: [] };
  const problem = (p: PostgresVerifyProblem) => {
    result.problems.push(p);
    result.ok = false;
    result.problem ??= p;
  };

  // ---- the checkpoints -------------------------------------------------------------
  const cps = await client.query<{ id: string; kind: string; body: string; hash: string }>(`SELECT id, kind, body, hash FROM ${s}.checkpoints ORDER BY id`);
  /** chain -> seq -> [hash, checkpoint id] that the rows must match. */
  const heads = new Map<string, Map<number, [string, number]>>();
  const starts = new Map<string, ChainHead>();
  let prevHash = GENESIS_HASH;
  let prevId = 0;
  let anchorFound = false;
  for (const row of cps.rows) {
    const id = Number(row.id);
    const fail = (reason: PostgresVerifyReason, detail: string) =>
      problem({ chainId: null, seq: 0, checkpoint: id, reason, message: `checkpoint ${id}: ${reason}: ${detail}` });
    let body: CheckpointBody;
    try {
      body = JSON.parse(row.body) as CheckpointBody;
    } catch {
      fail('malformed', 'its body is not JSON');
      break;
    }
    if (body?.type !== 'checkpoint' || body.id !== id || body.kind !== row.kind || !Array.isArray(body.heads) || checkpointBody(body) !== row.body) {
      fail('malformed', 'its body is not a canonical checkpoint record matching its row');
      break;
    }
    if (body.alg !== hasher.alg) {
      fail(body.alg === 'hmac-sha256' ? 'key_required' : 'wrong_key', body.alg === 'hmac-sha256' ? 'the checkpoints are HMAC-protected: give the key' : 'the checkpoints have no HMAC but a key was given');
      break;
    }
    if (hasher.text(row.body) !== row.hash) {
      fail(result.checkpoints === 0 && hasher.alg === 'hmac-sha256' ? 'wrong_key' : 'edited', 'its content does not match its hash');
      break;
    }
    if (result.checkpoints === 0) {
      // The oldest checkpoint: genesis, or the retention checkpoint that older ones were dropped for.
      if (id !== 1 && body.kind !== 'retention') {
        fail('deleted', `the checkpoints start at id ${id}, which is not a retention checkpoint: checkpoints 1..${id - 1} are missing`);
        break;
      }
      if (id === 1 && body.prev !== GENESIS_HASH) {
        fail('edited', 'the first checkpoint does not start from the genesis hash');
        break;
      }
      result.genesis = id === 1;
    } else if (id !== prevId + 1) {
      fail('deleted', `checkpoint ${prevId + 1} is missing`);
      break;
    } else if (body.prev !== prevHash) {
      fail('edited', `its prev does not match the hash of checkpoint ${prevId}: one of the two was rewritten`);
      break;
    }
    if (body.kind === 'retention') for (const h of body.starts ?? []) starts.set(h[0], h);
    for (const [chain, seq, hash] of body.heads) {
      let m = heads.get(chain);
      if (m === undefined) heads.set(chain, (m = new Map()));
      m.set(seq, [hash, id]);
    }
    if (anchor !== undefined && id === anchor.id) {
      if (row.hash !== anchor.hash) {
        fail('edited', `its hash differs from the anchor's: the checkpoints were rewritten at or before ${id}`);
        break;
      }
      anchorFound = true;
    }
    prevHash = row.hash;
    prevId = id;
    result.checkpoints++;
    result.lastCheckpoint = { id, hash: row.hash };
  }
  if (result.ok && anchor !== undefined && !anchorFound) {
    const reason = anchor.id > prevId ? 'truncated' : 'deleted';
    problem({ chainId: null, seq: 0, checkpoint: anchor.id, reason, message: `checkpoint ${anchor.id}: ${reason}: the anchor's checkpoint is not in the database (it holds ${result.checkpoints === 0 ? 'none' : `up to ${prevId}`})` });
  }

  // ---- the chains --------------------------------------------------------------------
  // to_jsonb: the version column is absent from tables created before it (and not migrated).
  const chains = await client.query<{ chain_id: string; alg: string; version: string | null }>(`SELECT chain_id, alg, to_jsonb(c) ->> 'version' AS version FROM ${s}.chains c`);
  const chainIds = chains.rows.map((r) => r.chain_id).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const algOf = new Map(chains.rows.map((r) => [r.chain_id, r.alg]));
  const versionOf = new Map(chains.rows.map((r) => [r.chain_id, chainVersion(r.version)]));
  for (const chain of [...heads.keys()].sort()) {
    if (!algOf.has(chain)) {
      const [seq, [, cp]] = [...heads.get(chain)!.entries()].at(-1)!;
      problem({ chainId: chain, seq: 1, checkpoint: cp, reason: 'deleted', message: `chain ${JSON.stringify(chain)}: deleted: checkpoint ${cp} names it at seq ${seq} but the chain is gone` });
    }
  }
  for (const chainId of chainIds) {
    const report = await verifyChain(client, s, chainId, algOf.get(chainId)!, versionOf.get(chainId)!, hasher, heads.get(chainId) ?? new Map(), starts.get(chainId), pageSize);
    result.chains.push(report);
    result.entries += report.entries;
    if (report.problem !== undefined) problem(report.problem);
  }
  return result;
}

async function verifyChain(
  client: pg.ClientBase,
  s: string,
  chainId: string,
  alg: string,
  version: 1 | 2,
  hasher: Hasher,
  heads: Map<number, [string, number]>,
  start: ChainHead | undefined,
  pageSize: number,
): Promise<ChainReport> {
  const report: ChainReport = { chainId, alg, ok: true, entries: 0, firstSeq: null, lastSeq: 0, lastHash: GENESIS_HASH, genesis: start === undefined, unanchored: 0 };
  const at = `chain ${JSON.stringify(chainId)}`;
  const fail = (reason: PostgresVerifyReason, seq: number, detail: string, checkpoint?: number): ChainReport => {
    report.ok = false;
    report.problem = { chainId, seq, reason, message: `${at}: seq ${seq}: ${reason}: ${detail}`, ...(checkpoint !== undefined && { checkpoint }) };
    return report;
  };
  const cursor = new ChainCursor(hasher);
  // The chain's first record is implicit: the header a file would start with, or where retention left it.
  if (start === undefined) {
    // A version 1 chain (created before the decision fields) may hold no decision members: the cursor says `malformed`.
    const header = { type: 'header' as const, version, alg: alg as Hasher['alg'], seq: 0, prev: GENESIS_HASH, hash: alg === hasher.alg ? headerHash(hasher, version) : '' };
    const f = cursor.accept(parsedOk(header, true));
    if (f !== undefined) return fail(f.problem, 1, f.detail);
  } else {
    cursor.accept(parsedOk({ type: 'header', version, alg: hasher.alg, seq: start[1], prev: GENESIS_HASH, hash: start[2] }, true));
  }
  report.lastSeq = cursor.lastEntrySeq;
  report.lastHash = cursor.lastEntryHash === GENESIS_HASH ? cursor.lastHash : cursor.lastEntryHash;
  const startSeq = cursor.lastEntrySeq;
  let lastCheckpointed = startSeq;
  let pending: EntryRow[] = [];
  let after = startSeq;
  let done = false;
  const next = async (): Promise<EntryRow | undefined> => {
    if (pending.length === 0 && !done) {
      const page = await client.query<EntryRow>(
        `SELECT * FROM ${s}.entries WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [chainId, after, pageSize],
      );
      pending = page.rows;
      if (pending.length < pageSize) done = true;
      if (pending.length > 0) after = Number(pending.at(-1)!.seq);
    }
    return pending.shift();
  };
  // Rows at or below the start were kept by a retention that deleted the rest (or inserted): ignore none silently.
  const early = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.entries WHERE chain_id = $1 AND seq <= $2`, [chainId, startSeq]);
  if (Number(early.rows[0]!.n) > 0) return fail('inserted', startSeq, `rows at or below seq ${startSeq}, where the chain starts after retention`);

  for (let row = await next(); row !== undefined; row = await next()) {
    const seq = Number(row.seq);
    const expected = cursor.expected;
    const rb = rowBody(row);
    if ('problem' in rb) return fail('edited', seq, rb.problem);
    const record = rowRecord(row);
    const hashOk = hasher.text(rb.body) === row.hash;
    const failure = cursor.accept(parsedOk(record, hashOk));
    if (failure !== undefined) {
      const following = await next();
      return fail(...classify(hasher, row, following, expected, cursor.lastHash, failure.problem, failure.detail));
    }
    const named = heads.get(seq);
    if (named !== undefined) {
      if (named[0] !== row.hash) return fail('edited', seq, `its hash differs from the one checkpoint ${named[1]} recorded: the chain was rewritten at or before seq ${seq}`, named[1]);
      lastCheckpointed = seq;
    }
    report.entries++;
    report.firstSeq ??= seq;
    report.lastSeq = seq;
    report.lastHash = row.hash;
  }
  // Every head a checkpoint recorded must still be there.
  for (const [seq, [, cp]] of heads) {
    if (seq > report.lastSeq) {
      const reason = report.entries === 0 && startSeq === 0 ? 'deleted' : 'truncated';
      return fail(reason, report.lastSeq + 1, `checkpoint ${cp} recorded the chain at seq ${seq} but it ends at seq ${report.lastSeq}`, cp);
    }
  }
  report.unanchored = report.lastSeq - lastCheckpointed;
  return report;
}

/**
 * Names what happened at the first row that does not fit. Rows come in seq order (the primary
 * key), so reordering shows as a row whose hash is that of the same content at another seq,
 * and an insertion as a foreign row followed by the displaced original one seq later.
 */
function classify(
  hasher: Hasher,
  row: EntryRow,
  following: EntryRow | undefined,
  expected: number,
  lastHash: string,
  problem: ChainProblem,
  detail: string,
): [PostgresVerifyReason, number, string] {
  const seq = Number(row.seq);
  if (seq > expected) return ['deleted', expected, `expected seq ${expected}, found seq ${seq}: seq ${expected}..${seq - 1} missing`];
  const e = rowEntry(row);
  const hashAt = (r: EntryRow, s: number, prev: string) => hasher.text(entryBody(s, rowEntry(r), prev, 2));
  for (let d = 1; d <= 16; d++) {
    for (const other of [seq - d, seq + d]) {
      if (other >= 1 && hasher.text(entryBody(other, e, row.prev, 2)) === row.hash) {
        return ['reordered', seq, `the row at seq ${seq} is the entry written as seq ${other}`];
      }
    }
  }
  if (following !== undefined && Number(following.seq) === seq + 1 && hashAt(following, seq, lastHash) === following.hash) {
    return ['inserted', seq, `a row that is not part of the chain sits at seq ${seq}; the original seq ${seq} follows it, renumbered`];
  }
  return [problem, seq, detail];
}
