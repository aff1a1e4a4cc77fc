import { describe, expect, it } from 'vitest';
import { MemoryRateLimitStore, MemoryStore } from 'sochdb-policy';
import { combinations, STORAGE_ADAPTERS, RATE_LIMIT_ADAPTERS, AUDIT_ADAPTERS } from '../src/adapters.js';
import type { Case } from '../src/case-types.js';
import { executeCase, sizesAuditLog } from '../src/execute.js';
import { patternCase } from '../src/load.js';

const env = () => ({ store: new MemoryStore(), rateLimitStore: new MemoryRateLimitStore(), auditSink: undefined });

const seedCase: Case = {
  id: 'probe/seed',
  description: 'seed quick start',
  rules: ['H5', 'R3', 'A2'],
  setup: {
    hooks: [{ trigger: 'before_write', pattern: 'system/*', handler: { if: { context: 'agent_id', is: 'present' }, then: { return: 'deny' } } }],
    rate_limits: [{ operation: 'write', max_per_minute: 2, scope: 'agent_id' }],
    audit: true,
  },
  steps: [
    { op: 'put', key: 'system/config', value: 'x', context: { agent_id: 'rogue' }, expect: { violation: { code: 'denied', message: 'Write blocked by policy' } } },
    { op: 'put', key: 'users/alice', value: 'data', context: { agent_id: 'rogue' }, expect: { ok: true } },
    { op: 'put', key: 'users/bob', value: 'data', context: { agent_id: 'rogue' }, expect: { violation: { code: 'rate_limited' } } },
    { op: 'advance_clock', ms: 30_000 },
    { op: 'put', key: 'users/bob', value: 'data', context: { agent_id: 'rogue' }, expect: { ok: true } },
    { op: 'raw_get', key: 'system/config', expect: { value: null } },
    {
      op: 'audit',
      query: { limit: 2 },
      expect: {
        entries: [
          { operation: 'write', key: 'users/bob', agent_id: 'rogue', session_id: null, result: 'rate_limited' },
          { operation: 'write', key: 'users/bob', agent_id: 'rogue', session_id: null, result: 'allowed' },
        ],
      },
    },
  ],
};

describe('executeCase', () => {
  it('passes a case whose expectations hold', async () => {
    expect(await executeCase(seedCase, env())).toBeUndefined();
  });

  it('reports the first step whose expectation does not hold', async () => {
    const wrong: Case = { ...seedCase, steps: seedCase.steps.map((s, i) => (i === 2 ? { ...s, expect: { ok: true } } : s)) as Case['steps'] };
    expect(await executeCase(wrong, env())).toMatch(/^step 3 \(put "users\/bob" \{"agent_id":"rogue"\}\): expected success, got PolicyViolation\(rate_limited/);
  });

  it('reports wrong audit entries and wrong calls', async () => {
    const audit: Case = { ...seedCase, steps: [...seedCase.steps.slice(0, -1), { op: 'audit', query: { limit: 1 }, expect: { entries: [] } }] };
    expect(await executeCase(audit, env())).toMatch(/^step 7 \(audit\): expected audit entries \[\]/);
    const calls = patternCase({ id: 'probe/p', rules: ['P2'], pattern: 'system/*', key: 'system/config', matches: false });
    expect(await executeCase(calls, env())).toBe('step 1 (get "system/config"): expected calls [], got ["hook"]');
  });

  it('reports a setup that cannot be applied', async () => {
    const bad: Case = { ...seedCase, setup: { hooks: [{ trigger: 'before_write', pattern: '', handler: { return: 'deny' } }] } };
    expect(await executeCase(bad, env())).toMatch(/^setup failed: RangeError/);
  });

  it('knows which cases size the audit log (not applicable to a sink of their own)', () => {
    expect(sizesAuditLog(seedCase)).toBe(false);
    expect(sizesAuditLog({ ...seedCase, setup: { audit: { max_entries: 3 } } })).toBe(true);
    expect(sizesAuditLog({ ...seedCase, steps: [{ op: 'enable_audit', max_entries: 3 }] })).toBe(true);
  });
});

describe('combinations', () => {
  it('is every storage × rate-limit × audit adapter, with unique names', () => {
    const all = combinations();
    expect(all).toHaveLength(STORAGE_ADAPTERS.length * RATE_LIMIT_ADAPTERS.length * AUDIT_ADAPTERS.length);
    expect(new Set(all.map((c) => c.name)).size).toBe(all.length);
    expect(all.map((c) => c.name)).toContain('storage=rocksdb rate-limits=memory audit=memory');
  });
});
