import { describe, expect, it, vi } from 'vitest';
import { PolicyAction } from './actions.js';
import type { AuditEntry, AuditSink, KeyValueStore, RateLimitStore } from './contracts.js';
import { PolicyEngine } from './engine.js';
import { PolicyViolation, ViolationCode } from './errors.js';
import { MemoryAuditSink } from './memory/memory-audit-sink.js';
import { MemoryStore } from './memory/memory-store.js';
import { Deadline, DEFAULT_TIMEOUTS, StepTimeout } from './timeouts.js';

// Issue 10, item 3: a hook, rate-limit store, storage call or audit sink that never settles
// fails the operation closed with code `timeout`, audited `error`; a late result is ignored.

const never = <T>() => new Promise<T>(() => {});
const T = 40; // ms: every timeout below

async function violation(p: Promise<unknown>): Promise<PolicyViolation> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PolicyViolation);
  return error as PolicyViolation;
}

/** A store whose chosen method never settles (or settles late, after `lateMs`). */
function hangingStore(method: 'get' | 'put' | 'delete', lateMs?: number): MemoryStore {
  const store = new MemoryStore();
  const original = store[method].bind(store) as (...args: Buffer[]) => Promise<unknown>;
  (store as unknown as Record<string, unknown>)[method] = (...args: Buffer[]) =>
    lateMs === undefined ? never() : new Promise((r) => setTimeout(r, lateMs)).then(() => original(...args));
  return store;
}

describe('timeouts (issue 10.3)', () => {
  it('an async hook that never settles fails the operation with code timeout, audited error, in T to 1.5 T', async () => {
    for (const [trigger, run] of [
      ['before_write', (p: PolicyEngine) => p.put('k', 'v', { agent_id: 'a' })],
      ['after_write', (p: PolicyEngine) => p.put('k', 'v', { agent_id: 'a' })],
      ['before_read', (p: PolicyEngine) => p.get('k', { agent_id: 'a' })],
      ['after_read', (p: PolicyEngine) => p.get('k', { agent_id: 'a' })],
      ['before_delete', (p: PolicyEngine) => p.delete('k', { agent_id: 'a' })],
      ['after_delete', (p: PolicyEngine) => p.delete('k', { agent_id: 'a' })],
    ] as const) {
      const store = new MemoryStore();
      await store.put(Buffer.from('k'), Buffer.from('stored'));
      const policy = new PolicyEngine(store, { timeouts: { hook: T } }).enableAudit();
      policy.on(trigger, 'k', () => never());
      const started = performance.now();
      const e = await violation(run(policy));
      const took = performance.now() - started;
      expect(e.code, trigger).toBe(ViolationCode.TIMEOUT);
      expect(e.stage).toBe('hook');
      expect(e.trigger).toBe(trigger);
      expect(e.pattern).toBe('k');
      expect(e.cause).toBeInstanceOf(StepTimeout);
      expect(took).toBeGreaterThanOrEqual(T - 2);
      expect((await policy.getAuditLog()).map((x) => x.result)).toEqual(['error']);
    }
  });

  it('a before_write hook that answers DENY too late changes nothing: nothing stored, one audit entry', async () => {
    const store = new MemoryStore();
    const policy = new PolicyEngine(store, { timeouts: { hook: T } }).enableAudit();
    let answered = false;
    policy.beforeWrite('k', () => new Promise((r) => setTimeout(() => ((answered = true), r(PolicyAction.ALLOW)), 4 * T)));
    expect((await violation(policy.put('k', 'v'))).code).toBe(ViolationCode.TIMEOUT);
    await vi.waitFor(() => expect(answered).toBe(true), { timeout: 10 * T });
    expect(await store.get(Buffer.from('k'))).toBeNull();
    expect((await policy.getAuditLog()).map((x) => x.result)).toEqual(['error']);
  });

  it('a storage call that never settles fails with code timeout (stage storage), audited error', async () => {
    for (const [method, run] of [
      ['put', (p: PolicyEngine) => p.put('k', 'v')],
      ['get', (p: PolicyEngine) => p.get('k')],
      ['delete', (p: PolicyEngine) => p.delete('k')],
    ] as const) {
      const policy = new PolicyEngine(hangingStore(method), { timeouts: { storage: T } }).enableAudit();
      const e = await violation(run(policy));
      expect(e.code, method).toBe(ViolationCode.TIMEOUT);
      expect(e.stage).toBe('storage');
      expect((await policy.getAuditLog()).map((x) => x.result)).toEqual(['error']);
    }
  });

  it('a storage result that comes after the timeout is ignored: no second audit entry, no after hook', async () => {
    const store = hangingStore('put', 3 * T);
    const policy = new PolicyEngine(store, { timeouts: { storage: T } }).enableAudit();
    const after = vi.fn();
    policy.afterWrite('**', after);
    expect((await violation(policy.put('k', 'v'))).code).toBe(ViolationCode.TIMEOUT);
    await vi.waitFor(async () => expect(await store.get(Buffer.from('k'))).not.toBeNull(), { timeout: 10 * T });
    expect(after).not.toHaveBeenCalled();
    expect((await policy.getAuditLog()).map((x) => x.result)).toEqual(['error']);
  });

  it('a rate-limit store that never answers fails with code timeout (stage rate_limit), audited error, nothing stored', async () => {
    const limiter: RateLimitStore = { consume: () => never() };
    const store = new MemoryStore();
    const policy = new PolicyEngine(store, { rateLimitStore: limiter, timeouts: { rateLimit: T } }).enableAudit();
    policy.addRateLimit('write', { maxPerMinute: 10 });
    const hook = vi.fn();
    policy.beforeWrite('**', hook);
    const e = await violation(policy.put('k', 'v'));
    expect(e.code).toBe(ViolationCode.TIMEOUT);
    expect(e.stage).toBe('rate_limit');
    expect(hook).not.toHaveBeenCalled();
    expect(await store.get(Buffer.from('k'))).toBeNull();
    expect((await policy.getAuditLog()).map((x) => x.result)).toEqual(['error']);
  });

  it('an audit sink whose append never settles fails the operation closed with code timeout (stage audit)', async () => {
    const sink: AuditSink = { append: () => never(), query: () => [] };
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink, timeouts: { audit: T } });
    const e = await violation(policy.put('k', 'v'));
    expect(e.code).toBe(ViolationCode.TIMEOUT);
    expect(e.stage).toBe('audit');
  });

  it('a failing operation whose audit append hangs still fails, with its own code, within the audit timeout', async () => {
    const sink: AuditSink = { append: () => never(), query: () => [] };
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink, timeouts: { audit: T } });
    policy.beforeWrite('**', () => PolicyAction.DENY);
    expect((await violation(policy.put('k', 'v'))).code).toBe(ViolationCode.DENIED);
  });

  it("with auditFailure 'open' an append that never settles is reported to onAuditError and the operation succeeds", async () => {
    const sink: AuditSink = { append: () => never(), query: () => [] };
    const errors: [unknown, AuditEntry][] = [];
    const store = new MemoryStore();
    const policy = new PolicyEngine(store, { auditSink: sink, auditFailure: 'open', onAuditError: (e, entry) => errors.push([e, entry]), timeouts: { audit: T } });
    await policy.put('k', 'v');
    expect((await store.get(Buffer.from('k')))?.toString()).toBe('v');
    expect(errors).toHaveLength(1);
    expect(errors[0]![0]).toBeInstanceOf(StepTimeout);
    expect(errors[0]![1]).toMatchObject({ key: 'k', result: 'allowed' });
  });

  it('steps that answer in time are not affected, however many are pending', async () => {
    const store = new MemoryStore();
    const policy = new PolicyEngine(store, { timeouts: { hook: T, storage: T } }).enableAudit();
    policy.beforeWrite('**', async () => PolicyAction.ALLOW);
    await Promise.all(Array.from({ length: 500 }, (_, i) => policy.put(`k${i}`, 'v')));
    expect(store.size).toBe(500);
    expect((await policy.getAuditLog({ limit: 1000 })).every((e) => e.result === 'allowed')).toBe(true);
  });

  it('timeout options are validated, naming the option, what it got and what it accepts', () => {
    const store = new MemoryStore();
    expect(() => new PolicyEngine(store, { timeouts: { hook: 0 } })).toThrow(/options\.timeouts\.hook must be an integer number of milliseconds from 1 to 2147483647, or Infinity, got number 0/);
    expect(() => new PolicyEngine(store, { timeouts: { storage: -1 } })).toThrow(RangeError);
    expect(() => new PolicyEngine(store, { timeouts: { audit: 1.5 } })).toThrow(RangeError);
    expect(() => new PolicyEngine(store, { timeouts: { audit: '10' as never } })).toThrow(/got a string "10"/);
    expect(() => new PolicyEngine(store, { timeouts: { hooks: 10 } as never })).toThrow(/options\.timeouts\.hooks is not a timeout; the timeouts are rateLimit, hook, storage, audit/);
    expect(() => new PolicyEngine(store, { timeouts: 5 as never })).toThrow(/options\.timeouts must be an object/);
    expect(() => new PolicyEngine(store, { timeouts: { hook: Infinity, storage: 2 ** 31 - 1 } })).not.toThrow();
    expect(DEFAULT_TIMEOUTS).toEqual({ rateLimit: 5000, hook: 10000, storage: 30000, audit: 30000 });
  });
});

describe('Deadline', () => {
  it('rejects only what is still pending after the timeout, and stops its timer when nothing waits', async () => {
    const deadline = new Deadline('storage', T);
    let settle!: (v: string) => void;
    const fast = deadline.race(new Promise<string>((r) => (settle = r)));
    const slow = deadline.race(never<string>());
    expect(deadline.size).toBe(2);
    settle('ok');
    await expect(fast).resolves.toBe('ok');
    expect(deadline.size).toBe(1);
    await expect(slow).rejects.toBeInstanceOf(StepTimeout);
    expect(deadline.size).toBe(0);
    expect(deadline.ticking).toBe(false);
  });

  it('watch answers exactly once: the value, the rejection, or StepTimeout, and never the late value after it', async () => {
    const deadline = new Deadline('storage', T);
    const calls: string[] = [];
    const record = (name: string) => (x: unknown) => calls.push(`${name}:${x instanceof StepTimeout ? 'timeout' : String(x)}`);
    let settleLate!: (v: string) => void;
    deadline.watch(Promise.resolve('a'), record('value'), record('error'));
    deadline.watch(Promise.reject(new Error('b')), record('value'), (e) => calls.push(`error:${(e as Error).message}`));
    deadline.watch(new Promise<string>((r) => (settleLate = r)), record('value'), record('error'));
    expect(deadline.size).toBe(3);
    await new Promise((r) => setTimeout(r, T * 2.5));
    expect(calls).toEqual(['value:a', 'error:b', 'error:timeout']);
    expect(deadline.size).toBe(0);
    expect(deadline.ticking).toBe(false);
    settleLate('too late');
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(['value:a', 'error:b', 'error:timeout']);
    // Infinity: no waiter, no timer, still exactly one answer.
    const forever = new Deadline('storage', Infinity);
    forever.watch(Promise.resolve('c'), record('value'), record('error'));
    expect(forever.size).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(calls.at(-1)).toBe('value:c');
  });

  it('passes values that are not promises through, and never times anything with Infinity', async () => {
    const deadline = new Deadline('hook', Infinity);
    const p = never<number>();
    expect(deadline.race(p)).toBe(p);
    expect(new Deadline('hook', T).race(7)).toBe(7);
  });
});

describe('maxKeyBytes (issue 10.2)', () => {
  it('a key longer than maxKeyBytes is a RangeError naming the limit; nothing runs, nothing is stored', async () => {
    const store = new MemoryStore();
    const policy = new PolicyEngine(store, { maxKeyBytes: 16 }).enableAudit();
    const hook = vi.fn();
    policy.beforeWrite('**', hook);
    await policy.put('a'.repeat(16), 'v');
    for (const key of ['a'.repeat(17), Buffer.alloc(17, 0x61), 'é'.repeat(9)]) {
      await expect(policy.put(key, 'v')).rejects.toThrow(/key is (17|18) bytes long; this engine accepts keys of 1 to 16 bytes \(options\.maxKeyBytes\)/);
      await expect(policy.get(key)).rejects.toThrow(RangeError);
      await expect(policy.delete(key)).rejects.toThrow(RangeError);
    }
    expect(hook).toHaveBeenCalledTimes(1);
    expect(store.size).toBe(1);
    expect(await policy.getAuditLog()).toHaveLength(1);
  });

  it('defaults to 64 KiB and validates the option', async () => {
    const policy = new PolicyEngine(new MemoryStore());
    await policy.put('k'.repeat(65_536), 'v');
    await expect(policy.put('k'.repeat(65_537), 'v')).rejects.toThrow(/1 to 65536 bytes/);
    expect(() => new PolicyEngine(new MemoryStore(), { maxKeyBytes: 0 })).toThrow(/options\.maxKeyBytes must be an integer from 1 to 2147483647, got number 0/);
  });
});

describe('MemoryAuditSink maxEntries (issue 10.11)', () => {
  it('accepts up to 2^32 - 1 without allocating it, and names the argument beyond', async () => {
    const sink = new MemoryAuditSink({ maxEntries: 2 ** 32 - 1 });
    expect(sink.maxEntries).toBe(2 ** 32 - 1);
    expect(() => new MemoryAuditSink({ maxEntries: 2 ** 32 })).toThrow(/options\.maxEntries must be an integer from 1 to 4294967295 \(2\^32 - 1\), got number 4294967296/);
    const policy = new PolicyEngine(new MemoryStore());
    expect(() => policy.enableAudit({ maxEntries: 2 ** 32 })).toThrow(/maxEntries must be an integer from 1 to 4294967295/);
    policy.enableAudit({ maxEntries: 2 ** 32 - 1 });
    await policy.put('k', 'v');
    expect(await policy.getAuditLog()).toHaveLength(1);
  });

  it('keeps the newest entries through growth, wrap-around and resize', () => {
    const sink = new MemoryAuditSink({ maxEntries: 3 });
    const entry = (i: number): AuditEntry => ({ timestamp: i, operation: 'write', key: `k${i}`, agentId: null, sessionId: null, result: 'allowed' });
    for (let i = 0; i < 7; i++) sink.append(entry(i));
    expect(sink.query().map((e) => e.timestamp)).toEqual([4, 5, 6]);
    sink.resize(5);
    sink.append(entry(7));
    expect(sink.query().map((e) => e.timestamp)).toEqual([4, 5, 6, 7]);
    sink.append(entry(8));
    sink.append(entry(9));
    expect(sink.query().map((e) => e.timestamp)).toEqual([5, 6, 7, 8, 9]);
    sink.resize(2);
    expect(sink.query().map((e) => e.timestamp)).toEqual([8, 9]);
    sink.append(entry(10));
    expect(sink.query().map((e) => e.timestamp)).toEqual([9, 10]);
    expect(sink.size).toBe(2);
  });
});
