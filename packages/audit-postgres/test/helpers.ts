import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyAuditLog, type VerifyResult } from '@sochdb-policy/audit-file';
import { GENESIS_HASH, entryBody, headerBody, lineOf, makeHasher } from '@sochdb-policy/audit-file/format';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { PostgresAuditSink, type PostgresAuditSinkOptions } from '../src/index.js';
import { rowEntry, type EntryRow } from '../src/rows.js';
import { postgresAvailability, startPostgresServer, type PostgresServer } from '../src/testing/index.js';

/** Throws on CI (or REQUIRE_POSTGRES=1) when PostgreSQL is missing: there it must not skip. */
export const availability = postgresAvailability();
/** Test-name suffix saying why the tests are skipped. */
export const skipNote = availability.available ? '' : ` (skipped: ${availability.reason})`;

let n = 0;
/** A schema name no other test (or test process) uses. */
export function freshSchema(prefix = 't'): string {
  return `${prefix}_${process.pid}_${n++}_${randomBytes(3).toString('hex')}`;
}

/** Runs SQL as the bootstrap superuser. */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client(url);
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** Runs SQL as the superuser with the append-only triggers off (session_replication_role = replica): a tamperer. */
export async function tamper(url: string, statements: string[]): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    await client.query('SET session_replication_role = replica');
    for (const s of statements) await client.query(s);
  } finally {
    await client.end();
  }
}

export function entry(i: number, agent = `agent_${i % 3}`) {
  return { timestamp: 1_700_000_000_000 + i, operation: 'write' as const, key: `k/${i}`, agentId: agent, sessionId: null, result: 'allowed' as const };
}

type SinkOptions = Partial<PostgresAuditSinkOptions>;

/**
 * A real PostgreSQL for the tests of the describe block this is called in: started before
 * them (after `before`, if given), stopped after. `open` makes a sink on it (no periodic
 * checkpoints, `defaults` and then `extra` on top).
 */
export function usePostgres(defaults: SinkOptions = {}, before?: () => void) {
  let started: PostgresServer | undefined;
  beforeAll(async () => {
    before?.();
    started = await startPostgresServer();
  }, 120_000);
  afterAll(async () => {
    await started?.stop();
  });
  const db = {
    get server(): PostgresServer {
      if (started === undefined) throw new Error('the PostgreSQL server is not started (used outside its describe block?)');
      return started;
    },
    open: (schema: string, chainId: string, extra: SinkOptions = {}): Promise<PostgresAuditSink> =>
      PostgresAuditSink.open({ connection: db.server.url, schema, chainId, checkpointIntervalMs: 0, ...defaults, ...extra }),
  };
  return db;
}

/** Two chains in a fresh schema: a (1..10, then 11 and 12 after a checkpoint) and b (101..110). */
export async function twoChains(open: (schema: string, chainId: string) => Promise<PostgresAuditSink>): Promise<string> {
  const schema = freshSchema();
  const a = await open(schema, 'a');
  const b = await open(schema, 'b');
  for (let i = 1; i <= 10; i++) await Promise.all([a.append(entry(i)), b.append(entry(100 + i))]);
  await a.checkpoint();
  await a.append(entry(11));
  await a.append(entry(12));
  await a.close();
  await b.close();
  return schema;
}

/**
 * Chain `chainId` of `schema` written out as an audit file (a version 2 header, then each row
 * as a line with its stored hash) and checked by the file verifier: the rows, and its answer.
 */
export async function verifyChainAsFile(url: string, schema: string, chainId: string): Promise<{ rows: EntryRow[]; result: VerifyResult }> {
  const rows = await sql<EntryRow>(url, `SELECT * FROM ${schema}.entries WHERE chain_id = $1 ORDER BY seq`, [chainId]);
  const hasher = makeHasher(undefined);
  // A chain created by this version holds format 2 records: its implicit header is a version 2 header.
  const header = headerBody('sha256', 0, GENESIS_HASH, 2);
  const lines = [lineOf(header, hasher.text(header)), ...rows.map((r) => lineOf(entryBody(Number(r.seq), rowEntry(r), r.prev, 2), r.hash))];
  const dir = await mkdtemp(join(tmpdir(), 'pg-export-'));
  try {
    await writeFile(join(dir, 'audit.log'), lines.join(''));
    return { rows, result: await verifyAuditLog(join(dir, 'audit.log')) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
