import { hostname } from 'node:os';
import { GENESIS_HASH, entryBody, makeHasher, validateEntry, type Hasher } from '@sochdb-policy/audit-file/format';
import type { AuditEntry, AuditSink } from '@sochdb-policy/core';
import pg from 'pg';
import { chainVersion, headerHash, writeCheckpoint, type Checkpoint } from './checkpoint.js';
import { copyField, copyFrom } from './copy.js';
import { AuditPostgresError } from './errors.js';
import { queryEntries, type PostgresAuditQuery } from './query.js';
import { decisionFields, needsBody, readable, type ChainVersion } from './rows.js';
import { streamEntries, type AuditEntryIterator, type PostgresAuditStreamQuery } from './stream.js';
import { createMonthPartitions, ensureMonthlyPartitions, isPartitioned } from './partitions.js';
import { LATEST_COLUMN, ident, lockKey, setupSql, type Partitioning } from './sql.js';

export const DEFAULT_SCHEMA = 'sochdb_audit';

export interface PostgresAuditSinkOptions {
  /** A `postgres://` URL or node-postgres client options (host, user, ssl, ...). */
  connection: string | pg.ClientConfig;
  /** Schema holding the tables. @default 'sochdb_audit' */
  schema?: string;
  /**
   * This writer's chain. One live session per chain (an advisory lock); a process that opens
   * an existing chain continues it. Use a stable id per writer slot (e.g. `host-a-worker-3`).
   * @default `${os.hostname()}-${process.pid}`
   */
  chainId?: string;
  /** HMAC-SHA256 key: rows then cannot be rewritten without it. @default undefined (SHA-256) */
  hmacKey?: string | Uint8Array;
  /** Create the schema, tables and triggers when they are missing (needs CREATE). @default true */
  setup?: boolean;
  /** Most entries in one batch (one INSERT, one commit). @default 1000 */
  maxBatchEntries?: number;
  /** A batch not acknowledged within this many ms counts as a lost connection. @default 10000 */
  commitTimeoutMs?: number;
  /** Milliseconds to wait for a connection. @default 5000 */
  connectTimeoutMs?: number;
  /** Write a checkpoint this often (ms); 0: only on close and on demand. @default 60000 */
  checkpointIntervalMs?: number;
  /** Write a checkpoint when the sink closes. @default true */
  checkpointOnClose?: boolean;
  /**
   * `'monthly'`: the setup creates the entries table partitioned by month of `ts` (UTC), and
   * with `setup` the sink creates the partitions of this month and the next two at open and
   * at each checkpoint. An existing unpartitioned table is refused (`partitioning_mismatch`);
   * an existing table's layout is never changed. @default 'none' (whatever exists)
   */
  partitioning?: Partitioning;
}

interface Pending {
  entry: AuditEntry;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Columns {
  seq: number[];
  ts: number[];
  op: string[];
  key: string[];
  agent: (string | null)[];
  session: (string | null)[];
  result: string[];
  prev: string[];
  hash: string[];
  body: (string | null)[];
  /** The decision columns of each row, in COPY's text format, tab-separated (`\\N` for NULL). */
  decision: string[];
}

interface Head {
  seq: number;
  hash: string;
}

/** Counters for monitoring and the benchmark. */
export interface PostgresSinkStats {
  entries: number;
  batches: number;
  reconnects: number;
  rejected: number;
}

const CONNECTION_LOST = /^(08|57P0[123])/;

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // node-postgres: server errors carry a SQLSTATE; a lost socket or a refused connect does not (or a Node code like ECONNRESET).
  return typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || CONNECTION_LOST.test(code);
}

function positiveInt(name: string, v: number | undefined, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`options.${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

export function checkChainId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 200 || id.includes('\0') || id !== readable(id)) {
    throw new TypeError(`chainId must be a non-empty string of at most 200 characters without NUL or lone surrogates, got ${JSON.stringify(id)}`);
  }
  return id;
}

/**
 * An {@link AuditSink} on PostgreSQL: one hash chain per writer in the audit file's record
 * format, group commit (one INSERT per batch, acknowledged after COMMIT), periodic checkpoints
 * across chains. See docs/audit-postgres.md.
 */
export class PostgresAuditSink implements AuditSink {
  /**
   * Capabilities: `stream` ({@link PostgresAuditSink.entries}); `decisionFields`: the engine's
   * decision fields are stored, hashed and returned. False only for a chain created before
   * them (format version 1), which keeps the seed fields only; open a new `chainId` for them.
   */
  get supports(): { readonly stream: true; readonly decisionFields: boolean } {
    return { stream: true, decisionFields: this.#version === 2 };
  }
  /** Format version of this chain's records: 2 (decision fields), or 1 for a chain created before them. */
  get version(): ChainVersion {
    return this.#version;
  }
  #version: ChainVersion = 2;
  readonly chainId: string;
  readonly schema: string;
  readonly #config: pg.ClientConfig;
  readonly #hasher: Hasher;
  readonly #maxBatch: number;
  readonly #commitTimeoutMs: number;
  readonly #checkpointOnClose: boolean;
  readonly #partitioning: Partitioning | undefined;
  readonly #setup: boolean;
  #client: pg.Client | undefined;
  #readers: pg.Pool | undefined;
  #head: Head;
  /** A batch whose commit is unknown: on reconnect the head is either its prev or its last. */
  #unknown: { before: Head; after: Head } | undefined;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #failure: AuditPostgresError | undefined;
  #closed = false;
  #opened = false;
  readonly #connectTimeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  #checkpointing: Promise<unknown> | undefined;
  readonly #iterators = new Set<AuditEntryIterator>();
  readonly stats: PostgresSinkStats = { entries: 0, batches: 0, reconnects: 0, rejected: 0 };

  private constructor(options: PostgresAuditSinkOptions, config: pg.ClientConfig, hasher: Hasher) {
    this.schema = options.schema ?? DEFAULT_SCHEMA;
    this.chainId = checkChainId(options.chainId ?? `${hostname()}-${process.pid}`);
    this.#config = config;
    this.#hasher = hasher;
    this.#maxBatch = positiveInt('maxBatchEntries', options.maxBatchEntries, 1000);
    this.#commitTimeoutMs = positiveInt('commitTimeoutMs', options.commitTimeoutMs, 10_000);
    this.#checkpointOnClose = options.checkpointOnClose ?? true;
    if (options.partitioning !== undefined && options.partitioning !== 'none' && options.partitioning !== 'monthly') {
      throw new RangeError(`options.partitioning must be 'none' or 'monthly', got ${JSON.stringify(options.partitioning)}`);
    }
    this.#partitioning = options.partitioning;
    this.#setup = options.setup ?? true;
    this.#connectTimeoutMs = Number(config.connectionTimeoutMillis ?? 5000);
    this.#head = { seq: 0, hash: GENESIS_HASH };
  }

  /** Connects, creates the tables if needed, claims the chain and reads where it stands. */
  static async open(options: PostgresAuditSinkOptions): Promise<PostgresAuditSink> {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object with a connection');
    const { connection } = options;
    if (typeof connection !== 'string' && (connection === null || typeof connection !== 'object')) {
      throw new TypeError('options.connection must be a postgres:// URL or node-postgres client options');
    }
    if (options.schema !== undefined && (typeof options.schema !== 'string' || options.schema === '' || options.schema.length > 63)) {
      throw new TypeError('options.schema must be a non-empty string of at most 63 characters');
    }
    const key = options.hmacKey === undefined ? undefined : Buffer.from(options.hmacKey as string);
    if (key !== undefined && key.length === 0) throw new RangeError('options.hmacKey must not be empty');
    const connectTimeoutMs = positiveInt('connectTimeoutMs', options.connectTimeoutMs, 5000);
    const config: pg.ClientConfig = {
      connectionTimeoutMillis: connectTimeoutMs,
      ...(typeof connection === 'string' ? { connectionString: connection } : connection),
      application_name: 'sochdb-policy-audit',
    };
    const interval = positiveInt('checkpointIntervalMs', options.checkpointIntervalMs, 60_000, 0);
    const sink = new PostgresAuditSink(options, config, makeHasher(key));
    await sink.#connect(options.setup ?? true);
    if (interval > 0) {
      sink.#timer = setInterval(() => void sink.checkpoint().catch(() => {}), interval);
      sink.#timer.unref();
    }
    return sink;
  }

  /** Seq and hash of this chain's last committed entry (seq 0 before the first). */
  get head(): { seq: number; hash: string } {
    return { ...this.#head };
  }

  get alg(): Hasher['alg'] {
    return this.#hasher.alg;
  }

  append(entry: AuditEntry): Promise<void> {
    if (this.#closed) return Promise.reject(new AuditPostgresError('closed', 'the audit sink is closed'));
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    let e: AuditEntry;
    try {
      const v = validateEntry(entry);
      const d = decisionFields(v);
      // A version 1 chain cannot hold decision members (its verifier would call them malformed): seed fields only.
      e = { timestamp: v.timestamp, operation: v.operation, key: v.key, agentId: v.agentId, sessionId: v.sessionId, result: v.result, ...(this.#version === 2 && d) };
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ entry: e, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  query(query: PostgresAuditQuery = {}): Promise<AuditEntry[]> {
    if (this.#closed) return Promise.reject(new AuditPostgresError('closed', 'the audit sink is closed'));
    return queryEntries(this.#pool(), this.schema, query);
  }

  /**
   * Capability `stream`: every matching entry of the fleet (or of `chainId`), oldest first or
   * newest first, resumable from `cursor`, in bounded memory (keyset pages on the reader pool;
   * nothing is held between pages). Closing the sink closes its iterators.
   */
  entries(query: PostgresAuditStreamQuery = {}): AuditEntryIterator {
    if (this.#closed) throw new AuditPostgresError('closed', 'the audit sink is closed');
    const it = streamEntries(this.#pool(), this.schema, query, () => this.#iterators.delete(it));
    this.#iterators.add(it);
    return it;
  }

  #pool(): pg.Pool {
    if (this.#readers === undefined) {
      this.#readers = new pg.Pool({ ...this.#config, max: 2, idleTimeoutMillis: 10_000 });
      this.#readers.on('error', () => {});
    }
    return this.#readers;
  }

  /**
   * Writes a checkpoint now: the head of every chain in the schema, chained to the previous
   * checkpoint. Keep the returned id and hash elsewhere as an anchor.
   */
  async checkpoint(): Promise<Checkpoint> {
    if (this.#closed) throw new AuditPostgresError('closed', 'the audit sink is closed');
    // Concurrent calls share one transaction; they serialize on an advisory lock anyway.
    const run = async () => {
      const client = new pg.Client(this.#config);
      client.on('error', () => {});
      await client.connect();
      try {
        // A long-running writer keeps the partitions ahead of time (an owner's sink; a writer role cannot).
        if (this.#partitioning === 'monthly' && this.#setup) await ensureMonthlyPartitions(client, { schema: this.schema }).catch(() => {});
        return await writeCheckpoint(client, this.schema, this.#hasher, 'periodic');
      } finally {
        await client.end().catch(() => {});
      }
    };
    const p = (this.#checkpointing as Promise<Checkpoint> | undefined) ?? run().finally(() => (this.#checkpointing = undefined));
    this.#checkpointing = p;
    return p;
  }

  /** Waits for appends in flight, writes a closing checkpoint, releases the chain. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    while (this.#flushing !== undefined) await this.#flushing;
    if (this.#checkpointOnClose && this.#failure === undefined && this.#client !== undefined) {
      await this.checkpoint().catch(() => {});
    }
    await this.#checkpointing?.catch(() => {});
    this.#closed = true;
    for (const it of [...this.#iterators]) await it.close();
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
    await this.#readers?.end().catch(() => {});
  }

  // ---- the writer ------------------------------------------------------------------

  async #connect(setup: boolean): Promise<void> {
    const client = new pg.Client(this.#config);
    client.on('error', () => {
      // A lost idle connection: the next batch notices (its query fails) and reconnects.
      if (this.#client === client) this.#client = undefined;
    });
    try {
      await client.connect();
      const s = ident(this.schema);
      const exists = await client.query<{ t: string | null; current: boolean }>(
        `SELECT to_regclass($1) AS t, EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($2) AND attname = $3 AND NOT attisdropped) AS current`,
        [`${s}.checkpoints`, `${s}.${LATEST_COLUMN.table}`, LATEST_COLUMN.column],
      );
      if (exists.rows[0]!.t === null || !exists.rows[0]!.current) {
        if (!setup && exists.rows[0]!.t === null) throw new AuditPostgresError('schema_missing', `the audit tables are missing in schema ${s} (run the setup SQL, or open with setup: true)`);
        if (!setup) throw new AuditPostgresError('schema_outdated', `the audit tables in schema ${s} predate the decision columns (run setupSql(schema) as their owner: it adds them in place; or open with setup: true)`);
        // Creates the tables, or adds the columns this version writes to tables created before them (idempotent).
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey(this.schema, 'setup')]);
        await client.query(setupSql(this.schema, { partitioning: this.#partitioning }));
        await client.query('COMMIT');
      }
      if (this.#partitioning !== undefined && !this.#opened) {
        const partitioned = await isPartitioned(client, this.schema);
        if (partitioned !== (this.#partitioning === 'monthly')) {
          throw new AuditPostgresError('partitioning_mismatch', `${s}.entries is ${partitioned ? '' : 'not '}partitioned but the sink was opened with partitioning: '${this.#partitioning}' (an existing table keeps its layout)`);
        }
        if (partitioned && setup) {
          await client.query('BEGIN');
          await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey(this.schema, 'setup')]);
          await createMonthPartitions(client, this.schema, Date.now(), 3);
          await client.query('COMMIT');
        }
      }
      // After a lost connection the old session may hold the lock a moment longer: wait for it to end.
      const deadline = Date.now() + (this.#opened ? this.#connectTimeoutMs : 0);
      for (;;) {
        const locked = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [lockKey(this.schema, 'chain', this.chainId)]);
        if (locked.rows[0]!.ok || Date.now() >= deadline) {
          if (locked.rows[0]!.ok) break;
          throw new AuditPostgresError('chain_in_use', `chain ${JSON.stringify(this.chainId)} is claimed by another live session (a second writer with the same chainId)`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      // A new chain is version 2; one created before the decision fields stays version 1 (its implicit header is version 1).
      await client.query(`INSERT INTO ${s}.chains (chain_id, alg, created_at, version) VALUES ($1, $2, $3, 2) ON CONFLICT (chain_id) DO NOTHING`, [this.chainId, this.#hasher.alg, Date.now()]);
      const chain = await client.query<{ alg: string; version: number | null }>(`SELECT alg, version FROM ${s}.chains WHERE chain_id = $1`, [this.chainId]);
      const version = chainVersion(chain.rows[0]!.version);
      if (chain.rows[0]!.alg !== this.#hasher.alg) {
        throw new AuditPostgresError('alg_mismatch', `chain ${JSON.stringify(this.chainId)} uses ${chain.rows[0]!.alg} but this sink ${this.#hasher.alg} (${this.#hasher.alg === 'sha256' ? 'no HMAC key given' : 'an HMAC key given'})`);
      }
      const last = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${s}.entries WHERE chain_id = $1 ORDER BY seq DESC LIMIT 1`, [this.chainId]);
      const head: Head = last.rows.length === 0 ? { seq: 0, hash: headerHash(this.#hasher, version) } : { seq: Number(last.rows[0]!.seq), hash: last.rows[0]!.hash };
      this.#resume(head);
      this.#version = version;
      this.#client = client;
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
  }

  /** Continues from what the database holds; after a lost commit it must be one of the two possible heads. */
  #resume(head: Head): void {
    const same = (a: Head, b: Head) => a.seq === b.seq && a.hash === b.hash;
    if (this.#opened) {
      const u = this.#unknown;
      if (!same(head, this.#head) && !(u !== undefined && (same(head, u.before) || same(head, u.after)))) {
        throw this.#fail(new AuditPostgresError('chain_forked', `chain ${JSON.stringify(this.chainId)} is at seq ${head.seq} but this writer left it at seq ${this.#head.seq}: another writer wrote it`));
      }
    }
    this.#opened = true;
    this.#head = head;
    this.#unknown = undefined;
  }

  #fail(error: AuditPostgresError): AuditPostgresError {
    this.#failure ??= error;
    return this.#failure;
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        if (this.#failure !== undefined) {
          this.#rejectAll(this.#queue.splice(0), this.#failure);
          break;
        }
        const batch = this.#queue.splice(0, this.#maxBatch);
        await this.#commit(batch);
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  #rejectAll(batch: Pending[], error: unknown): void {
    this.stats.rejected += batch.length;
    for (const p of batch) p.reject(error);
  }

  async #commit(batch: Pending[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.#client === undefined) {
        try {
          this.stats.reconnects++;
          await this.#connect(false);
        } catch (error) {
          const e = error instanceof AuditPostgresError ? error : new AuditPostgresError(this.#unknown ? 'outcome_unknown' : 'unavailable', `audit database unavailable: ${(error as Error)?.message ?? String(error)}`, { cause: error });
          if (e.code === 'chain_in_use' || e.code === 'alg_mismatch') this.#fail(e);
          this.#rejectAll(batch, e);
          return;
        }
      }
      const before = this.#head;
      const rows = this.#rows(batch, before);
      const after = { seq: before.seq + batch.length, hash: rows.hash.at(-1)! };
      try {
        await this.#insert(rows);
        this.#head = after;
        this.stats.batches++;
        this.stats.entries += batch.length;
        for (const p of batch) p.resolve();
        return;
      } catch (error) {
        if ((error as { code?: string }).code === '23505') {
          const e = this.#fail(new AuditPostgresError('chain_forked', `seq ${before.seq + 1} of chain ${JSON.stringify(this.chainId)} already exists: another writer wrote this chain`, { cause: error }));
          this.#rejectAll(batch, e);
          await this.#drop(false);
          return;
        }
        if (!isConnectionError(error)) {
          this.#rejectAll(batch, new AuditPostgresError('write_failed', `the audit batch was refused and rolled back: ${(error as Error).message}`, { cause: error }));
          return;
        }
        // Sent, and then the connection went: committed or not, only the database knows.
        this.#unknown = { before, after };
        await this.#drop(true);
        try {
          this.stats.reconnects++;
          await this.#connect(false);
        } catch (reconnect) {
          if (reconnect instanceof AuditPostgresError && reconnect.code !== 'unavailable') this.#fail(reconnect);
          this.#rejectAll(batch, reconnect instanceof AuditPostgresError ? reconnect : new AuditPostgresError('outcome_unknown', `the connection was lost during a commit and could not be re-established: ${(error as Error).message}`, { cause: error }));
          return;
        }
        if (this.#head.seq === after.seq) {
          // It committed before the connection went.
          this.stats.batches++;
          this.stats.entries += batch.length;
          for (const p of batch) p.resolve();
          return;
        }
        if (attempt >= 1) {
          this.#rejectAll(batch, new AuditPostgresError('unavailable', `the audit batch did not commit: ${(error as Error).message}`, { cause: error }));
          return;
        }
        // It did not commit: send it again (same seqs, same hashes) once.
      }
    }
  }

  async #drop(lost: boolean): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client === undefined) return;
    // A lost (or hung) connection's session, and its advisory lock, end with the socket.
    if (lost) (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    await client.end().catch(() => {});
  }

  #rows(batch: Pending[], head: Head): Columns {
    const n = batch.length;
    const seq = new Array<number>(n);
    const ts = new Array<number>(n);
    const op = new Array<string>(n);
    const key = new Array<string>(n);
    const agent = new Array<string | null>(n);
    const session = new Array<string | null>(n);
    const result = new Array<string>(n);
    const prev = new Array<string>(n);
    const hash = new Array<string>(n);
    const body = new Array<string | null>(n);
    const decision = new Array<string>(n);
    const version = this.#version;
    let last = head.hash;
    for (let i = 0; i < n; i++) {
      const e = batch[i]!.entry;
      const s = head.seq + i + 1;
      const b = entryBody(s, e, last, version);
      const h = this.#hasher.text(b);
      const raw = needsBody(e);
      seq[i] = s;
      ts[i] = e.timestamp;
      op[i] = e.operation;
      key[i] = raw ? readable(e.key) : e.key;
      agent[i] = e.agentId === null ? null : raw ? readable(e.agentId) : e.agentId;
      session[i] = e.sessionId === null ? null : raw ? readable(e.sessionId) : e.sessionId;
      result[i] = e.result;
      prev[i] = last;
      hash[i] = h;
      body[i] = raw ? b : null;
      decision[i] = decisionColumns(e, raw);
      last = h;
    }
    return { seq, ts, op, key, agent, session, result, prev, hash, body, decision };
  }

  async #insert(r: Columns): Promise<void> {
    const client = this.#client!;
    // One COPY in autocommit: its own transaction, answered after COMMIT (and its WAL fsync).
    // COPY inserts a page of rows per heap WAL record and parses plain text: less server CPU
    // and WAL per entry than INSERT ... SELECT FROM unnest(arrays).
    const sql = `COPY ${ident(this.schema)}.entries (chain_id, seq, ts, operation, key, agent_id, session_id, result, prev, hash, body, ${DECISION_COLUMNS}) FROM STDIN`;
    const chain = copyField(this.chainId);
    let text = '';
    for (let i = 0; i < r.seq.length; i++) {
      text += `${chain}\t${r.seq[i]}\t${r.ts[i]}\t${r.op[i]}\t${copyField(r.key[i]!)}\t${copyField(r.agent[i]!)}\t${copyField(r.session[i]!)}\t${r.result[i]}\t${r.prev[i]}\t${r.hash[i]}\t${copyField(r.body[i]!)}\t${r.decision[i]}\n`;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(Object.assign(new Error(`no acknowledgement within ${this.#commitTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
      }, this.#commitTimeoutMs);
    });
    const insert = copyFrom(client, sql, Buffer.from(text));
    insert.catch(() => {});
    try {
      await Promise.race([insert, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The decision columns, in the order {@link decisionColumns} writes them. */
const DECISION_COLUMNS = 'decision_id, rule_id, rule_decided, applied_rules, shadow_rule_id, shadow_action, batch_id';
/** Every decision column NULL: an entry without decision fields (the common case of a version 1 chain). */
const NO_DECISION = '\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N';

/** An element of a text[] literal: quoted, backslash and quote escaped. */
const arrayElement = (v: string) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** The decision columns of a row in COPY's text format (readable copies when `raw`: the body holds the exact values). */
export function decisionColumns(e: AuditEntry, raw: boolean): string {
  if (e.decisionId === undefined && e.ruleId === undefined && e.appliedRules === undefined && e.shadowRuleId === undefined && e.shadowAction === undefined && e.batchId === undefined) return NO_DECISION;
  const text = (v: string | null | undefined) => (v === undefined || v === null ? '\\N' : copyField(raw ? readable(v) : v));
  const rules = e.appliedRules === undefined ? '\\N' : copyField(`{${e.appliedRules.map((id) => arrayElement(raw ? readable(id) : id)).join(',')}}`);
  const decided = e.ruleId === undefined ? '\\N' : e.ruleId === null ? 'f' : 't';
  return `${text(e.decisionId)}\t${text(e.ruleId)}\t${decided}\t${rules}\t${text(e.shadowRuleId)}\t${e.shadowAction ?? '\\N'}\t${text(e.batchId)}`;
}
