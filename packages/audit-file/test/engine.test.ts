import { MemoryStore, PolicyAction, PolicyEngine, PolicyViolation } from '@sochdb-policy/core';
import { spawnSync } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { AuditFileError, FileAuditSink, verifyAuditLog } from '../src/index.js';
import { FIXTURES, PKG_DIR, requireBuilt, tmpLog } from './helpers.js';

describe('PolicyEngine with a FileAuditSink', () => {
  it('sends every decision to the file; getAuditLog and a reopened sink read it back (rules A2, A3)', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    let now = 1_000;
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink, clock: () => now++ });
    expect(policy.auditEnabled).toBe(true);
    policy.beforeWrite('system/*', () => PolicyAction.DENY);
    await policy.put('users/alice', 'hello', { agent_id: 'a1', session_id: 's1' });
    await expect(policy.put('system/config', 'x', { agent_id: 'a2' })).rejects.toMatchObject({ code: 'denied' });
    expect((await policy.get('users/alice', { agent_id: 'a1' }))?.toString()).toBe('hello');
    await policy.delete('users/alice');
    // Format 2 keeps the engine's decision fields: the file returns what the engine wrote.
    const decision = (ruleId: string | null) => ({ decisionId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7/), ruleId, appliedRules: ruleId === null ? [] : [ruleId] });
    const expected = [
      { timestamp: 1_000, operation: 'write', key: 'users/alice', agentId: 'a1', sessionId: 's1', result: 'allowed', ...decision(null) },
      { timestamp: 1_001, operation: 'write', key: 'system/config', agentId: 'a2', sessionId: null, result: 'denied', ...decision('hook-0') },
      { timestamp: 1_002, operation: 'read', key: 'users/alice', agentId: 'a1', sessionId: null, result: 'allowed', ...decision(null) },
      { timestamp: 1_003, operation: 'delete', key: 'users/alice', agentId: null, sessionId: null, result: 'allowed', ...decision(null) },
    ];
    expect(await policy.getAuditLog()).toEqual(expected);
    // getAuditLog({ ruleId }) filters on the file sink as on the in-memory log.
    expect(await policy.getAuditLog({ ruleId: 'hook-0' })).toEqual([expected[1]]);
    expect(await policy.getAuditLog({ ruleId: 'no-such-rule' })).toEqual([]);
    const streamed = [];
    for await (const e of sink.entries({ ruleId: 'hook-0' })) streamed.push(e);
    expect(streamed).toEqual([expected[1]]);
    expect(await policy.getAuditLog({ agentId: 'a1', limit: 1 })).toEqual([expected[2]]);
    await sink.close();

    const reopened = await FileAuditSink.open(path);
    expect(await reopened.query({})).toEqual(expected);
    expect(await new PolicyEngine(new MemoryStore(), { auditSink: reopened }).getAuditLog({ result: 'denied' })).toEqual([expected[1]]);
    await reopened.close();
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: 4 });
  });

  it('a batch and a nextv scan hand their entries to the file together: a few fsyncs, not one per key (durability always)', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path, { durability: 'always' });
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink });
    const keys = Array.from({ length: 200 }, (_, i) => `users/${String(i).padStart(3, '0')}`);
    let fsyncs = sink.stats.fsyncs;
    await policy.batch(keys.map((key) => ({ type: 'put' as const, key, value: 'v' })), { agent_id: 'a1' });
    expect(sink.stats.fsyncs - fsyncs).toBeLessThanOrEqual(2);
    fsyncs = sink.stats.fsyncs;
    const scan = policy.scan({ prefix: 'users/' }, { agent_id: 'a1' });
    expect(await scan.nextv(200)).toHaveLength(200);
    // The store is read in chunks (64, 128, ...): entries are committed at most once per chunk.
    expect(sink.stats.fsyncs - fsyncs).toBeLessThanOrEqual(4);
    await scan.close();
    const log = await policy.getAuditLog({ limit: 400 });
    expect(log.map((e) => [e.operation, e.key])).toEqual([...keys.map((k) => ['write', k]), ...keys.map((k) => ['read', k])]);
    await sink.close();
    expect((await verifyAuditLog(path)).ok).toBe(true);
  });

  it('fails the operation with audit_unavailable when the file was removed, and keeps failing', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink });
    await policy.put('a', '1');
    rmSync(path);
    const error = await policy.put('b', '2').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PolicyViolation);
    expect(error).toMatchObject({ code: 'audit_unavailable', operation: 'write', key: 'b' });
    expect((error as PolicyViolation).cause).toBeInstanceOf(AuditFileError);
    expect((error as PolicyViolation).cause).toMatchObject({ code: 'file_removed' });
    // The sink does not pretend later entries land anywhere.
    await expect(policy.get('a')).rejects.toMatchObject({ code: 'audit_unavailable', cause: { code: 'failed' } });
    await sink.close();
  });

  it("with auditFailure 'open', the operation succeeds and onAuditError gets the error", async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    const onAuditError = vi.fn();
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink, auditFailure: 'open', onAuditError });
    rmSync(path);
    await policy.put('k', 'v', { agent_id: 'a' });
    expect((await policy.get('k'))?.toString()).toBe('v');
    expect(onAuditError).toHaveBeenCalledTimes(2);
    expect(onAuditError.mock.calls[0]![0]).toMatchObject({ code: 'file_removed' });
    expect(onAuditError.mock.calls[0]![1]).toMatchObject({ key: 'k', operation: 'write', agentId: 'a' });
    await sink.close();
  });

  it('a closed sink fails operations closed', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink });
    await sink.close();
    await expect(policy.put('k', 'v')).rejects.toMatchObject({ code: 'audit_unavailable', cause: { code: 'closed' } });
  });

  it('when the disk refuses writes (file size limit, EFBIG), operations fail with audit_unavailable and none is reported done without its entry', () => {
    requireBuilt();
    const { path } = tmpLog();
    // ulimit -f counts 1 KiB blocks: the log may grow to 16 KiB, about 40 entries.
    const run = spawnSync('bash', ['-c', 'ulimit -f 16 && exec "$0" "$@"', process.execPath, join(FIXTURES, 'disk-full.mjs'), path, '80'], {
      encoding: 'utf8',
      cwd: PKG_DIR,
      timeout: 30_000,
    });
    expect(run.stderr).toBe('');
    const ops = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; ok: boolean; code?: string; causeCode?: string; errno?: string });
    expect(ops).toHaveLength(80);
    const firstFail = ops.findIndex((o) => !o.ok);
    expect(firstFail).toBeGreaterThan(10);
    // From the first refusal on, nothing succeeds: the file is full.
    for (const o of ops.slice(firstFail)) expect(o).toMatchObject({ ok: false, code: 'audit_unavailable', causeCode: 'io', errno: 'EFBIG' });
    expect(statSync(path).size).toBeLessThanOrEqual(16 * 1024);
    return (async () => {
      // Every operation reported done is in the log; none of the failed ones is; the chain is whole.
      const result = await verifyAuditLog(path);
      expect(result).toMatchObject({ ok: true, lastSeq: firstFail });
      const sink = await FileAuditSink.open(path);
      const keys = (await sink.query({ limit: 1000 })).map((e) => e.key);
      expect(keys).toEqual(ops.slice(0, firstFail).map((o) => o.key));
      expect(sink.recovery.movedAside).toEqual([]);
      await sink.close();
    })();
  });
});
