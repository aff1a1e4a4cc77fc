import { describe, expect, it } from 'vitest';
import { keyText, keyTextOf, toKey } from './bytes.js';
import { MemoryStore } from './memory/memory-store.js';
import { PolicyAction } from './actions.js';
import { PolicyEngine } from './engine.js';

describe('keyTextOf (string keys are not decoded twice)', () => {
  it('returns a well-formed string key as it is', () => {
    const key = 'users/ålice/😀';
    expect(keyTextOf(toKey(key), key)).toBe(key);
  });

  it('decodes a string with a lone surrogate like its UTF-8 bytes (P7)', () => {
    const key = 'system/\ud800x';
    expect(keyTextOf(toKey(key), key)).toBe('system/\ufffdx');
    expect(keyTextOf(toKey(key), key)).toBe(keyText(toKey(key)));
  });

  it('a rule sees and audits the same text whether the key came as a string or as bytes', async () => {
    const policy = new PolicyEngine(new MemoryStore()).enableAudit();
    const seen: string[] = [];
    policy.beforeWrite('system/*', (ctx) => {
      seen.push(ctx.keyText);
      return PolicyAction.DENY;
    });
    await expect(policy.put('system/\ud800', 'v')).rejects.toMatchObject({ code: 'denied' });
    await expect(policy.put(Buffer.from('system/\ud800'), 'v')).rejects.toMatchObject({ code: 'denied' });
    expect(seen).toEqual(['system/\ufffd', 'system/\ufffd']);
    expect((await policy.getAuditLog()).map((e) => e.key)).toEqual(['system/\ufffd', 'system/\ufffd']);
  });
});
