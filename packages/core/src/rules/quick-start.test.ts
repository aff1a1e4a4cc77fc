import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PolicyAction } from '../actions.js';
import { PolicyEngine } from '../engine.js';
import { PolicyViolation } from '../errors.js';
import { MemoryStore } from '../memory/memory-store.js';
import { readDocumentFile } from './document.js';

const YAML = fileURLToPath(new URL('../../../../docs/examples/quick-start.policy.yaml', import.meta.url));

/** docs/examples/quick-start.ts, in code. */
function codeVersion(policy: PolicyEngine): void {
  policy.beforeWrite('system/*', (ctx) => (ctx.agentId ? PolicyAction.DENY : PolicyAction.ALLOW));
  policy.beforeDelete('system/*', (ctx) => (ctx.agentId ? PolicyAction.DENY : PolicyAction.ALLOW));
  policy.afterRead('users/*/email', (ctx) => (ctx.get('redact_pii') ? Buffer.from('[REDACTED]') : PolicyAction.ALLOW));
  policy.afterRead('secrets/*', () => Buffer.from('[REDACTED]'));
  policy.addRateLimit('write', { maxPerMinute: 3, scope: 'agent_id' });
  policy.enableAudit({ maxEntries: 10_000 });
}

async function script(policy: PolicyEngine): Promise<string[]> {
  const out: string[] = [];
  const attempt = async (label: string, op: () => Promise<unknown>) => {
    try {
      const result = await op();
      out.push(`${label}: ok ${Buffer.isBuffer(result) ? result.toString() : ''}`);
    } catch (error) {
      if (!(error instanceof PolicyViolation)) throw error;
      out.push(`${label}: ${error.code}`);
    }
  };
  await attempt('put users/alice', () => policy.put(Buffer.from('users/alice'), Buffer.from('data'), { agent_id: 'agent_001' }));
  await attempt('put system/config by agent', () => policy.put('system/config', 'malicious', { agent_id: 'rogue' }));
  await attempt('put system/config by operator', () => policy.put('system/config', 'v2', {}));
  await attempt('delete system/config by agent', () => policy.delete('system/config', { agent_id: 'rogue' }));
  await attempt('put users/alice/email', () => policy.put('users/alice/email', 'alice@example.com', { agent_id: 'agent_001' }));
  await attempt('get users/alice/email', () => policy.get('users/alice/email', { agent_id: 'agent_002' }));
  await attempt('get users/alice/email, redact_pii', () => policy.get('users/alice/email', { agent_id: 'agent_002', redact_pii: 'true' }));
  await attempt('put secrets/api-key', () => policy.put('secrets/api-key', 'sk-123', { agent_id: 'agent_001' }));
  await attempt('get secrets/api-key', () => policy.get('secrets/api-key', { agent_id: 'agent_001' }));
  await attempt('put users/bob (4th write of agent_001)', () => policy.put('users/bob', 'data', { agent_id: 'agent_001' }));
  await attempt('put users/bob by agent_002', () => policy.put('users/bob', 'data', { agent_id: 'agent_002' }));
  for (const e of await policy.getAuditLog({ limit: 100 })) out.push(`audit ${e.operation} ${e.key} ${e.agentId} ${e.result}`);
  return out;
}

describe('the seed quick start as a YAML document (docs/examples/quick-start.policy.yaml)', () => {
  it('gives the same results and audit log as the code version', async () => {
    const fromCode = new PolicyEngine(new MemoryStore(), { clock: () => 1_000 });
    codeVersion(fromCode);
    const fromYaml = new PolicyEngine(new MemoryStore(), { clock: () => 1_000 });
    fromYaml.load(await readDocumentFile(YAML));
    const expected = await script(fromCode);
    expect(await script(fromYaml)).toEqual(expected);
    // And the script really exercises every rule.
    expect(expected).toContain('put system/config by agent: denied');
    expect(expected).toContain('delete system/config by agent: denied');
    expect(expected).toContain('get users/alice/email, redact_pii: ok [REDACTED]');
    expect(expected).toContain('get users/alice/email: ok alice@example.com');
    expect(expected).toContain('get secrets/api-key: ok [REDACTED]');
    expect(expected).toContain('put users/bob (4th write of agent_001): rate_limited');
    const denied = await fromYaml.getAuditLog({ ruleId: 'block-system-writes' });
    expect(denied.map((e) => e.key)).toEqual(['system/config']);
  });
});
