import { describe, expect, it, vi } from 'vitest';
import { PolicyAction, PolicyTrigger } from './actions.js';
import type { AuditSink, KeyValueStore, RateLimitStore } from './contracts.js';
import { PolicyViolation, PolicyViolationError, ViolationCode } from './errors.js';
import { PolicyEngine } from './engine.js';
import { MemoryStore } from './memory/memory-store.js';

const b = (s: string) => Buffer.from(s);

function setup(options: ConstructorParameters<typeof PolicyEngine>[1] = {}) {
  let now = 1_700_000_000_000;
  const store = new MemoryStore();
  const policy = new PolicyEngine(store, { clock: () => now, ...options });
  return { store, policy, advance: (ms: number) => (now += ms), raw: async (k: string) => (await store.get(b(k)))?.toString() ?? null };
}

async function violation(p: Promise<unknown>): Promise<PolicyViolation> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PolicyViolation);
  return error as PolicyViolation;
}

describe('the seed quick start', () => {
  it('denies agents writing system keys and allows others', async () => {
    const { policy, raw } = setup();
    policy.beforeWrite('system/*', (ctx) => (ctx.agentId ? PolicyAction.DENY : PolicyAction.ALLOW));
    await policy.put(Buffer.from('users/alice'), Buffer.from('data'), { agent_id: 'agent_001' });
    expect(await raw('users/alice')).toBe('data');
    const e = await violation(policy.put(b('system/config'), b('malicious'), { agent_id: 'rogue' }));
    expect(e.code).toBe(ViolationCode.DENIED);
    expect(e.message).toBe('Write blocked by policy'); // E1
    expect(e.operation).toBe('write');
    expect(e.key).toBe('system/config');
    expect(await raw('system/config')).toBeNull();
    await policy.put('system/config', 'ok');
    expect(await raw('system/config')).toBe('ok');
  });

  it('redacts emails on read when asked, as redact_emails does', async () => {
    const { policy } = setup();
    policy.afterRead('users/*/email', (ctx) => (ctx.get('redact_pii') ? b('[REDACTED]') : ctx.value));
    await policy.put('users/alice/email', 'a@example.com');
    expect((await policy.get('users/alice/email', { redact_pii: '1' }))!.toString()).toBe('[REDACTED]');
    expect((await policy.get('users/alice/email'))!.toString()).toBe('a@example.com');
  });

  it('PolicyViolationError is the same class (Node SDK name)', () => {
    expect(PolicyViolationError).toBe(PolicyViolation);
  });
});

describe('pipeline (O1–O6)', () => {
  it('O1: put runs rate limits, before_write, storage, after_write, then audit', async () => {
    const { policy, store } = setup();
    const seen: string[] = [];
    const spy = vi.spyOn(store, 'put');
    policy.beforeWrite('k', () => void seen.push(`before:${spy.mock.calls.length}`));
    policy.afterWrite('k', () => void seen.push(`after:${spy.mock.calls.length}`));
    policy.enableAudit();
    await policy.put('k', 'v');
    expect(seen).toEqual(['before:0', 'after:1']);
    expect((await policy.getAuditLog()).map((e) => e.result)).toEqual(['allowed']);
  });

  it('O2: get runs before_read, storage, after_read', async () => {
    const { policy, store } = setup();
    await store.put(b('k'), b('v'));
    const spy = vi.spyOn(store, 'get');
    const seen: string[] = [];
    policy.beforeRead('k', (ctx) => void seen.push(`before:${spy.mock.calls.length}:${ctx.value}`));
    policy.afterRead('k', (ctx) => void seen.push(`after:${spy.mock.calls.length}:${ctx.value}`));
    expect((await policy.get('k'))!.toString()).toBe('v');
    expect(seen).toEqual(['before:0:null', 'after:1:v']);
  });

  it('O3/O4: delete runs before_delete, storage, then after_delete', async () => {
    const { policy, store, raw } = setup();
    await store.put(b('k'), b('v'));
    const seen: (string | null)[] = [];
    policy.beforeDelete('k', async () => void seen.push(await raw('k')));
    policy.afterDelete('k', async () => void seen.push(await raw('k')));
    await policy.delete('k');
    expect(seen).toEqual(['v', null]);
  });

  it('O4: after_delete results are ignored, like after_write', async () => {
    const { policy, store } = setup();
    await store.put(b('k'), b('v'));
    policy.afterDelete('k', () => PolicyAction.DENY);
    await policy.delete('k');
    expect(await store.get(b('k'))).toBeNull();
  });

  it('O5: a missing key gives null, runs no after_read, and is audited allowed', async () => {
    const { policy } = setup();
    const after = vi.fn();
    policy.afterRead('**', after);
    policy.enableAudit();
    expect(await policy.get('missing', { agent_id: 'a' })).toBeNull();
    expect(after).not.toHaveBeenCalled();
    const log = await policy.getAuditLog();
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ operation: 'read', key: 'missing', agentId: 'a', result: 'allowed' });
  });

  it('O6: deleting a missing key succeeds', async () => {
    const { policy } = setup();
    await expect(policy.delete('never')).resolves.toBeUndefined();
  });
});

describe('hooks (H1–H11)', () => {
  it('H1: hooks run in registration order, only where the pattern matches', async () => {
    const { policy } = setup();
    const order: string[] = [];
    policy.beforeWrite('users/**', () => void order.push('a'));
    policy.beforeWrite('system/*', () => void order.push('never'));
    policy.beforeWrite('users/*', () => void order.push('b'));
    policy.beforeWrite('**', () => void order.push('c'));
    await policy.put('users/alice', 'x');
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('H2: ALLOW and LOG continue; the first DENY or MODIFY ends the trigger', async () => {
    const { policy, raw } = setup();
    const later = vi.fn();
    policy.beforeWrite('k', () => PolicyAction.LOG);
    policy.beforeWrite('k', () => PolicyAction.ALLOW);
    policy.beforeWrite('k', () => ({ action: PolicyAction.MODIFY, value: 'first' }));
    policy.beforeWrite('k', later);
    await policy.put('k', 'orig');
    expect(later).not.toHaveBeenCalled();
    expect(await raw('k')).toBe('first');
  });

  it('H3: bytes alone mean MODIFY with those bytes; returning the input ends evaluation', async () => {
    const { policy, raw } = setup();
    const later = vi.fn(() => PolicyAction.DENY);
    policy.beforeWrite('k', (ctx) => ctx.value);
    policy.beforeWrite('k', later);
    await policy.put('k', 'same');
    expect(later).not.toHaveBeenCalled();
    expect(await raw('k')).toBe('same');
    policy.beforeWrite('u8', () => new Uint8Array([104, 105]));
    await policy.put('u8', 'x');
    expect(await raw('u8')).toBe('hi');
  });

  it('H4: modifiedValue + MODIFY replaces the value; MODIFY without a value leaves it', async () => {
    const { policy, raw } = setup();
    policy.beforeWrite('m', (ctx) => {
      ctx.modifiedValue = b('changed');
      return PolicyAction.MODIFY;
    });
    policy.beforeWrite('n', () => PolicyAction.MODIFY);
    await policy.put('m', 'orig');
    await policy.put('n', 'orig');
    expect(await raw('m')).toBe('changed');
    expect(await raw('n')).toBe('orig');
  });

  it('H4: modifiedValue does not leak from one hook to the next', async () => {
    const { policy, raw } = setup();
    policy.beforeWrite('k', (ctx) => {
      ctx.modifiedValue = b('leaked');
      return PolicyAction.ALLOW;
    });
    policy.beforeWrite('k', () => PolicyAction.MODIFY);
    await policy.put('k', 'orig');
    expect(await raw('k')).toBe('orig');
  });

  it('H5: before_write DENY writes nothing; MODIFY writes the modified value instead', async () => {
    const { policy, raw } = setup();
    policy.beforeWrite('deny/*', () => PolicyAction.DENY);
    policy.beforeWrite('clean/*', (ctx) => Buffer.from(ctx.value!.toString().replace(/\d/g, '#')));
    await expect(policy.put('deny/x', 'v')).rejects.toMatchObject({ code: 'denied', message: 'Write blocked by policy' });
    await policy.put('clean/x', 'card 4111');
    expect(await raw('deny/x')).toBeNull();
    expect(await raw('clean/x')).toBe('card ####');
  });

  it('H6: after_write sees the value written and cannot undo it', async () => {
    const { policy, raw } = setup();
    let seen = '';
    policy.beforeWrite('k', () => b('modified'));
    policy.afterWrite('k', (ctx) => {
      seen = ctx.value!.toString();
      return PolicyAction.DENY;
    });
    await policy.put('k', 'orig');
    expect(seen).toBe('modified');
    expect(await raw('k')).toBe('modified');
  });

  it('H7: before_read DENY fails without reading storage', async () => {
    const { policy, store } = setup();
    const spy = vi.spyOn(store, 'get');
    policy.beforeRead('secret/*', () => PolicyAction.DENY);
    const e = await violation(policy.get('secret/x'));
    expect(e.code).toBe('denied');
    expect(e.message).toBe('Read blocked by policy');
    expect(spy).not.toHaveBeenCalled();
  });

  it('H8: after_read MODIFY changes only what the caller sees; DENY gives null, audited redacted', async () => {
    const { policy, raw } = setup();
    policy.enableAudit();
    await policy.put('a', 'secret');
    await policy.put('d', 'secret');
    policy.afterRead('a', () => b('***'));
    policy.afterRead('d', () => PolicyAction.DENY);
    expect((await policy.get('a'))!.toString()).toBe('***');
    expect(await raw('a')).toBe('secret');
    expect(await policy.get('d')).toBeNull();
    expect((await policy.getAuditLog({ operation: 'read' })).map((e) => [e.key, e.result])).toEqual([
      ['a', 'redacted'],
      ['d', 'redacted'],
    ]);
  });

  it('H9: before_delete DENY fails and deletes nothing', async () => {
    const { policy, store, raw } = setup();
    await store.put(b('keep/x'), b('v'));
    policy.beforeDelete('keep/*', () => PolicyAction.DENY);
    const e = await violation(policy.delete('keep/x'));
    expect(e.message).toBe('Delete blocked by policy');
    expect(await raw('keep/x')).toBe('v');
  });

  it.each([
    ['throws', () => {
      throw new Error('boom');
    }],
    ['rejects', async () => {
      throw new Error('boom');
    }],
    ['returns a number', () => 42],
    ['returns an unknown string', () => 'DENY'],
    ['returns an object without action', () => ({ value: 'x' })],
    ['returns MODIFY with a non-bytes value', () => ({ action: PolicyAction.MODIFY, value: 12 })],
  ])('H10: a before_write handler that %s fails closed, nothing stored, audited error', async (_label, handler) => {
    const { policy, raw } = setup();
    policy.enableAudit();
    policy.beforeWrite('k', handler as never);
    const e = await violation(policy.put('k', 'v', { agent_id: 'a' }));
    expect(e.code).toBe(ViolationCode.HOOK_FAILED);
    expect(e.cause).toBeInstanceOf(Error);
    expect(e.trigger).toBe(PolicyTrigger.BEFORE_WRITE);
    expect(e.pattern).toBe('k');
    expect(await raw('k')).toBeNull();
    expect((await policy.getAuditLog())[0]).toMatchObject({ result: 'error', agentId: 'a' });
  });

  it('H10: a throwing after_write fails the operation (the write already happened) and is audited error', async () => {
    const { policy, raw } = setup();
    policy.enableAudit();
    policy.afterWrite('k', () => {
      throw new Error('notify failed');
    });
    const e = await violation(policy.put('k', 'v'));
    expect(e.code).toBe('hook_failed');
    expect((e.cause as Error).message).toBe('notify failed');
    expect(await raw('k')).toBe('v');
    expect((await policy.getAuditLog()).map((x) => x.result)).toEqual(['error']);
  });

  it('H10: a throwing after_read withholds the value', async () => {
    const { policy } = setup();
    await policy.put('k', 'v');
    policy.afterRead('k', () => {
      throw new Error('x');
    });
    expect((await violation(policy.get('k'))).code).toBe('hook_failed');
  });

  it('H11: async handlers may return any form', async () => {
    const { policy, raw } = setup();
    policy.beforeWrite('a', async () => PolicyAction.DENY);
    policy.beforeWrite('b', async () => b('async-bytes'));
    policy.beforeWrite('c', async () => ({ action: PolicyAction.MODIFY, value: 'obj' }));
    policy.beforeWrite('d', async () => undefined);
    await violation(policy.put('a', 'v'));
    await policy.put('b', 'v');
    await policy.put('c', 'v');
    await policy.put('d', 'v');
    expect([await raw('a'), await raw('b'), await raw('c'), await raw('d')]).toEqual([null, 'async-bytes', 'obj', 'v']);
  });

  it('MODIFY in before_read and before_delete ends evaluation and changes nothing else', async () => {
    const { policy, raw } = setup();
    await policy.put('k', 'v');
    const later = vi.fn(() => PolicyAction.DENY);
    policy.beforeRead('k', () => PolicyAction.MODIFY);
    policy.beforeRead('k', later);
    policy.beforeDelete('k', () => b('ignored'));
    policy.beforeDelete('k', later);
    expect((await policy.get('k'))!.toString()).toBe('v');
    await policy.delete('k');
    expect(later).not.toHaveBeenCalled();
    expect(await raw('k')).toBeNull();
  });

  it('one registration path: on(trigger, ...) equals the named methods', async () => {
    const { policy } = setup();
    policy.on(PolicyTrigger.BEFORE_WRITE, 'x/*', () => PolicyAction.DENY);
    await violation(policy.put('x/1', 'v'));
    expect(() => policy.on('before_wrte' as never, 'x', () => undefined)).toThrow(RangeError);
  });
});

describe('context (C1, C2)', () => {
  it('C1: agent_id, session_id and custom keys reach the handler', async () => {
    const { policy } = setup();
    let seen: unknown;
    policy.beforeWrite('k', (ctx) => {
      seen = { op: ctx.operation, key: ctx.key.toString(), keyText: ctx.keyText, agent: ctx.agentId, session: ctx.sessionId, tenant: ctx.get('tenant'), custom: ctx.custom, t: ctx.timestamp, missing: ctx.get('nope') };
    });
    await policy.put('k', 'v', { agent_id: 'a1', session_id: 's1', tenant: 't1' });
    expect(seen).toEqual({ op: 'write', key: 'k', keyText: 'k', agent: 'a1', session: 's1', tenant: 't1', custom: { agent_id: 'a1', session_id: 's1', tenant: 't1' }, t: 1_700_000_000_000, missing: undefined });
  });

  it('C2: no context is an empty context', async () => {
    const { policy } = setup();
    let seen: unknown;
    policy.beforeWrite('k', (ctx) => void (seen = [ctx.agentId, ctx.sessionId, ctx.custom]));
    await policy.put('k', 'v');
    expect(seen).toEqual([undefined, undefined, {}]);
  });

  it('get() does not reach inherited properties', async () => {
    const { policy } = setup();
    let seen: unknown = 'unset';
    policy.beforeWrite('k', (ctx) => void (seen = ctx.get('toString')));
    await policy.put('k', 'v');
    expect(seen).toBeUndefined();
  });
});

describe('keys (P7)', () => {
  it('P7: system/<invalid byte> is still guarded by system/*', async () => {
    const { policy, store } = setup();
    policy.beforeWrite('system/*', () => PolicyAction.DENY);
    const key = Buffer.from([...Buffer.from('system/'), 0xff]);
    const e = await violation(policy.put(key, 'x', { agent_id: 'a' }));
    expect(e.key).toBe('system/\uFFFD');
    expect(await store.get(key)).toBeNull();
  });

  it('audits keys as text with invalid bytes replaced (A2)', async () => {
    const { policy } = setup();
    policy.enableAudit();
    await policy.put(Buffer.from([0x61, 0xc3]), 'x');
    expect((await policy.getAuditLog())[0]!.key).toBe('a\uFFFD');
  });

  it('accepts Buffer, Uint8Array and string keys and values alike', async () => {
    const { policy } = setup();
    await policy.put(new Uint8Array([107]), new Uint8Array([118]));
    expect((await policy.get('k'))!.toString()).toBe('v');
    expect(Buffer.isBuffer(await policy.get(b('k')))).toBe(true);
  });
});

describe('bad input: a clear error, nothing stored', () => {
  it.each([
    ['a number key', () => setup().policy.put(1 as never, 'v'), TypeError, /key must be a Buffer, Uint8Array or string/],
    ['an empty key', () => setup().policy.put('', 'v'), RangeError, /key must not be empty/],
    ['a missing value', () => setup().policy.put('k', undefined as never), TypeError, /value must be/],
    ['a non-object context', () => setup().policy.put('k', 'v', 'agent' as never), TypeError, /context must be an object/],
    ['a non-string context value', () => setup().policy.put('k', 'v', { agent_id: 7 } as never), TypeError, /context\.agent_id must be a string/],
    ['an empty key on get', () => setup().policy.get(Buffer.alloc(0)), RangeError, /key must not be empty/],
    ['a null key on delete', () => setup().policy.delete(null as never), TypeError, /key must be/],
  ])('%s', async (_label, op, type, message) => {
    await expect(op()).rejects.toThrow(type);
    await expect(op()).rejects.toThrow(message);
  });

  it('nothing is stored or audited when arguments are bad', async () => {
    const { policy, store } = setup();
    policy.enableAudit();
    await expect(policy.put('k', 5 as never)).rejects.toThrow(TypeError);
    expect(store.size).toBe(0);
    expect(await policy.getAuditLog()).toEqual([]);
  });

  it('rejects bad hook registrations (P8)', () => {
    const { policy } = setup();
    expect(() => policy.beforeWrite('', () => undefined)).toThrow(RangeError);
    expect(() => policy.beforeWrite(undefined as never, () => undefined)).toThrow(/pattern must be a string/);
    expect(() => policy.beforeWrite('x', 'deny' as never)).toThrow(/handler must be a function/);
  });

  it('rejects bad engine options', () => {
    expect(() => new PolicyEngine({} as never)).toThrow(/db must be a KeyValueStore/);
    expect(() => new PolicyEngine(new MemoryStore(), { clock: 5 as never })).toThrow(/options\.clock/);
    expect(() => new PolicyEngine(new MemoryStore(), { auditSink: {} as never })).toThrow(/options\.auditSink/);
    expect(() => new PolicyEngine(new MemoryStore(), { rateLimitStore: {} as never })).toThrow(/options\.rateLimitStore/);
    expect(() => new PolicyEngine(new MemoryStore(), { auditFailure: 'maybe' as never })).toThrow(/auditFailure/);
  });
});

describe('storage errors (E2)', () => {
  class BrokenStore extends MemoryStore {
    override async put(): Promise<void> {
      throw Object.assign(new Error('disk on fire'), { code: 'EIO' });
    }
    override async get(): Promise<Buffer | null> {
      throw new Error('read failed');
    }
  }

  it('E2: a storage error escapes as itself and is audited error', async () => {
    const policy = new PolicyEngine(new BrokenStore());
    policy.enableAudit();
    const err = await policy.put('k', 'v', { agent_id: 'a' }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(PolicyViolation);
    expect((err as Error).message).toBe('disk on fire');
    await expect(policy.get('k')).rejects.toThrow('read failed');
    expect((await policy.getAuditLog()).map((e) => [e.operation, e.result])).toEqual([
      ['write', 'error'],
      ['read', 'error'],
    ]);
  });

  it('after_write does not run when the write failed', async () => {
    const policy = new PolicyEngine(new BrokenStore());
    const after = vi.fn();
    policy.afterWrite('**', after);
    await expect(policy.put('k', 'v')).rejects.toThrow();
    expect(after).not.toHaveBeenCalled();
  });
});

describe('get: each way a read can go (issue 16: written without async)', () => {
  const memory = new MemoryStore();
  const stored = (store: Partial<Pick<KeyValueStore, 'get'>>): KeyValueStore =>
    ({ get: (k: Buffer) => memory.get(k), put: (k: Buffer, v: Buffer) => memory.put(k, v), delete: (k: Buffer) => memory.delete(k), close: async () => {}, ...store }) as KeyValueStore;

  it('bad arguments reject (never throw at the call) and nothing reaches the store', async () => {
    const get = vi.fn(async () => null);
    const policy = new PolicyEngine(stored({ get })).enableAudit();
    const pending = policy.get('', undefined);
    expect(pending).toBeInstanceOf(Promise);
    await expect(pending).rejects.toThrow(RangeError);
    await expect(policy.get('k', { agent_id: 42 } as never)).rejects.toThrow(/context\.agent_id must be a string/);
    expect(get).not.toHaveBeenCalled();
    expect(await policy.getAuditLog()).toEqual([]);
  });

  it('a store whose get throws at the call, or answers without a promise, is handled like one that rejects or resolves', async () => {
    const throwing = new PolicyEngine(stored({ get: () => { throw new Error('sync read failed'); } })).enableAudit();
    await expect(throwing.get('k')).rejects.toThrow('sync read failed');
    expect((await throwing.getAuditLog()).map((e) => e.result)).toEqual(['error']);
    await memory.put(Buffer.from('k'), Buffer.from('v'));
    const plain = new PolicyEngine(stored({ get: () => Buffer.from('plain') as never })).enableAudit();
    expect((await plain.get('k'))!.toString()).toBe('plain');
    // Not bytes: a TypeError naming the stored value, not a policy violation.
    const odd = new PolicyEngine(stored({ get: async () => 42 as never }));
    await expect(odd.get('k')).rejects.toThrow(/stored value must be a Buffer/);
  });

  it('an asynchronous limiter, before_read and after_read keep their order, and a DENY at any of them stops the read', async () => {
    const steps: string[] = [];
    const rateLimitStore: RateLimitStore = {
      consume: async (buckets) => {
        steps.push(`consume ${buckets.length}`);
        return { allowed: true, retryAfterMs: 0 } as never;
      },
    };
    const get = vi.fn((k: Buffer) => {
      steps.push('store');
      return memory.get(k);
    });
    const policy = new PolicyEngine(stored({ get }), { rateLimitStore }).enableAudit();
    policy.addRateLimit('read', { maxPerMinute: 100 });
    policy.beforeRead('**', async (ctx) => {
      steps.push('before');
      return ctx.keyText === 'denied' ? PolicyAction.DENY : PolicyAction.ALLOW;
    });
    policy.afterRead('**', async () => {
      steps.push('after');
      return PolicyAction.MODIFY;
    });
    await memory.put(Buffer.from('k'), Buffer.from('v'));
    // MODIFY without a value: the stored value, audited redacted (H8).
    expect(await policy.get('k')).toEqual(Buffer.from('v'));
    expect(steps).toEqual(['consume 1', 'before', 'store', 'after']);
    steps.length = 0;
    await expect(policy.get('denied')).rejects.toMatchObject({ code: ViolationCode.DENIED });
    expect(steps).toEqual(['consume 1', 'before']);
    expect((await policy.getAuditLog()).map((e) => e.result)).toEqual(['redacted', 'denied']);
  });

  it('an after_read hook that throws fails the read closed after the store answered', async () => {
    const policy = new PolicyEngine(stored({})).enableAudit();
    await memory.put(Buffer.from('k'), Buffer.from('v'));
    policy.afterRead('k', () => {
      throw new Error('hook broke');
    });
    await expect(policy.get('k')).rejects.toMatchObject({ code: ViolationCode.HOOK_FAILED });
    expect((await policy.getAuditLog()).map((e) => e.result)).toEqual(['error']);
  });
});

describe('custom adapters', () => {
  it('an AuditSink passed in turns audit on and getAuditLog reads from it', async () => {
    const entries: unknown[] = [];
    const sink: AuditSink = { append: (e) => void entries.push(e), query: () => [] };
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink });
    expect(policy.auditEnabled).toBe(true);
    await policy.put('k', 'v');
    expect(entries).toHaveLength(1);
    expect(() => policy.enableAudit({ maxEntries: 5 })).toThrow(/auditSink/);
  });

  it('a failing audit sink fails the operation closed (audit_unavailable)', async () => {
    const sink: AuditSink = { append: async () => Promise.reject(new Error('ENOSPC')), query: () => [] };
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink });
    const e = await violation(policy.put('k', 'v'));
    expect(e.code).toBe(ViolationCode.AUDIT_UNAVAILABLE);
    expect((e.cause as Error).message).toBe('ENOSPC');
  });

  it('auditFailure: open lets the operation through and reports the error', async () => {
    const errors: unknown[] = [];
    const sink: AuditSink = { append: () => { throw new Error('ENOSPC'); }, query: () => [] };
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink, auditFailure: 'open', onAuditError: (e) => void errors.push(e) });
    await policy.put('k', 'v');
    expect(errors).toHaveLength(1);
  });

  it('a denial stays a denial when the audit sink also fails', async () => {
    const sink: AuditSink = { append: () => { throw new Error('ENOSPC'); }, query: () => [] };
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink });
    policy.beforeWrite('k', () => PolicyAction.DENY);
    expect((await violation(policy.put('k', 'v'))).code).toBe('denied');
  });

  it('a failing rate-limit store fails closed (limiter_unavailable), runs no hook, stores nothing', async () => {
    const rateLimitStore: RateLimitStore = { consume: async () => Promise.reject(new Error('ECONNREFUSED')) };
    const store = new MemoryStore();
    const policy = new PolicyEngine(store, { rateLimitStore });
    const hook = vi.fn();
    policy.beforeWrite('**', hook);
    policy.addRateLimit('write', 10);
    policy.enableAudit();
    const e = await violation(policy.put('k', 'v'));
    expect(e.code).toBe(ViolationCode.LIMITER_UNAVAILABLE);
    expect(hook).not.toHaveBeenCalled();
    expect(store.size).toBe(0);
    expect((await policy.getAuditLog())[0]!.result).toBe('error');
  });

  it('a rate-limit store answering nonsense also fails closed', async () => {
    const policy = new PolicyEngine(new MemoryStore(), { rateLimitStore: { consume: () => ({}) as never } });
    policy.addRateLimit('all', 10);
    expect((await violation(policy.get('k'))).code).toBe('limiter_unavailable');
  });

  it('any KeyValueStore works, including a minimal object', async () => {
    const map = new Map<string, Buffer>();
    const db: KeyValueStore = {
      get: async (k) => map.get(k.toString()) ?? null,
      put: async (k, v) => void map.set(k.toString(), v),
      delete: async (k) => void map.delete(k.toString()),
      close: async () => undefined,
    };
    const policy = new PolicyEngine(db);
    await policy.put('a', 'b');
    expect((await policy.get('a'))!.toString()).toBe('b');
  });
});
