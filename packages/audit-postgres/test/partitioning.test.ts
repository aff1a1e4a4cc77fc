// partitioning: 'monthly': the entries table partitioned by month of ts, on a real PostgreSQL.
import { describe, expect, it } from 'vitest';
import { AuditPostgresError, PostgresAuditSink, dropBefore, ensureMonthlyPartitions, monthPartition, verifyPostgresAudit } from '../src/index.js';
import { availability, freshSchema, skipNote, sql, tamper, usePostgres } from './helpers.js';

const JAN = Date.UTC(2025, 0, 10);
const FEB = Date.UTC(2025, 1, 10);
const MAR = Date.UTC(2025, 2, 10);
const at = (ts: number, i: number, agent = `agent_${i % 2}`) => ({ timestamp: ts + i, operation: 'write' as const, key: `k/${ts}/${i}`, agentId: agent, sessionId: null, result: 'allowed' as const });

describe.skipIf(!availability.available)(`audit-postgres monthly partitioning on a real PostgreSQL${skipNote}`, () => {
  const db = usePostgres({ partitioning: 'monthly' });

  const open = db.open;
  const partitions = async (schema: string) =>
    (await sql<{ name: string }>(db.server.url, `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1) ORDER BY 1`, [`"${schema}".entries`])).map((r) => r.name);
  const where = async (schema: string) =>
    (await sql<{ part: string; n: string }>(db.server.url, `SELECT tableoid::regclass::text AS part, count(*) AS n FROM "${schema}".entries GROUP BY 1 ORDER BY 1`)).map((r) => [r.part.split('.').at(-1), Number(r.n)]);

  /** Chains a and b with 5 entries each in January, February and March 2025, and a checkpoint. */
  async function threeMonths(): Promise<string> {
    const schema = freshSchema('p');
    const a = await open(schema, 'a');
    // The months of the test's timestamps (the sink made the current one and the next two).
    expect(await ensureMonthlyPartitions(db.server.url, { schema, from: JAN, months: 3 })).toEqual({ created: ['entries_y2025m01', 'entries_y2025m02', 'entries_y2025m03'], skipped: [] });
    const b = await open(schema, 'b');
    for (const month of [JAN, FEB, MAR]) for (let i = 0; i < 5; i++) await Promise.all([a.append(at(month, i)), b.append(at(month, 100 + i))]);
    await a.checkpoint();
    await a.close();
    await b.close();
    return schema;
  }

  it('entries land in their month; reads, query by agent and verify work across partitions', async () => {
    const schema = await threeMonths();
    const now = new Date();
    const current = monthPartition(now.getUTCFullYear(), now.getUTCMonth()).name;
    expect(await partitions(schema)).toEqual(expect.arrayContaining(['entries_default', 'entries_y2025m01', 'entries_y2025m02', 'entries_y2025m03', current]));
    expect(await where(schema)).toEqual([['entries_y2025m01', 10], ['entries_y2025m02', 10], ['entries_y2025m03', 10]]);
    const sink = await open(schema, 'reader');
    try {
      expect((await sink.query({ agentId: 'agent_1', since: FEB, until: MAR })).map((e) => e.key)).toEqual([1, 3, 101, 103].map((i) => `k/${FEB}/${i}`));
      const keys: string[] = [];
      for await (const e of sink.entries({ order: 'desc', limit: 3 })) keys.push(e.key);
      expect(keys).toEqual([104, 103, 102].map((i) => `k/${MAR}/${i}`));
    } finally {
      await sink.close();
    }
    expect(await verifyPostgresAudit(db.server.url, { schema })).toMatchObject({ ok: true, entries: 30 });
  });

  it('an entry of a month without a partition goes to the default partition; a month that has rows there is skipped, not failed', async () => {
    const schema = freshSchema('p');
    const a = await open(schema, 'a');
    await a.append(at(Date.UTC(2024, 5, 1), 1));
    await a.close();
    expect(await where(schema)).toEqual([['entries_default', 1]]);
    expect(await ensureMonthlyPartitions(db.server.url, { schema, from: Date.UTC(2024, 4, 1), months: 3 })).toEqual({ created: ['entries_y2024m05', 'entries_y2024m07'], skipped: ['entries_y2024m06'] });
    expect((await verifyPostgresAudit(db.server.url, { schema })).ok).toBe(true);
  });

  it('a fork within a month is refused by the partition unique index; tampering and truncating a partition show or are refused', async () => {
    const schema = await threeMonths();
    await expect(
      sql(db.server.url, `INSERT INTO "${schema}".entries SELECT * FROM "${schema}".entries WHERE chain_id = 'a' AND seq = 7`),
    ).rejects.toThrow(/duplicate key value violates unique constraint/);
    await expect(sql(db.server.url, `TRUNCATE "${schema}".entries_y2025m02`)).rejects.toThrow(/append-only/);
    await expect(sql(db.server.url, `TRUNCATE "${schema}".entries`)).rejects.toThrow(/append-only/);
    await expect(sql(db.server.url, `DELETE FROM "${schema}".entries_y2025m02 WHERE seq = 7`)).rejects.toThrow(/append-only/);
    await tamper(db.server.url, [`UPDATE "${schema}".entries_y2025m02 SET key = 'k/evil' WHERE chain_id = 'b' AND seq = 8`]);
    expect((await verifyPostgresAudit(db.server.url, { schema })).problem).toMatchObject({ chainId: 'b', seq: 8, reason: 'edited' });
  });

  it('retention drops the months that go whole, deletes the rest row by row, and verification starts from its checkpoint', async () => {
    const schema = await threeMonths();
    // Everything before February 12: January whole (dropped), February 10..11 partly (rows deleted).
    const r = await dropBefore(db.server.url, { schema, before: FEB + 2 });
    expect(r.droppedPartitions).toEqual(['entries_y2025m01']);
    expect(r.deleted).toBe(10 + 2); // January's 10 (dropped), then a's FEB+0 and FEB+1 (deleted); b's February entries are all at FEB+100..
    expect(await partitions(schema)).not.toContain('entries_y2025m01');
    const v = await verifyPostgresAudit(db.server.url, { schema });
    expect(v).toMatchObject({ ok: true, genesis: false });
  });

  it('refuses a partitioning that does not match the table, and a bad value', async () => {
    const schema = freshSchema('p');
    const plain = await PostgresAuditSink.open({ connection: db.server.url, schema, chainId: 'a', checkpointIntervalMs: 0 });
    await plain.close();
    await expect(open(schema, 'b')).rejects.toMatchObject({ code: 'partitioning_mismatch' });
    await expect(open(schema, 'b')).rejects.toBeInstanceOf(AuditPostgresError);
    await expect(ensureMonthlyPartitions(db.server.url, { schema })).rejects.toThrow(/not partitioned/);
    await expect(open(freshSchema('p'), 'a', { partitioning: 'weekly' as never })).rejects.toThrow(/options\.partitioning must be 'none' or 'monthly'/);
  });
});
