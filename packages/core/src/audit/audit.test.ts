import { describe, expect, it } from 'vitest';
import { PolicyAction } from '../actions.js';
import { PolicyEngine } from '../engine.js';
import { MemoryAuditSink } from '../memory/memory-audit-sink.js';
import { MemoryStore } from '../memory/memory-store.js';
import { MemoryRateLimitStore } from '../memory/memory-rate-limit-store.js';

function setup() {
  let now = 1_000;
  const policy = new PolicyEngine(new MemoryStore(), { clock: () => now++ });
  return { policy };
}

describe('audit (A1–A4)', () => {
  it('A1: off until enableAudit, off again after disableAudit', async () => {
    const { policy } = setup();
    await policy.put('a', 'v');
    expect(await policy.getAuditLog()).toEqual([]);
    policy.enableAudit();
    await policy.put('b', 'v');
    policy.disableAudit();
    await policy.put('c', 'v');
    expect((await policy.getAuditLog()).map((e) => e.key)).toEqual(['b']);
  });

  it('A1: keeps the newest maxEntries; enableAudit again resizes keeping the newest', async () => {
    const { policy } = setup();
    policy.enableAudit({ maxEntries: 3 });
    for (const k of ['a', 'b', 'c', 'd', 'e']) await policy.put(k, 'v');
    expect((await policy.getAuditLog()).map((e) => e.key)).toEqual(['c', 'd', 'e']);
    policy.enableAudit({ maxEntries: 2 });
    expect((await policy.getAuditLog()).map((e) => e.key)).toEqual(['d', 'e']);
    expect(() => policy.enableAudit({ maxEntries: 0 })).toThrow(RangeError);
  });

  it('A2: one entry per operation with the seed fields and every result', async () => {
    const { policy } = setup();
    policy.enableAudit();
    policy.beforeWrite('deny', () => PolicyAction.DENY);
    policy.afterRead('hide', () => PolicyAction.DENY);
    policy.addRateLimit('delete', 1);
    await policy.put('ok', 'v', { agent_id: 'a', session_id: 's' });
    await policy.put('deny', 'v').catch(() => undefined);
    await policy.put('hide', 'v');
    await policy.get('hide');
    await policy.delete('ok');
    await policy.delete('ok').catch(() => undefined);
    const log = await policy.getAuditLog();
    expect(log.map((e) => [e.operation, e.key, e.result])).toEqual([
      ['write', 'ok', 'allowed'],
      ['write', 'deny', 'denied'],
      ['write', 'hide', 'allowed'],
      ['read', 'hide', 'redacted'],
      ['delete', 'ok', 'allowed'],
      ['delete', 'ok', 'rate_limited'],
    ]);
    expect(log[0]).toEqual({
      timestamp: 1_000,
      operation: 'write',
      key: 'ok',
      agentId: 'a',
      sessionId: 's',
      result: 'allowed',
      // Decision fields (docs/policy-documents.md): no hook matched `ok`, so none decided.
      decisionId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7/),
      ruleId: null,
      appliedRules: [],
    });
    expect(log[1]).toMatchObject({ ruleId: 'hook-0', appliedRules: ['hook-0'] });
    expect(log[1]!.agentId).toBeNull();
  });

  it('A3: filters first, then takes the newest limit, oldest first', async () => {
    const { policy } = setup();
    policy.enableAudit();
    for (let i = 0; i < 10; i++) await policy.put(`k${i}`, 'v', { agent_id: i % 2 ? 'odd' : 'even' });
    for (let i = 0; i < 50; i++) await policy.get('k0', { agent_id: 'reader' });
    const odd = await policy.getAuditLog({ limit: 3, agentId: 'odd' });
    expect(odd.map((e) => e.key)).toEqual(['k5', 'k7', 'k9']);
    const writes = await policy.getAuditLog({ limit: 100, operation: 'write' });
    expect(writes).toHaveLength(10);
    expect((await policy.getAuditLog()).length).toBe(60);
    expect((await policy.getAuditLog({ limit: 1 }))[0]!.operation).toBe('read');
  });

  it('A4: timestamps come from the engine clock and keep order', async () => {
    const { policy } = setup();
    policy.enableAudit();
    await policy.put('a', 'v');
    await policy.put('b', 'v');
    const [x, y] = await policy.getAuditLog();
    expect(x!.timestamp).toBeLessThan(y!.timestamp);
  });

  it('rejects bad queries', async () => {
    const { policy } = setup();
    await expect(policy.getAuditLog({ limit: -1 })).rejects.toThrow(/limit must be a non-negative integer/);
    await expect(policy.getAuditLog({ operation: 'writes' as never })).rejects.toThrow(/operation must be one of/);
    await expect(policy.getAuditLog({ agentId: 5 as never })).rejects.toThrow(/agentId must be a string/);
  });
});

// The contract suites run on MemoryStore, MemoryAuditSink and MemoryRateLimitStore in
// @sochdb-policy/testing (packages/testing/src/suites.test.ts).

describe('MemoryAuditSink', () => {
  it('wraps around keeping the newest entries', () => {
    const sink = new MemoryAuditSink({ maxEntries: 2 });
    for (let i = 0; i < 5; i++) sink.append({ timestamp: i, operation: 'read', key: `k${i}`, agentId: null, sessionId: null, result: 'allowed' });
    expect(sink.query({}).map((e) => e.key)).toEqual(['k3', 'k4']);
    expect(sink.size).toBe(2);
  });
});
