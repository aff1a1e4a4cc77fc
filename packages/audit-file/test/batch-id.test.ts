import { MemoryStore, PolicyAction, PolicyEngine } from '@sochdb-policy/core';
import { readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileAuditSink, queryAuditLog, readAuditLog, verifyAuditLog } from '../src/index.js';
import { entryBody, GENESIS_HASH, headerBody, lineOf, parseLine } from '../src/record.js';
import { makeHasher } from '../src/hasher.js';
import { checkLine } from '../src/read/scan-line.js';
import { entry, readLines, rehash, requireBuilt, runCli, tmpLog, writeLines } from './helpers.js';

// The engine's batchId (one id on every entry of one policy.batch or policy.scan call) is
// the format 2 member batch_id, the last of the decision members.
const BATCH = '018bcfe5-6805-7000-8000-0000000000b1';
const OTHER = '018bcfe5-6805-7000-8000-0000000000b2';
const decided = (i: number, batchId?: string) => entry(i, { decisionId: `018bcfe5-6805-7000-8000-${String(i).padStart(12, '0')}`, ruleId: null, appliedRules: [], ...(batchId === undefined ? {} : { batchId }) });

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('batch_id (format 2)', () => {
  it('is written last among the decision members, only when present, and reads back through query, entries and readAuditLog', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    const written = [decided(1, BATCH), decided(2, BATCH), decided(3), entry(4, { batchId: OTHER }), { ...decided(5, OTHER), shadowRuleId: 'strict', shadowAction: 'deny' as const }];
    for (const e of written) await sink.append(e);
    expect(await sink.query()).toEqual(written);
    expect(await collect(sink.entries())).toEqual(written);
    await sink.close();

    const lines = readLines(path);
    expect(lines[1]).toContain(`"applied_rules":[],"batch_id":"${BATCH}","prev":`);
    expect(lines[3]).not.toContain('batch_id');
    // Without other decision members it follows the seed fields directly.
    expect(lines[4]).toContain(`"result":"allowed","batch_id":"${OTHER}","prev":`);
    expect(lines[5]).toContain(`"shadow_action":"deny","batch_id":"${OTHER}","prev":`);
    // The line is what entryBody writes (audit-postgres hashes rows with it).
    const body = entryBody(1, written[0]!, JSON.parse(lines[0]!).hash, 2);
    expect(lines[1]).toBe(lineOf(body, makeHasher(undefined).text(body)).slice(0, -1));
    expect(entryBody(1, written[0]!, GENESIS_HASH)).not.toContain('batch_id'); // version 1 bodies have no decision members

    expect((await queryAuditLog(path)).map((r) => r.batchId)).toEqual([BATCH, BATCH, undefined, OTHER, OTHER]);
    expect((await collect(readAuditLog(path, { order: 'desc' }))).map((r) => [r.seq, r.batchId])).toEqual([
      [5, OTHER],
      [4, OTHER],
      [3, undefined],
      [2, BATCH],
      [1, BATCH],
    ]);
    const reopened = await FileAuditSink.open(path);
    expect(await reopened.query({ limit: 2 })).toEqual(written.slice(3));
    await reopened.close();
  });

  it('verifies in a chain across rotated files, with and without HMAC; the fast path and the parser agree', async () => {
    for (const hmacKey of [undefined, 'k3y']) {
      const { path } = tmpLog();
      const sink = await FileAuditSink.open(path, { maxBytes: 2048, hmacKey });
      for (let i = 1; i <= 60; i++) await sink.append(decided(i, i % 3 === 0 ? undefined : `batch-${Math.floor(i / 10)}`));
      await sink.close();
      const r = await verifyAuditLog(path, { hmacKey });
      expect(r).toMatchObject({ ok: true, entries: 60, lastSeq: 60 });
      expect(r.files).toBeGreaterThan(3);
      const hasher = makeHasher(hmacKey === undefined ? undefined : Buffer.from(hmacKey));
      for (const line of readLines(path).slice(1)) {
        const bytes = Buffer.from(line);
        const ref = parseLine(bytes, hasher);
        expect(ref).toMatchObject({ ok: true, hashOk: true });
        expect(checkLine(bytes, hasher)).toMatchObject({ ok: true, hashOk: true, record: { v2: true } });
      }
    }
  });

  it('an edited batch_id breaks the chain (edited), and the log reads back what was written', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    for (let i = 1; i <= 5; i++) await sink.append(decided(i, BATCH));
    await sink.close();
    const lines = readLines(path);
    lines[3] = lines[3]!.replace(BATCH, OTHER);
    writeLines(path, lines);
    expect(await verifyAuditLog(path)).toMatchObject({ ok: false, problem: { reason: 'edited', seq: 3 } });
  });

  it('refuses an entry whose batchId is not a string, naming the field; nothing is written', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    for (const bad of [42, null, ['b'], { id: 'b' }]) {
      await expect(sink.append(entry(1, { batchId: bad as never }))).rejects.toThrow(new TypeError(`entry.batchId must be a string, got ${bad === null ? 'null' : typeof bad === 'number' ? '42' : Array.isArray(bad) ? 'an array' : 'an object'}`));
    }
    expect(sink.lastSeq).toBe(0);
    await sink.append(entry(1, { batchId: '' })); // any string, the empty one too
    expect(await sink.query()).toEqual([entry(1, { batchId: '' })]);
    await sink.close();
  });

  it('verify rejects a batch_id that is not a string (malformed, even rehashed), and one in a version 1 file', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    for (let i = 1; i <= 4; i++) await sink.append(decided(i, BATCH));
    await sink.close();
    const good = readLines(path);
    for (const value of ['42', 'null', `["${BATCH}"]`, '{}']) {
      const lines = [...good];
      lines[2] = rehash(lines[2]!.replace(`"${BATCH}"`, value));
      writeLines(path, lines);
      expect(parseLine(Buffer.from(lines[2]!), makeHasher(undefined))).toMatchObject({ ok: false, problem: 'malformed' });
      expect(await verifyAuditLog(path)).toMatchObject({ ok: false, problem: { reason: 'malformed', seq: 2 } });
      // Readers that trust the file skip such a line rather than return a bad batchId.
      expect((await queryAuditLog(path)).map((r) => r.seq)).toEqual([1, 3, 4]);
    }

    // A version 1 file may hold no decision member, batch_id included.
    const v1 = tmpLog().path;
    const hasher = makeHasher(undefined);
    const header = headerBody('sha256', 0, GENESIS_HASH, 1);
    const headerLine = lineOf(header, hasher.text(header));
    const body = entryBody(1, entry(1, { batchId: BATCH }), hasher.text(header), 2);
    writeFileSync(v1, headerLine + lineOf(body, hasher.text(body)));
    expect(await verifyAuditLog(v1)).toMatchObject({ ok: false, problem: { reason: 'malformed', seq: 1 } });
  });

  it('policy.batch and policy.scan through the engine: every entry of one call comes back with one shared batchId', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink });
    await policy.put('solo', '0', { agent_id: 'a1' });
    await policy.batch(
      [
        { type: 'put', key: 'orders/1', value: 'x' },
        { type: 'put', key: 'orders/2', value: 'y' },
        { type: 'del', key: 'drafts/1' },
      ],
      { agent_id: 'a1' },
    );
    policy.beforeWrite('system/*', () => PolicyAction.DENY, { id: 'no-system' });
    await expect(
      policy.batch([
        { type: 'put', key: 'orders/3', value: 'z' },
        { type: 'put', key: 'system/x', value: 'z' },
      ]),
    ).rejects.toMatchObject({ code: 'denied', index: 1 });
    const scan = policy.scan({ prefix: 'orders/' });
    expect((await collect(scan)).length).toBe(2);
    await sink.close();

    const log = await queryAuditLog(path);
    expect(log.map((e) => [e.key, e.result])).toEqual([
      ['solo', 'allowed'],
      ['orders/1', 'allowed'],
      ['orders/2', 'allowed'],
      ['drafts/1', 'allowed'],
      ['orders/3', 'denied'],
      ['system/x', 'denied'],
      ['orders/1', 'allowed'],
      ['orders/2', 'allowed'],
    ]);
    expect(log[0]!.batchId).toBeUndefined();
    const first = log[1]!.batchId;
    const refused = log[4]!.batchId;
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(log.slice(1, 4).map((e) => e.batchId)).toEqual([first, first, first]);
    expect(log.slice(4, 6).map((e) => e.batchId)).toEqual([refused, refused]);
    expect(log.slice(6).map((e) => e.batchId)).toEqual([scan.batchId, scan.batchId]);
    expect(new Set([first, refused, scan.batchId]).size).toBe(3);
    // Each operation keeps its own decision id.
    expect(new Set(log.map((e) => e.decisionId)).size).toBe(8);
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: 8 });
  });
});

describe('batch_id in the CLI', () => {
  beforeAll(() => requireBuilt());

  it('--json prints batch_id last among the decision members; the table has a BATCH column', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    await sink.append(decided(1, BATCH));
    await sink.append(decided(2));
    await sink.close();
    const json = (await runCli(['query', '--json', path])).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(json[0]!)).toEqual(['seq', 'timestamp', 'operation', 'key', 'agent_id', 'session_id', 'result', 'decision_id', 'rule_id', 'applied_rules', 'batch_id', 'hash']);
    expect(json[0]!.batch_id).toBe(BATCH);
    expect(json[1]).not.toHaveProperty('batch_id');
    const table = (await runCli(['query', path])).stdout.trim().split('\n');
    expect(table[0]).toMatch(/\sDECISION\s+BATCH\s+KEY$/);
    expect(table[1]).toMatch(new RegExp(`\\s${BATCH}\\s+users/u1/doc$`));
    expect(table[2]).toMatch(/[0-9a-f]\s+-\s+users\/u2\/doc$/);
    expect(readFileSync(path, 'utf8')).toContain(`"batch_id":"${BATCH}"`);
  });
});
