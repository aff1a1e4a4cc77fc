import { runAuditSinkSuite } from '@sochdb-policy/testing';
import { MemoryStore, PolicyEngine } from '@sochdb-policy/core';
import { runConformance, type AuditAdapter } from '@sochdb-policy/conformance';
import type { AuditEntry, AuditQuery, AuditSink } from '@sochdb-policy/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresAuditSink, verifyPostgresAudit } from '../src/index.js';
import { startPostgresServer, type PostgresServer } from '../src/testing/index.js';
import { availability, freshSchema, skipNote } from './helpers.js';

let server: PostgresServer;

describe.skipIf(!availability.available)(`PostgresAuditSink on a real PostgreSQL${skipNote}`, () => {
  beforeAll(async () => {
    server = await startPostgresServer();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  const open = (schema: string, chainId = 'writer-1') => PostgresAuditSink.open({ connection: server.url, schema, chainId, checkpointIntervalMs: 0 });
  const schemas = new WeakMap<AuditSink, string>();

  runAuditSinkSuite<PostgresAuditSink>({
    name: 'PostgresAuditSink',
    factory: async () => {
      const schema = freshSchema();
      const sink = await open(schema);
      schemas.set(sink, schema);
      return sink;
    },
    supports: { stream: true, decisionFields: true },
    reopen: async (sink) => {
      await sink.close();
      const again = await open(sink.schema, sink.chainId);
      return again;
    },
  });

  it('every conformance case with audit=postgres', async () => {
    const lines: string[] = [];
    const report = await runConformance({ audit: [postgresAdapter(() => server.url)] }, { log: (l) => lines.push(l) });
    expect(lines.filter((l) => l.startsWith('FAIL') || l.includes('✗'))).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.combinations.map((c) => c.name)).toEqual(['storage=memory rate-limits=memory audit=postgres']);
  }, 180_000);

  it('the engine audits through it and getAuditLog reads it back; the chain verifies', async () => {
    const schema = freshSchema();
    const sink = await open(schema);
    const engine = new PolicyEngine(new MemoryStore(), { auditSink: sink });
    await engine.put(Buffer.from('users/alice'), Buffer.from('x'), { agent_id: 'a1', session_id: 's1' });
    await engine.get(Buffer.from('users/alice'), { agent_id: 'a2' });
    const log = await engine.getAuditLog({ limit: 10 });
    expect(log.map((e) => [e.operation, e.key, e.agentId, e.result])).toEqual([
      ['write', 'users/alice', 'a1', 'allowed'],
      ['read', 'users/alice', 'a2', 'allowed'],
    ]);
    await sink.close();
    const v = await verifyPostgresAudit(server.url, { schema });
    expect(v.ok).toBe(true);
    expect(v.entries).toBe(2);
    expect(v.checkpoints).toBe(1);
  });
});

/**
 * The conformance adapter: each case gets its own schema, created only when the case first
 * touches the audit log (most cases never do, and a schema costs a few DDL statements).
 */
function postgresAdapter(url: () => string): AuditAdapter {
  return {
    name: 'postgres',
    sizedLog: false,
    async start() {
      return {
        open: async () => lazySink(() => PostgresAuditSink.open({ connection: url(), schema: freshSchema('conf'), chainId: 'case', checkpointIntervalMs: 0, checkpointOnClose: false })),
        close: async () => {},
      };
    },
  };
}

function lazySink(open: () => Promise<PostgresAuditSink>): AuditSink {
  let sink: Promise<PostgresAuditSink> | undefined;
  const get = () => (sink ??= open());
  return {
    append: async (e: AuditEntry) => (await get()).append(e),
    query: async (q: AuditQuery) => (await get()).query(q),
    close: async () => {
      if (sink !== undefined) await (await sink).close();
    },
  };
}
