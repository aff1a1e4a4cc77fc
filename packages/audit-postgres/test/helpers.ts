import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { postgresAvailability } from '../src/testing/index.js';

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
