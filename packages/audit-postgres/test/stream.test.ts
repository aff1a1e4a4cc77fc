import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PAGE_ROWS, PostgresAuditSink, setupSql, streamEntries, verifyPostgresAudit } from '../src/index.js';
import { startPostgresServer, type PostgresServer } from '../src/testing/index.js';
import { availability, entry, freshSchema, skipNote, sql } from './helpers.js';
import pg from 'pg';

const here = dirname(fileURLToPath(import.meta.url));
let server: PostgresServer;

/**
 * A fleet of `n` rows in three chains with many equal timestamps (ties across chains), written
 * straight into the table: streaming reads columns, it does not check hashes.
 */
async function fleet(n: number): Promise<string> {
  const schema = freshSchema('st');
  await sql(server.url, setupSql(schema));
  await sql(
    server.url,
    `INSERT INTO ${schema}.entries (chain_id, seq, ts, operation, key, agent_id, session_id, result, prev, hash)
     SELECT c, (i / 3) + 1, 1000 + (i / 7), 'write', 'k/' || i, 'agent_' || (i % 5), NULL, 'allowed', 'p', 'h'
     FROM generate_series(0, $1 - 1) AS i, LATERAL (SELECT (ARRAY['w-a', 'w-b', 'w-c'])[i % 3 + 1] AS c) AS x`,
    [n],
  );
  return schema;
}

/** The fleet order as SQL computes it. */
async function expected(schema: string, where = '', desc = false): Promise<string[]> {
  const d = desc ? 'DESC' : 'ASC';
  const rows = await sql<{ key: string }>(server.url, `SELECT key FROM ${schema}.entries ${where} ORDER BY ts ${d}, chain_id ${d}, seq ${d}`);
  return rows.map((r) => r.key);
}

describe.skipIf(!availability.available)(`audit-postgres streaming reads on a real PostgreSQL${skipNote}`, () => {
  let pool: pg.Pool;
  beforeAll(async () => {
    server = await startPostgresServer();
    pool = new pg.Pool({ connectionString: server.url, max: 2 });
  }, 120_000);
  afterAll(async () => {
    await pool?.end();
    await server?.stop();
  });

  it('orders the whole fleet by (ts, chain, seq) across pages, both orders, and resumes at any cursor', async () => {
    const n = 2 * MAX_PAGE_ROWS + 1234;
    const schema = await fleet(n);
    for (const order of ['asc', 'desc'] as const) {
      const want = await expected(schema, '', order === 'desc');
      const it = streamEntries(pool, schema, { order });
      const got: string[] = [];
      const cursors: string[] = [];
      for (let rows = await it.nextv(777); rows.length > 0; rows = await it.nextv(777)) {
        got.push(...rows.map((e) => e.key));
        cursors.push(it.cursor!);
      }
      await it.close();
      expect(got).toEqual(want);
      // Resume after each batch's last entry: exactly the rest, in order.
      for (const [i, after] of cursors.entries()) {
        if (i % 3 !== 0) continue;
        const rest = streamEntries(pool, schema, { order, after, limit: 50 });
        expect((await rest.nextv(100)).map((e) => e.key)).toEqual(want.slice((i + 1) * 777, (i + 1) * 777 + 50));
        await rest.close();
      }
    }
  });

  it('filters like query (agent, chain, time) with a limit, in pages', async () => {
    const schema = await fleet(3000);
    const read = async (q: Parameters<typeof streamEntries>[2]) => {
      const out: string[] = [];
      for await (const e of streamEntries(pool, schema, q)) out.push(e.key);
      return out;
    };
    expect(await read({ agentId: 'agent_2' })).toEqual(await expected(schema, `WHERE agent_id = 'agent_2'`));
    expect(await read({ chainId: 'w-b', order: 'desc' })).toEqual(await expected(schema, `WHERE chain_id = 'w-b'`, true));
    expect(await read({ since: 1100, until: 1200, agentId: 'agent_1', limit: 40 })).toEqual((await expected(schema, `WHERE ts BETWEEN 1100 AND 1200 AND agent_id = 'agent_1'`)).slice(0, 40));
    // No entry here was decided by a rule: a ruleId filter matches none (decision.test.ts has the ones that match).
    expect(await read({ ruleId: 'r1' })).toEqual([]);
  });

  it('pages start at the position through an index (keyset, no full scan or sort of the table)', async () => {
    const schema = await fleet(20_000);
    await sql(server.url, `ANALYZE ${schema}.entries`);
    const client = new pg.Client(server.url);
    await client.connect();
    try {
      const plans: string[] = [];
      const spy = { query: (text: string, params: unknown[]) => {
        plans.push(text);
        return client.query(text, params);
      } } as unknown as pg.Client;
      const it = streamEntries(spy, schema, { agentId: 'agent_3' });
      await it.nextv(150);
      await it.close();
      const last = plans.at(-1)!;
      expect(last).not.toMatch(/OFFSET/i);
      const params = [...last.matchAll(/\$\d+/g)].length;
      expect(params).toBeGreaterThan(1);
      const plan = (await client.query(`EXPLAIN ${last.replace(/\$(\d+)/g, (_, i) => (i === '1' ? `'agent_3'` : i === '2' || i === '5' ? '1010' : i === '3' ? `'w-a'` : '1'))}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
      // entries_ts (then an incremental sort of equal timestamps) or entries_agent_ts: either starts at the position.
      expect(plan).toMatch(/Index (Only )?Scan using entries_(agent_)?ts/);
      expect(plan).not.toMatch(/Seq Scan|-> {2}Sort/);
    } finally {
      await client.end();
    }
  });

  it('an agent id text cannot hold: the exact entries, streamed; closing the sink closes its iterators', async () => {
    const schema = freshSchema('st');
    const sink = await PostgresAuditSink.open({ connection: server.url, schema, chainId: 'w', checkpointIntervalMs: 0 });
    const odd = 'agent_\uD800';
    for (let i = 0; i < 6; i++) await sink.append(entry(i, i % 2 === 0 ? odd : 'agent_\uFFFD'));
    const got = [];
    for await (const e of sink.entries({ agentId: odd })) got.push(e);
    expect(got.map((e) => [e.key, e.agentId])).toEqual([['k/0', odd], ['k/2', odd], ['k/4', odd]]);
    const it = sink.entries();
    expect((await it.next())?.key).toBe('k/0');
    await sink.close();
    await expect(it.next()).rejects.toMatchObject({ code: 'iterator_closed' });
    expect(() => sink.entries()).toThrow(/closed/);
  });

  it("COPY's special characters (tab, newline, CR, backslash, \\N) round-trip through a batch; the chain verifies", async () => {
    const schema = freshSchema('st');
    const sink = await PostgresAuditSink.open({ connection: server.url, schema, chainId: 'tab\there', checkpointIntervalMs: 0 });
    const odd = ['a\tb', 'line\nbreak\r', 'back\\slash', '\\N', '\\.', 'é\u2028\t'];
    const written = odd.map((key, i) => ({ ...entry(i, `agent\t${key}`), key, sessionId: key }));
    await Promise.all(written.map((e) => sink.append(e)));
    expect(await sink.query({ limit: 10 })).toEqual(written);
    await sink.close();
    expect((await verifyPostgresAudit(server.url, { schema })).ok).toBe(true);
  });

  describe('CLI query', () => {
    const cliArgs = (...args: string[]) => ['--import', 'tsx', join(here, '..', 'src', 'cli.ts'), ...args];
    const cli = (...args: string[]) => spawnSync(process.execPath, cliArgs(...args), { cwd: join(here, '..'), encoding: 'utf8', maxBuffer: 64 << 20 });

    it('--limit all exports every entry oldest first; the default is the newest 100; --newest-first and --after resume', async () => {
      const schema = await fleet(5000);
      const want = await expected(schema);
      const all = cli('query', '--schema', schema, '--json', '--limit', 'all', server.url);
      expect([all.status, all.stderr]).toEqual([0, '']);
      const rows = all.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; cursor: string });
      expect(rows.map((r) => r.key)).toEqual(want);
      const last100 = cli('query', '--schema', schema, '--json', server.url);
      expect(last100.stdout.trim().split('\n').map((l) => JSON.parse(l).key)).toEqual(want.slice(-100));
      const some = cli('query', '--schema', schema, '--json', '--limit', '7', '--agent-id', 'agent_4', server.url);
      expect(some.stdout.trim().split('\n').map((l) => JSON.parse(l).key)).toEqual((await expected(schema, `WHERE agent_id = 'agent_4'`)).slice(-7));
      const resumed = cli('query', '--schema', schema, '--json', '--limit', '3', '--after', rows[4321]!.cursor, server.url);
      expect(resumed.stdout.trim().split('\n').map((l) => JSON.parse(l).key)).toEqual(want.slice(4322, 4325));
      const newest = cli('query', '--schema', schema, '--json', '--limit', '2', '--newest-first', server.url);
      expect(newest.stdout.trim().split('\n').map((l) => JSON.parse(l).key)).toEqual(want.slice(-2).reverse());
      const bad = cli('query', '--schema', schema, '--limit', 'lots', server.url);
      expect([bad.status, bad.stderr]).toEqual([2, expect.stringContaining('--limit must be')]);
    }, 60_000);

    it('| head: the reader stopping early ends the CLI quietly with exit 0', async () => {
      const schema = await fleet(60_000);
      const child = spawn(process.execPath, cliArgs('query', '--schema', schema, '--limit', 'all', server.url), { cwd: join(here, '..'), stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      // Read a little, then close the pipe as head does.
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.stdout.destroy();
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect([code, err]).toEqual([0, '']);
    }, 60_000);
  });
});
