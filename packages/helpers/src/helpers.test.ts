import { MemoryStore, PolicyAction, PolicyEngine, PolicyViolation } from '@sochdb-policy/core';
import { describe, expect, it } from 'vitest';
import { allowAll, denyAll, logAndAllow, redactValue, requireAgentId } from './index.js';

const engine = () => new PolicyEngine(new MemoryStore());

describe('helpers (X1, X2)', () => {
  it('X2: denyAll, allowAll and requireAgentId are handlers themselves, as in the seed', async () => {
    const policy = engine();
    policy.beforeWrite('readonly/*', denyAll);
    policy.beforeWrite('agents/*', requireAgentId);
    policy.beforeWrite('open/*', allowAll);
    await expect(policy.put('readonly/x', 'v', { agent_id: 'a' })).rejects.toBeInstanceOf(PolicyViolation);
    await expect(policy.put('agents/x', 'v')).rejects.toMatchObject({ code: 'denied' });
    await expect(policy.put('agents/x', 'v', { agent_id: '' })).rejects.toMatchObject({ code: 'denied' });
    await policy.put('agents/x', 'v', { agent_id: 'a' });
    await policy.put('open/x', 'v');
  });

  it('X1: allowAll lets later hooks run', async () => {
    const policy = engine();
    policy.beforeWrite('k', allowAll);
    policy.beforeWrite('k', denyAll);
    await expect(policy.put('k', 'v')).rejects.toMatchObject({ code: 'denied' });
  });

  it('X1: redactValue replaces the value with [REDACTED] by default, or the replacement given', async () => {
    const policy = engine();
    await policy.put('secrets/a', 'sk-1');
    await policy.put('pii/a', 'x');
    policy.afterRead('secrets/*', redactValue());
    policy.afterRead('pii/*', redactValue(Buffer.from('***')));
    expect((await policy.get('secrets/a'))!.toString()).toBe('[REDACTED]');
    expect((await policy.get('pii/a'))!.toString()).toBe('***');
    expect(() => redactValue(5 as never)).toThrow(/replacement must be/);
  });

  it('X1: logAndAllow logs `Operation on <key>` and allows (LOG acts as ALLOW, K1)', async () => {
    const lines: string[] = [];
    const policy = engine();
    policy.beforeWrite('**', logAndAllow({ info: (m) => void lines.push(m) }));
    await policy.put('users/alice', 'v');
    expect(lines).toEqual(['Operation on users/alice']);
    const handler = logAndAllow({ info: () => undefined });
    expect(handler({ keyText: 'k' } as never)).toBe(PolicyAction.LOG);
    expect(() => logAndAllow({} as never)).toThrow(/logger must have an info/);
  });
});
