// The engine's decision fields in PostgreSQL rows: stored in their own columns, hashed exactly
// as the audit file's format 2 body (one verifier serves both), returned by query and entries,
// tamper-evident; tables and chains from before them keep working.
import { GENESIS_HASH, entryBody, headerBody, makeHasher } from '@sochdb-policy/audit-file/format';
import type { AuditEntry } from '@sochdb-policy/core';
import { describe, expect, it } from 'vitest';
import { AuditPostgresError, setupSql, verifyPostgresAudit } from '../src/index.js';
import type { EntryRow } from '../src/rows.js';
import { availability, entry, freshSchema, skipNote, sql, tamper, usePostgres, verifyChainAsFile } from './helpers.js';


/** One entry per decision field (and combinations), with the characters COPY and arrays escape. */
const decided: AuditEntry[] = [
  { ...entry(1), decisionId: '0190a3c4-0000-7000-8000-000000000001' },
  { ...entry(2), result: 'denied', decisionId: '0190a3c4-0000-7000-8000-000000000002', ruleId: 'no-system', appliedRules: ['no-system'] },
  { ...entry(3), ruleId: null, appliedRules: [] },
  { ...entry(4), appliedRules: ['a', 'b "quoted"', 'back\\slash', 'tab\there', 'new\nline', '{brace,comma}', 'NULL', ''] },
  { ...entry(5), shadowRuleId: 'shadow-1', shadowAction: 'deny' },
  { ...entry(6), shadowRuleId: 'shadow-2', shadowAction: 'modify' },
  { ...entry(7), ruleId: 'r', shadowRuleId: 'shadow-3', shadowAction: 'error' },
  { ...entry(8), batchId: '0190a3c4-0000-7000-8000-0000000000b1' },
  { ...entry(9), decisionId: 'd9', ruleId: 'r\\N', appliedRules: ['r\\N'], shadowRuleId: '\\N', shadowAction: 'deny', batchId: 'b\t9' },
  entry(10),
  // Strings PostgreSQL text cannot hold: the exact canonical body is stored beside readable columns.
  { ...entry(11), decisionId: 'nul\0id', ruleId: 'lone\uD800', appliedRules: ['ok', 'nul\0'], batchId: 'b\uDC00' },
];

describe.skipIf(!availability.available)(`audit-postgres decision fields on a real PostgreSQL${skipNote}`, () => {
  const db = usePostgres();

  const open = db.open;

  async function written(): Promise<string> {
    const schema = freshSchema('d');
    const sink = await open(schema, 'a');
    expect(sink.supports).toEqual({ stream: true, decisionFields: true });
    for (const e of decided) await sink.append(e);
    await sink.close();
    return schema;
  }

  it('each field round-trips through query, entries and the reader; absent fields stay absent; the chain verifies', async () => {
    const schema = await written();
    const sink = await open(schema, 'reader');
    try {
      expect(await sink.query({ limit: 100 })).toEqual(decided);
      const streamed: AuditEntry[] = [];
      for await (const e of sink.entries()) streamed.push(e);
      expect(streamed).toEqual(decided);
      // Absent is absent (not undefined-valued members), null ruleId is null.
      expect(Object.keys((await sink.query({ limit: 100 }))[9]!)).toEqual(Object.keys(entry(10)));
      expect((await sink.query({ limit: 100 }))[2]!.ruleId).toBeNull();
      // query by rule: entries decided by that rule (exact ids, also one text cannot hold).
      expect((await sink.query({ ruleId: 'no-system' })).map((e) => e.key)).toEqual(['k/2']);
      expect((await sink.query({ ruleId: 'r\\N' })).map((e) => e.key)).toEqual(['k/9']);
      expect((await sink.query({ ruleId: 'lone\uD800' })).map((e) => e.key)).toEqual(['k/11']);
      expect((await sink.query({ ruleId: 'lone\uFFFD' })).map((e) => e.key)).toEqual([]);
      const byRule: string[] = [];
      for await (const e of sink.entries({ ruleId: 'r' })) byRule.push(e.key);
      expect(byRule).toEqual(['k/7']);
    } finally {
      await sink.close();
    }
    const columns = await sql<EntryRow>(db.server.url, `SELECT * FROM ${schema}.entries WHERE chain_id = 'a' ORDER BY seq`);
    expect(columns[1]).toMatchObject({ decision_id: decided[1]!.decisionId, rule_id: 'no-system', rule_decided: true, applied_rules: ['no-system'], body: null });
    expect(columns[2]).toMatchObject({ rule_id: null, rule_decided: false, applied_rules: [] });
    expect(columns[3]!.applied_rules).toEqual(decided[3]!.appliedRules);
    expect(columns[9]).toMatchObject({ decision_id: null, rule_id: null, rule_decided: null, applied_rules: null, shadow_rule_id: null, shadow_action: null, batch_id: null });
    expect(columns[10]).toMatchObject({ decision_id: 'nul\uFFFDid', rule_id: 'lone\uFFFD', applied_rules: ['ok', 'nul\uFFFD'], batch_id: 'b\uFFFD' });
    expect(columns[10]!.body).not.toBeNull();
    const v = await verifyPostgresAudit(db.server.url, { schema });
    expect([v.ok, v.entries]).toEqual([true, decided.length]);
  });

  it("hashed as the audit file's format 2 body: the chain exported as lines passes the file verifier", async () => {
    const schema = await written();
    const { result } = await verifyChainAsFile(db.server.url, schema, 'a');
    expect(result).toMatchObject({ ok: true, entries: decided.length });
  });

  it('refuses decision fields the format cannot hold, naming the field', async () => {
    const sink = await open(freshSchema('d'), 'a');
    try {
      await expect(sink.append({ ...entry(1), decisionId: 7 } as never)).rejects.toThrow(/entry\.decisionId must be a string/);
      await expect(sink.append({ ...entry(1), ruleId: 7 } as never)).rejects.toThrow(/entry\.ruleId must be a string or null/);
      await expect(sink.append({ ...entry(1), appliedRules: ['a', 1] } as never)).rejects.toThrow(/entry\.appliedRules must be an array of strings/);
      await expect(sink.append({ ...entry(1), shadowAction: 'allow' } as never)).rejects.toThrow(/entry\.shadowAction must be one of deny, modify, error/);
      await expect(sink.append({ ...entry(1), batchId: {} } as never)).rejects.toThrow(/entry\.batchId must be a string/);
      expect(sink.head.seq).toBe(0);
    } finally {
      await sink.close();
    }
  });

  describe('verify detects a changed decision column', () => {
    const cases: [string, string, number][] = [
      ['decision_id', `decision_id = 'forged'`, 2],
      ['rule_id', `rule_id = 'allow-all'`, 2],
      ['rule_decided (a null ruleId made absent)', `rule_decided = NULL`, 3],
      ['applied_rules', `applied_rules = ARRAY['a']`, 4],
      ['shadow_action', `shadow_action = 'modify'`, 5],
      ['shadow_rule_id removed', `shadow_rule_id = NULL, shadow_action = NULL`, 6],
      ['batch_id', `batch_id = 'other-batch'`, 8],
      ['a decision field added to a row without one', `decision_id = 'added'`, 10],
      ['a stored body and its columns disagree', `rule_id = 'lone?'`, 11],
    ];
    for (const [name, set, seq] of cases) {
      it(name, async () => {
        const schema = await written();
        await tamper(db.server.url, [`UPDATE ${schema}.entries SET ${set} WHERE chain_id = 'a' AND seq = ${seq}`]);
        const v = await verifyPostgresAudit(db.server.url, { schema });
        expect(v.problem).toMatchObject({ chainId: 'a', seq, reason: 'edited' });
      });
    }
  });

  it('tables and chains from before the decision columns: read and verify as before; the setup migrates in place; old chains stay version 1', async () => {
    const schema = freshSchema('old');
    const s = `"${schema}"`;
    // The layout before this version: the setup SQL without the decision and version columns.
    await sql(db.server.url, setupSql(schema));
    await sql(db.server.url, `ALTER TABLE ${s}.entries DROP COLUMN decision_id, DROP COLUMN rule_id, DROP COLUMN rule_decided, DROP COLUMN applied_rules, DROP COLUMN shadow_rule_id, DROP COLUMN shadow_action, DROP COLUMN batch_id`);
    await sql(db.server.url, `ALTER TABLE ${s}.chains DROP COLUMN version`);
    // A chain written by the previous version: version 1 header, version 1 bodies.
    const hasher = makeHasher(undefined);
    let prev = hasher.text(headerBody('sha256', 0, GENESIS_HASH, 1));
    await sql(db.server.url, `INSERT INTO ${s}.chains (chain_id, alg, created_at) VALUES ('old', 'sha256', 0)`);
    for (let seq = 1; seq <= 3; seq++) {
      const e = entry(seq);
      const hash = hasher.text(entryBody(seq, e, prev, 1));
      await sql(db.server.url, `INSERT INTO ${s}.entries (chain_id, seq, ts, operation, key, agent_id, session_id, result, prev, hash) VALUES ('old', $1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
        seq, e.timestamp, e.operation, e.key, e.agentId, e.sessionId, e.result, prev, hash,
      ]);
      prev = hash;
    }
    // Read-only paths on the old layout (an auditor cannot migrate): verify and query work.
    expect(await verifyPostgresAudit(db.server.url, { schema })).toMatchObject({ ok: true, entries: 3 });
    // A writer without setup is told to migrate instead of failing on every batch.
    await expect(open(schema, 'old', { setup: false })).rejects.toMatchObject({ code: 'schema_outdated' });
    await expect(open(schema, 'old', { setup: false })).rejects.toBeInstanceOf(AuditPostgresError);

    const old = await open(schema, 'old');
    expect([old.version, old.supports.decisionFields, old.head.seq]).toEqual([1, false, 3]);
    expect(await old.query({})).toEqual([entry(1), entry(2), entry(3)]);
    // A version 1 chain keeps the seed fields only.
    await old.append({ ...entry(4), decisionId: 'd4', ruleId: 'r' });
    const fresh = await open(schema, 'new');
    expect([fresh.version, fresh.supports.decisionFields]).toEqual([2, true]);
    await fresh.append({ ...entry(5), decisionId: 'd5', ruleId: 'r' });
    expect(await fresh.query({})).toEqual([entry(1), entry(2), entry(3), entry(4), { ...entry(5), decisionId: 'd5', ruleId: 'r' }]);
    await old.close();
    await fresh.close();
    const v = await verifyPostgresAudit(db.server.url, { schema });
    expect(v).toMatchObject({ ok: true, entries: 5 });
    expect(v.chains.map((c) => [c.chainId, c.lastSeq])).toEqual([['new', 1], ['old', 4]]);

    // A version 1 chain cannot be given decision members afterwards.
    await tamper(db.server.url, [`UPDATE ${s}.entries SET decision_id = 'forged' WHERE chain_id = 'old' AND seq = 2`]);
    expect((await verifyPostgresAudit(db.server.url, { schema })).problem).toMatchObject({ chainId: 'old', seq: 2 });
  });
});
