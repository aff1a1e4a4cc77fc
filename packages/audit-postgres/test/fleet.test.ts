import { fork, spawnSync } from 'node:child_process';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryStore, PolicyEngine } from '@sochdb-policy/core';
import { describe, expect, it } from 'vitest';
import { AuditPostgresError, PostgresAuditSink, dropBefore, verifyPostgresAudit, writerGrantsSql } from '../src/index.js';
import { availability, entry, freshSchema, skipNote, sql, tamper, twoChains, usePostgres, verifyChainAsFile } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));

describe.skipIf(!availability.available)(`audit-postgres fleet and failures on a real PostgreSQL${skipNote}`, () => {
  const db = usePostgres();

  const open = db.open;

  const problemOf = async (schema: string) => (await verifyPostgresAudit(db.server.url, { schema })).problem;

  describe('verify names every kind of tampering with rows', () => {
    it('an intact fleet verifies, with its last checkpoint as the anchor', async () => {
      const schema = await twoChains(open);
      const v = await verifyPostgresAudit(db.server.url, { schema });
      expect(v.ok).toBe(true);
      expect(v.entries).toBe(22);
      expect(v.chains.map((c) => [c.chainId, c.lastSeq, c.ok])).toEqual([['a', 12, true], ['b', 10, true]]);
      // close() wrote checkpoints 2 and 3 after the explicit one.
      expect(v.checkpoints).toBe(3);
      expect((await verifyPostgresAudit(db.server.url, { schema, anchor: v.lastCheckpoint! })).ok).toBe(true);
      const wrong = await verifyPostgresAudit(db.server.url, { schema, anchor: { id: 9, hash: v.lastCheckpoint!.hash } });
      expect(wrong.problem?.reason).toBe('truncated');
    });

    it('edit', async () => {
      const schema = await twoChains(open);
      await tamper(db.server.url, [`UPDATE ${schema}.entries SET key = 'k/evil' WHERE chain_id = 'a' AND seq = 4`]);
      expect(await problemOf(schema)).toMatchObject({ chainId: 'a', seq: 4, reason: 'edited' });
    });

    it('delete', async () => {
      const schema = await twoChains(open);
      await tamper(db.server.url, [`DELETE FROM ${schema}.entries WHERE chain_id = 'b' AND seq = 5`]);
      expect(await problemOf(schema)).toMatchObject({ chainId: 'b', seq: 5, reason: 'deleted' });
    });

    it('reorder', async () => {
      const schema = await twoChains(open);
      await tamper(db.server.url, [
        `UPDATE ${schema}.entries SET seq = 1000 WHERE chain_id = 'a' AND seq = 3`,
        `UPDATE ${schema}.entries SET seq = 3 WHERE chain_id = 'a' AND seq = 4`,
        `UPDATE ${schema}.entries SET seq = 4 WHERE chain_id = 'a' AND seq = 1000`,
      ]);
      expect(await problemOf(schema)).toMatchObject({ chainId: 'a', seq: 3, reason: 'reordered' });
    });

    it('insert', async () => {
      const schema = await twoChains(open);
      const statements = [];
      for (let s = 12; s >= 6; s--) statements.push(`UPDATE ${schema}.entries SET seq = ${s + 1} WHERE chain_id = 'a' AND seq = ${s}`);
      statements.push(`INSERT INTO ${schema}.entries SELECT chain_id, 6, ts, operation, 'k/forged', agent_id, session_id, result, prev, hash, body FROM ${schema}.entries WHERE chain_id = 'a' AND seq = 5`);
      await tamper(db.server.url, statements);
      expect(await problemOf(schema)).toMatchObject({ chainId: 'a', seq: 6, reason: 'inserted' });
    });

    it('truncate a chain (its last rows, back past a checkpoint)', async () => {
      const schema = await twoChains(open);
      await tamper(db.server.url, [`DELETE FROM ${schema}.entries WHERE chain_id = 'b' AND seq > 7`]);
      expect(await problemOf(schema)).toMatchObject({ chainId: 'b', seq: 8, reason: 'truncated' });
    });

    it('delete a chain (rows and chain row)', async () => {
      const schema = await twoChains(open);
      await tamper(db.server.url, [`DELETE FROM ${schema}.entries WHERE chain_id = 'b'`, `DELETE FROM ${schema}.chains WHERE chain_id = 'b'`]);
      expect(await problemOf(schema)).toMatchObject({ chainId: 'b', reason: 'deleted' });
      const schema2 = await twoChains(open);
      await tamper(db.server.url, [`DELETE FROM ${schema2}.entries WHERE chain_id = 'b'`]);
      expect(await problemOf(schema2)).toMatchObject({ chainId: 'b', seq: 1, reason: 'deleted' });
    });

    it('a deleted or edited checkpoint', async () => {
      const schema = await twoChains(open);
      await tamper(db.server.url, [`DELETE FROM ${schema}.checkpoints WHERE id = 2`]);
      expect(await problemOf(schema)).toMatchObject({ chainId: null, checkpoint: 3, reason: 'deleted' });
      const schema2 = await twoChains(open);
      await tamper(db.server.url, [`UPDATE ${schema2}.checkpoints SET body = replace(body, '"periodic"', '"retention"'), kind = 'retention' WHERE id = 1`]);
      expect(await problemOf(schema2)).toMatchObject({ chainId: null, checkpoint: 1, reason: 'edited' });
    });
  });

  it('CLI: verify exits 0 on an intact fleet and 1 naming the problem after tampering; query reads by agent', async () => {
    const schema = await twoChains(open);
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(here, '..', 'src', 'cli.ts'), ...args], { cwd: join(here, '..'), encoding: 'utf8' });
    const ok = cli('verify', '--schema', schema, db.server.url);
    expect([ok.status, ok.stdout]).toEqual([0, expect.stringMatching(/^OK .*22 entries in 2 chain\(s\), 3 checkpoint\(s\)/)]);
    const q = cli('query', '--schema', schema, '--agent-id', 'agent_1', '--json', db.server.url);
    expect(q.stdout.trim().split('\n').map((l) => JSON.parse(l).key)).toEqual(['k/1', 'k/4', 'k/7', 'k/10', 'k/103', 'k/106', 'k/109']);
    await tamper(db.server.url, [`UPDATE ${schema}.entries SET key = 'k/evil' WHERE chain_id = 'a' AND seq = 4`]);
    const bad = cli('verify', '--schema', schema, db.server.url);
    expect([bad.status, bad.stdout]).toEqual([1, expect.stringContaining('chain "a": seq 4: edited')]);
  });

  it('the same record and chain as the audit file: a chain exported as lines passes the file verifier', async () => {
    const schema = await twoChains(open);
    const { rows, result } = await verifyChainAsFile(db.server.url, schema, 'a');
    expect(result).toMatchObject({ ok: true, entries: 12, lastSeq: 12, lastHash: rows.at(-1)!.hash });
  });

  it('HMAC: verifies with the key only; NUL and lone surrogates round-trip and verify', async () => {
    const schema = freshSchema();
    const sink = await open(schema, 'h', { hmacKey: 'secret' });
    const odd = { ...entry(1), key: 'a\0b', agentId: 'x\uD800', sessionId: 's\0' };
    await sink.append(odd);
    await sink.append(entry(2));
    expect(await sink.query({ agentId: 'x\uD800' })).toEqual([odd]);
    await sink.close();
    expect((await verifyPostgresAudit(db.server.url, { schema, hmacKey: 'secret' })).ok).toBe(true);
    expect((await verifyPostgresAudit(db.server.url, { schema })).problem?.reason).toBe('key_required');
    expect((await verifyPostgresAudit(db.server.url, { schema, hmacKey: 'other' })).problem?.reason).toBe('wrong_key');
    await expect(open(schema, 'h')).rejects.toMatchObject({ code: 'alg_mismatch' });
  });

  it('two writers claiming one chain: the second is refused; a row written behind the writer stops it (chain_forked)', async () => {
    const schema = freshSchema();
    const first = await open(schema, 'w');
    await expect(open(schema, 'w')).rejects.toMatchObject({ code: 'chain_in_use' });
    await first.append(entry(1));
    await tamper(db.server.url, [`INSERT INTO ${schema}.entries SELECT chain_id, 2, ts, operation, key, agent_id, session_id, result, hash, hash, body FROM ${schema}.entries WHERE chain_id = 'w' AND seq = 1`]);
    await expect(first.append(entry(2))).rejects.toMatchObject({ code: 'chain_forked' });
    await expect(first.append(entry(3))).rejects.toMatchObject({ code: 'chain_forked' });
    await first.close();
    // Closed: the chain is free again (once the server has ended the session).
    let again: PostgresAuditSink | undefined;
    for (let i = 0; again === undefined; i++) {
      again = await open(schema, 'w').catch((e: unknown) => {
        if (i > 50) throw e;
        return new Promise<undefined>((r) => setTimeout(() => r(undefined), 50));
      });
    }
    expect(again.head.seq).toBe(2);
    await again.close();
  });

  it('a writer role with INSERT and SELECT only writes; UPDATE, DELETE and TRUNCATE are refused even to the owner', async () => {
    const schema = freshSchema();
    (await open(schema, 'setup')).close();
    await sql(db.server.url, `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'audit_writer') THEN CREATE ROLE audit_writer LOGIN; END IF; END $$`);
    await sql(db.server.url, writerGrantsSql(schema, 'audit_writer'));
    const sink = await PostgresAuditSink.open({ connection: db.server.urlFor('audit_writer'), schema, chainId: 'role', setup: false, checkpointIntervalMs: 0 });
    await sink.append(entry(1));
    await sink.checkpoint();
    await sink.close();
    const asWriter = db.server.urlFor('audit_writer');
    await expect(sql(asWriter, `UPDATE ${schema}.entries SET key = 'x'`)).rejects.toThrow(/permission denied/);
    await expect(sql(asWriter, `DELETE FROM ${schema}.entries`)).rejects.toThrow(/permission denied/);
    await expect(sql(db.server.url, `UPDATE ${schema}.entries SET key = 'x'`)).rejects.toThrow(/append-only/);
    await expect(sql(db.server.url, `DELETE FROM ${schema}.checkpoints`)).rejects.toThrow(/append-only/);
    await expect(sql(db.server.url, `TRUNCATE ${schema}.entries`)).rejects.toThrow(/append-only/);
    expect((await verifyPostgresAudit(asWriter, { schema })).ok).toBe(true);
  });

  it('retention: dropping old entries writes a retention checkpoint verification starts from', async () => {
    const schema = await twoChains(open);
    const r = await dropBefore(db.server.url, { schema, before: 1_700_000_000_000 + 6 });
    expect(r.deleted).toBe(5); // seq 1..5 of chain a; chain b's entries are all newer
    const v = await verifyPostgresAudit(db.server.url, { schema });
    expect(v).toMatchObject({ ok: true, genesis: false, checkpoints: 1 });
    expect(v.chains.find((c) => c.chainId === 'a')).toMatchObject({ firstSeq: 6, genesis: false, entries: 7 });
    const sink = await open(schema, 'a');
    await sink.append(entry(13));
    await sink.close();
    expect((await verifyPostgresAudit(db.server.url, { schema })).ok).toBe(true);
  });

  it('a commit whose acknowledgement is lost: on reconnect the writer reads the chain head and neither loses nor repeats the batch', async () => {
    const schema = freshSchema();
    const proxy = await dropAfterInsert(db.server.port);
    try {
      const sink = await PostgresAuditSink.open({ connection: `postgres://postgres@127.0.0.1:${proxy.port}/postgres`, schema, chainId: 'p', checkpointIntervalMs: 0 });
      await sink.append(entry(1));
      proxy.arm(); // the next batch reaches the server and commits; its answer never comes back
      await Promise.all([sink.append(entry(2)), sink.append(entry(3))]);
      expect(proxy.dropped).toBe(1);
      // It did not commit: the connection dies before the batch runs, so the writer sends it again.
      const blocker = await lockEntries(db.server.url, schema);
      const pending = sink.append(entry(4));
      await new Promise((r) => setTimeout(r, 300));
      await sql(db.server.url, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sochdb-policy-audit' AND query LIKE 'COPY%'`);
      await blocker.release();
      await pending;
      await sink.append(entry(5));
      expect(sink.stats.reconnects).toBeGreaterThanOrEqual(2);
      await sink.close();
      const rows = await sql<{ seq: string; key: string }>(db.server.url, `SELECT seq, key FROM ${schema}.entries ORDER BY seq`);
      expect(rows.map((r) => [Number(r.seq), r.key])).toEqual([[1, 'k/1'], [2, 'k/2'], [3, 'k/3'], [4, 'k/4'], [5, 'k/5']]);
      expect((await verifyPostgresAudit(db.server.url, { schema })).ok).toBe(true);
    } finally {
      proxy.server.close();
    }
  });

  it('server killed and restarted mid-run: appends fail closed meanwhile, every acknowledged entry is there once, the chains verify', async () => {
    const schema = freshSchema();
    const sinks = await Promise.all(['k1', 'k2', 'k3'].map((id) => open(schema, id, { commitTimeoutMs: 3000, connectTimeoutMs: 1000 })));
    const acked = new Set<string>();
    const errors: string[] = [];
    let stop = false;
    let n = 0;
    const loops = sinks.flatMap((sink) =>
      Array.from({ length: 8 }, async () => {
        while (!stop) {
          const key = `${sink.chainId}/${n++}`;
          try {
            await sink.append({ ...entry(n), key });
            acked.add(key);
          } catch (error) {
            errors.push((error as AuditPostgresError).code ?? String(error));
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 500));
    const beforeKill = acked.size;
    await db.server.kill();
    // While it is down, the engine fails closed (audit_unavailable), or succeeds when told to fail open.
    const closedEngine = new PolicyEngine(new MemoryStore(), { auditSink: sinks[0]! });
    const err = await closedEngine.put(Buffer.from('k'), Buffer.from('v'), { agent_id: 'a' }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('audit_unavailable');
    const openEngine = new PolicyEngine(new MemoryStore(), { auditSink: sinks[1]!, auditFailure: 'open', onAuditError: () => {} });
    await openEngine.put(Buffer.from('k'), Buffer.from('v'), { agent_id: 'a' });
    await db.server.restart();
    const deadline = Date.now() + 30_000;
    const afterRestart = acked.size;
    while (acked.size < afterRestart + 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await Promise.all(loops);
    for (const s of sinks) await s.close();
    expect(beforeKill).toBeGreaterThan(0);
    expect(errors.length).toBeGreaterThan(0);
    expect(acked.size).toBeGreaterThan(afterRestart);
    const rows = await sql<{ key: string }>(db.server.url, `SELECT key FROM ${schema}.entries`);
    const keys = rows.map((r) => r.key);
    expect(new Set(keys).size).toBe(keys.length);
    const present = new Set(keys);
    expect([...acked].filter((k) => !present.has(k))).toEqual([]);
    const v = await verifyPostgresAudit(db.server.url, { schema });
    expect(v.ok).toBe(true);
  }, 120_000);

  it('4 processes × 64 concurrent appends: every entry recorded exactly once, every chain verifies', async () => {
    const schema = freshSchema();
    (await open(schema, 'setup', { checkpointOnClose: false })).close();
    const perLoop = 8;
    const results = await Promise.all(
      [0, 1, 2, 3].map(
        (p) =>
          new Promise<{ acked: number; failed: string[] }>((resolve, reject) => {
            const child = fork(join(here, 'fixtures', 'writer.worker.ts'), [], {
              cwd: join(here, '..'),
              execArgv: ['--import', 'tsx'],
              env: { ...process.env, WRITER_CONFIG: JSON.stringify({ url: db.server.url, schema, chainId: `proc-${p}`, concurrency: 64, perLoop }) },
            });
            child.once('message', (m) => resolve(m as { acked: number; failed: string[] }));
            child.once('exit', (code) => code !== 0 && reject(new Error(`writer ${p} exited with ${code}`)));
          }),
      ),
    );
    expect(results.flatMap((r) => r.failed)).toEqual([]);
    expect(results.map((r) => r.acked)).toEqual([512, 512, 512, 512]);
    const [{ n, distinct }] = await sql<{ n: string; distinct: string }>(db.server.url, `SELECT count(*) AS n, count(DISTINCT key) AS distinct FROM ${schema}.entries`);
    expect([Number(n), Number(distinct)]).toEqual([2048, 2048]);
    const v = await verifyPostgresAudit(db.server.url, { schema });
    expect(v.ok).toBe(true);
    expect(v.chains.filter((c) => c.chainId.startsWith('proc-')).map((c) => c.lastSeq)).toEqual([512, 512, 512, 512]);
  }, 120_000);
});

/** Holds a SHARE lock on the entries table (batches wait) until released. */
async function lockEntries(url: string, schema: string) {
  const pgm = await import('pg');
  const client = new pgm.default.Client(url);
  await client.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${schema}.entries IN SHARE MODE`);
  return {
    release: async () => {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

/**
 * A TCP proxy to the server that, once armed, lets the next batch (COPY) through, waits for it to
 * commit, and then cuts the connection without passing the answer on.
 */
async function dropAfterInsert(port: number): Promise<{ server: Server; port: number; arm(): void; dropped: number }> {
  const state = { armed: false, dropped: 0 };
  const server = createServer((client: Socket) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    let cut = false;
    let copying = false;
    client.on('data', (chunk) => {
      // The sink writes a batch as COPY FROM STDIN: the query, then (after the server's
      // CopyInResponse) the rows and CopyDone. Pass the rows on, and no answer after them.
      if (state.armed && chunk.includes('COPY ')) {
        copying = true;
        upstream.write(chunk);
        return;
      }
      if (state.armed && copying) {
        state.armed = false;
        cut = true;
        upstream.write(chunk);
        setTimeout(() => {
          state.dropped++;
          client.destroy();
          upstream.destroy();
        }, 500);
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!cut) client.write(chunk);
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const p = (server.address() as { port: number }).port;
  return {
    server,
    port: p,
    arm: () => (state.armed = true),
    get dropped() {
      return state.dropped;
    },
  };
}
