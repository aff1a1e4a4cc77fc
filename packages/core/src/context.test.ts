import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyAction } from './actions.js';
import { normalizeContext, PolicyContext } from './context.js';
import { PolicyEngine } from './engine.js';
import { MemoryStore } from './memory/memory-store.js';

// Issue 10, items 10, 13 and 14: the context a hook, a limit and the audit see is one frozen
// copy of the caller's own string properties (rules C1, C2, P7).

/** Strings of UTF-16 code units, lone surrogates included. */
const utf16 = fc
  .array(fc.oneof(fc.integer({ min: 0xd800, max: 0xdfff }), fc.integer({ min: 0x20, max: 0x7e }), fc.constantFrom(0xd83d, 0xde00)), { maxLength: 12 })
  .map((units) => String.fromCharCode(...units));

function engine() {
  const policy = new PolicyEngine(new MemoryStore()).enableAudit();
  const seen: { agentId: string | undefined; sessionId: string | undefined; get: (n: string) => string | undefined }[] = [];
  policy.beforeWrite('**', (ctx) => {
    seen.push({ agentId: ctx.agentId, sessionId: ctx.sessionId, get: (n) => ctx.get(n) });
  });
  return { policy, seen };
}

describe('context (C1, C2; issue 10.13, 10.14)', () => {
  it('inherited properties are not the caller’s: not agentId, not get(), not audited', async () => {
    const { policy, seen } = engine();
    const context = Object.create({ agent_id: 'admin', session_id: 's', role: 'root' }) as Record<string, string>;
    await policy.put('k', 'v', context);
    expect(seen[0]!.agentId).toBeUndefined();
    expect(seen[0]!.sessionId).toBeUndefined();
    expect(seen[0]!.get('role')).toBeUndefined();
    const [entry] = await policy.getAuditLog();
    expect(entry).toMatchObject({ agentId: null, sessionId: null });
  });

  it('a polluted Object.prototype does not give callers an agent id', async () => {
    const { policy, seen } = engine();
    (Object.prototype as Record<string, unknown>).agent_id = 'admin';
    try {
      await policy.put('k', 'v', {});
      await policy.put('k', 'v', { session_id: 's' });
    } finally {
      delete (Object.prototype as Record<string, unknown>).agent_id;
    }
    expect(seen.map((s) => s.agentId)).toEqual([undefined, undefined]);
    expect((await policy.getAuditLog()).map((e) => e.agentId)).toEqual([null, null]);
  });

  it('names of Object.prototype members are not context values unless the caller set them', async () => {
    const { policy, seen } = engine();
    await policy.put('k', 'v', { agent_id: 'a' });
    await policy.put('k', 'v', { constructor: 'c', toString: 't', __proto__: 'p' } as never);
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) expect(seen[0]!.get(name)).toBeUndefined();
    const own = JSON.parse('{"constructor":"c","toString":"t","__proto__":"p"}') as Record<string, string>;
    await policy.put('k', 'v', own);
    expect(seen[2]!.get('constructor')).toBe('c');
    expect(seen[2]!.get('toString')).toBe('t');
    expect(seen[2]!.get('__proto__')).toBe('p');
  });

  it('each context property is read once: a getter cannot answer one thing to a limit and another to a hook or the audit', async () => {
    const { policy, seen } = engine();
    policy.addRateLimit('write', { maxPerMinute: 1, scope: 'agent_id' });
    let reads = 0;
    const context = {
      get agent_id() {
        reads++;
        return reads === 1 ? 'agent-1' : 'admin';
      },
    };
    await policy.put('k', 'v', context);
    expect(reads).toBe(1);
    expect(seen[0]!.agentId).toBe('agent-1');
    // The bucket was agent-1's: a second caller named agent-1 is refused.
    await expect(policy.put('k', 'v', { agent_id: 'agent-1' })).rejects.toMatchObject({ code: 'rate_limited' });
    expect((await policy.getAuditLog()).map((e) => e.agentId)).toEqual(['agent-1', 'agent-1']);
  });

  it('a hook cannot change the caller’s context object or what later hooks see', async () => {
    const policy = new PolicyEngine(new MemoryStore());
    const context = { agent_id: 'agent', role: 'reader' };
    const later: (string | undefined)[] = [];
    policy.beforeWrite('**', (ctx) => {
      try {
        (ctx.custom as Record<string, string>).role = 'admin';
      } catch {
        // frozen: expected
      }
      return PolicyAction.LOG;
    });
    policy.beforeWrite('**', (ctx) => void later.push(ctx.get('role')));
    policy.beforeWrite('**', (ctx) => void later.push(String(Object.isFrozen(ctx.custom))));
    await policy.put('k', 'v', context);
    expect(later).toEqual(['reader', 'true']);
    expect(context).toEqual({ agent_id: 'agent', role: 'reader' });
    expect(normalizeContext({ a: 'b' })).toEqual({ a: 'b' });
  });

  it('the operations of a batch and the keys of a scan share one context that no hook can change for the others', async () => {
    const store = new MemoryStore();
    const policy = new PolicyEngine(store).enableAudit();
    const seen: string[] = [];
    policy.beforeWrite('**', (ctx) => {
      seen.push(`${ctx.keyText}:${ctx.agentId}:${ctx.get('role')}:${Object.isFrozen(ctx.custom)}`);
      expect(() => ((ctx.custom as Record<string, string>).role = 'admin')).toThrow(TypeError);
    });
    policy.beforeRead('**', (ctx) => void seen.push(`${ctx.keyText}:${ctx.agentId}:${ctx.custom.role}`));
    await policy.batch(['a', 'b', 'c'].map((key) => ({ type: 'put' as const, key, value: 'v' })), { agent_id: 'agent', role: 'reader' });
    for await (const _ of policy.scan({}, { agent_id: 'scanner', role: 'auditor' })) void _;
    expect(seen).toEqual(['a:agent:reader:true', 'b:agent:reader:true', 'c:agent:reader:true', 'a:scanner:auditor', 'b:scanner:auditor', 'c:scanner:auditor']);
    expect((await policy.getAuditLog()).map((e) => e.agentId)).toEqual(['agent', 'agent', 'agent', 'scanner', 'scanner', 'scanner']);
  });

  it('a PolicyContext made directly (to test a handler) reads a plain context map', () => {
    const ctx = new PolicyContext('write', Buffer.from('k'), 'k', Buffer.from('v'), { agent_id: 'a1', session_id: 's1', team: 'x' }, 5);
    expect([ctx.agentId, ctx.sessionId, ctx.get('team'), ctx.timestamp, Object.isFrozen(ctx.custom)]).toEqual(['a1', 's1', 'x', 5, true]);
  });

  it('lone surrogates in context values become U+FFFD for hooks, limits and the audit alike (P7, issue 10.10)', async () => {
    await fc.assert(
      fc.asyncProperty(utf16, async (id) => {
        const { policy, seen } = engine();
        policy.addRateLimit('write', { maxPerMinute: 5, scope: 'agent_id' });
        await policy.put('k', 'v', { agent_id: id });
        const wellFormed = Buffer.from(id, 'utf8').toString('utf8');
        expect(seen[0]!.agentId).toBe(wellFormed);
        expect((await policy.getAuditLog())[0]!.agentId).toBe(wellFormed);
      }),
      { numRuns: 200 },
    );
  });

  it('a context passed again is read again: what changed between calls counts (the last context is reused only for the same entries)', async () => {
    const { policy, seen } = engine();
    const context: Record<string, string | undefined> = { agent_id: 'a' };
    await policy.put('k', 'v', context);
    context.agent_id = 'b';
    await policy.put('k', 'v', context);
    context.session_id = 's';
    await policy.put('k', 'v', context);
    context.agent_id = undefined;
    await policy.put('k', 'v', context);
    delete context.session_id;
    await policy.put('k', 'v', context);
    // The same entries in another order, then the same again: the same answers.
    await policy.put('k', 'v', { session_id: 's', agent_id: 'b' });
    await policy.put('k', 'v', { agent_id: 'b', session_id: 's' });
    expect(seen.map((x) => [x.agentId, x.sessionId])).toEqual([
      ['a', undefined],
      ['b', undefined],
      ['b', 's'],
      [undefined, 's'],
      [undefined, undefined],
      ['b', 's'],
      ['b', 's'],
    ]);
    // A getter is read once per call however often the same object comes back.
    let reads = 0;
    const changing = {
      get agent_id() {
        reads++;
        return `agent-${reads}`;
      },
    };
    for (let i = 0; i < 3; i++) await policy.put('k', 'v', changing);
    expect(reads).toBe(3);
    expect(seen.slice(-3).map((x) => x.agentId)).toEqual(['agent-1', 'agent-2', 'agent-3']);
    // A bad value after good ones is still refused, naming it; the good one still works after.
    await expect(policy.put('k', 'v', { agent_id: 'b', session_id: 7 } as never)).rejects.toThrow(/context\.session_id must be a string/);
    await policy.put('k', 'v', { agent_id: 'b', session_id: 's' });
    expect(seen.at(-1)!.sessionId).toBe('s');
    // Inherited entries still do not count, after an own one with the same name was seen.
    const inherited = Object.create({ agent_id: 'b' }) as Record<string, string>;
    inherited.session_id = 's';
    await policy.put('k', 'v', inherited);
    expect(seen.at(-1)!.agentId).toBeUndefined();
  });

  it('every sequence of contexts is seen as normalizeContext copies each one (property)', async () => {
    const names = ['agent_id', 'session_id', 'role', '__proto__'];
    const entry = fc.tuple(fc.constantFrom(...names), fc.oneof(utf16, fc.constant(undefined), fc.constantFrom('a', 'b')));
    const contexts = fc.array(fc.array(entry, { maxLength: 4 }), { minLength: 1, maxLength: 8 });
    await fc.assert(
      fc.asyncProperty(contexts, async (list) => {
        const { policy, seen } = engine();
        const made: Record<string, string | undefined>[] = [];
        for (const entries of list) {
          const context: Record<string, string | undefined> = {};
          for (const [k, v] of entries) Object.defineProperty(context, k, { value: v, enumerable: true, configurable: true, writable: true });
          made.push(context);
          await policy.put('k', 'v', context);
          // The same object again, unchanged: the same answers.
          await policy.put('k', 'v', context);
        }
        made.forEach((context, i) => {
          const expected = normalizeContext(context);
          for (const at of [2 * i, 2 * i + 1]) {
            for (const name of names) expect(seen[at]!.get(name)).toBe(Object.prototype.hasOwnProperty.call(expected, name) ? expected[name] : undefined);
          }
        });
      }),
      { numRuns: 200 },
    );
  });

  it('a context that is not an object of strings is a TypeError naming the entry', async () => {
    const { policy } = engine();
    await expect(policy.put('k', 'v', { agent_id: 42 } as never)).rejects.toThrow(/context\.agent_id must be a string, got number 42/);
    await expect(policy.put('k', 'v', 'agent' as never)).rejects.toThrow(/context must be an object/);
    expect(await policy.getAuditLog()).toEqual([]);
  });
});
