import { AsyncLocalStorage } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PolicyAction } from '../actions.js';
import type { AuditEntry, KeyValueStore } from '../contracts.js';
import { PolicyEngine, type PolicyEngineOptions } from '../engine.js';
import { PolicyViolation } from '../errors.js';
import { MemoryAuditSink } from '../memory/memory-audit-sink.js';
import { MemoryStore } from '../memory/memory-store.js';
import { DECISION_CHANNEL, OPERATION_CHANNEL, type OperationMessage } from './channels.js';
import { isDecisionId } from './decision-id.js';
import type { DecisionEvent } from './observation.js';

const NOW = 1_700_000_000_000;

function setup(options: PolicyEngineOptions = {}) {
  const store = new MemoryStore();
  const policy = new PolicyEngine(store, { clock: () => NOW, ...options });
  const events: DecisionEvent[] = [];
  const off = policy.onDecision((e) => events.push(e));
  return { store, policy, events, off };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

/** The event's values for the audit entry's fields. */
function sameFields(entry: AuditEntry, event: DecisionEvent): Record<string, unknown> {
  return Object.fromEntries(Object.keys(entry).map((k) => [k, event[k as keyof DecisionEvent]]));
}

const subscribed: Array<() => void> = [];
function subscribe(name: string, fn: (message: unknown) => void): void {
  diagnosticsChannel.subscribe(name, fn);
  subscribed.push(() => diagnosticsChannel.unsubscribe(name, fn));
}

afterEach(() => {
  for (const off of subscribed.splice(0)) off();
  vi.restoreAllMocks();
});

describe(`the ${DECISION_CHANNEL} channel`, () => {
  it('publishes one event per operation with every field, under a fixed clock', async () => {
    const events: unknown[] = [];
    subscribe(DECISION_CHANNEL, (m) => events.push(m));
    let t = 100;
    vi.spyOn(performance, 'now').mockImplementation(() => t++);
    const policy = new PolicyEngine(new MemoryStore(), { clock: () => NOW }).enableAudit();
    policy.beforeWrite('users/*', () => PolicyAction.ALLOW, { id: 'users-ok' });
    await policy.put('users/alice', 'data', { agent_id: 'agent_001', session_id: 's1', other: 'x' });
    expect(events).toHaveLength(1);
    const event = events[0] as DecisionEvent;
    expect(event).toEqual({
      decisionId: expect.any(String),
      timestamp: NOW,
      operation: 'write',
      key: 'users/alice',
      agentId: 'agent_001',
      sessionId: 's1',
      result: 'allowed',
      ruleId: null,
      appliedRules: ['users-ok'],
      trigger: null,
      pattern: null,
      code: null,
      stage: null,
      rateLimit: null,
      error: undefined,
      startTime: 100,
      // One performance.now() per step change: call, limits, before-hooks, storage, after-hooks, audit, end.
      durations: { totalMs: 6, rateLimitMs: 1, hooksMs: 2, storageMs: 1, auditMs: 1 },
    });
    expect(isDecisionId(event.decisionId)).toBe(true);
    const [entry] = await policy.getAuditLog();
    expect(entry!.decisionId).toBe(event.decisionId);
    // The event's list is its own: a subscriber changing it cannot change the audit entry.
    event.appliedRules.push('mutated');
    expect(entry!.appliedRules).toEqual(['users-ok']);
  });

  it('takes no timestamps and builds nothing when nobody subscribes', async () => {
    const now = vi.spyOn(performance, 'now');
    const policy = new PolicyEngine(new MemoryStore()).enableAudit();
    policy.beforeWrite('system/*', () => PolicyAction.DENY);
    policy.addRateLimit('read', 100);
    await policy.put('users/a', 'v');
    await policy.get('users/a');
    await policy.delete('users/a');
    await rejection(policy.put('system/x', 'v'));
    expect(now).not.toHaveBeenCalled();
    // And the moment someone subscribes, the same engine times its operations.
    const off = policy.onDecision(() => {});
    await policy.put('users/a', 'v');
    expect(now).toHaveBeenCalled();
    off();
    now.mockClear();
    await policy.put('users/a', 'v');
    expect(now).not.toHaveBeenCalled();
  });

  it('is published in the caller’s async context (what a span parent needs)', async () => {
    const als = new AsyncLocalStorage<string>();
    const seen: Array<string | undefined> = [];
    subscribe(DECISION_CHANNEL, () => seen.push(als.getStore()));
    const policy = new PolicyEngine(new MemoryStore());
    policy.beforeRead('slow/*', async () => {
      await new Promise((r) => setTimeout(r, 1));
      return PolicyAction.ALLOW;
    });
    await als.run('request-1', () => policy.put('a', 'v'));
    await als.run('request-2', () => policy.get('slow/x'));
    expect(seen).toEqual(['request-1', 'request-2']);
  });

  it('publishes nothing for an argument refused before anything ran (no audit entry either)', async () => {
    const { policy, events } = setup();
    policy.enableAudit();
    await expect(policy.put('', 'v')).rejects.toThrow(RangeError);
    await expect(policy.get(42 as never)).rejects.toThrow(TypeError);
    expect(events).toEqual([]);
    expect(await policy.getAuditLog()).toEqual([]);
  });
});

describe('events and audit entries describe the same decision', () => {
  it('with the same fields and values for allowed, denied, redacted, rate-limited, failed and shadow decisions', async () => {
    const sink = new MemoryAuditSink();
    const { policy, events } = setup({ auditSink: sink });
    policy.beforeWrite('system/*', (ctx) => (ctx.agentId ? PolicyAction.DENY : PolicyAction.ALLOW), { id: 'no-agent-system' });
    policy.afterRead('secrets/*', () => Buffer.from('[REDACTED]'), { id: 'redact-secrets' });
    policy.beforeDelete('broken/*', () => {
      throw new Error('bug');
    }, { id: 'broken-hook' });
    policy.load({ version: 1, rules: [{ id: 'shadow-users', trigger: 'before_write', pattern: 'users/*', effect: 'deny', enforce: false }] }, { name: 'shadow' });
    policy.addRateLimit('write', { maxPerMinute: 3, scope: 'agent_id' });

    await policy.put('users/a', 'v', { agent_id: 'a1' });
    const denied = (await rejection(policy.put('system/config', 'v', { agent_id: 'a1' }))) as PolicyViolation;
    await policy.put('secrets/k', 'sk', { agent_id: 'a2' });
    expect(String(await policy.get('secrets/k', { agent_id: 'a2' }))).toBe('[REDACTED]');
    const failed = (await rejection(policy.delete('broken/x', { agent_id: 'a2' }))) as PolicyViolation;
    await policy.put('users/b', 'v', { agent_id: 'a1' });
    const limited = (await rejection(policy.put('users/c', 'v', { agent_id: 'a1' }))) as PolicyViolation;

    const entries = await policy.getAuditLog();
    expect(entries.map((e) => e.result)).toEqual(['allowed', 'denied', 'allowed', 'redacted', 'error', 'allowed', 'rate_limited']);
    expect(events).toHaveLength(entries.length);
    entries.forEach((entry, i) => expect(sameFields(entry, events[i]!)).toEqual(entry));

    const [allowed, deny, , redacted, error, , rateLimited] = events as DecisionEvent[];
    expect(allowed).toMatchObject({ result: 'allowed', code: null, shadowRuleId: 'shadow-users', shadowAction: 'deny', ruleId: null });
    expect(deny).toMatchObject({ result: 'denied', code: 'denied', ruleId: 'no-agent-system', trigger: 'before_write', pattern: 'system/*', decisionId: denied.decisionId, error: denied });
    expect(redacted).toMatchObject({ result: 'redacted', code: null, ruleId: 'redact-secrets', trigger: 'after_read', pattern: 'secrets/*' });
    expect(error).toMatchObject({ result: 'error', code: 'hook_failed', ruleId: 'broken-hook', trigger: 'before_delete', decisionId: failed.decisionId });
    expect(rateLimited).toMatchObject({ result: 'rate_limited', code: 'rate_limited', ruleId: null, decisionId: limited.decisionId });
    expect(rateLimited!.rateLimit).toEqual({ remaining: 0, retryAfterMs: limited.retryAfterMs, limitedBy: expect.stringContaining('a1') });
    expect(rateLimited!.rateLimit!.retryAfterMs).toBeGreaterThan(0);
    for (const e of events) expect(e.durations.totalMs).toBeGreaterThanOrEqual(e.durations.rateLimitMs + e.durations.hooksMs + e.durations.storageMs + e.durations.auditMs - 1e-9);
  });

  it('when audit is off, events still name the applied rules', async () => {
    const { policy, events } = setup();
    policy.beforeWrite('**', () => PolicyAction.LOG, { id: 'log-all' });
    policy.beforeWrite('**', () => PolicyAction.ALLOW, { id: 'allow-all' });
    await policy.put('k', 'v');
    expect(events[0]!.appliedRules).toEqual(['log-all', 'allow-all']);
    expect(await policy.getAuditLog()).toEqual([]);
  });
});

describe('failures', () => {
  it('a store error: result error, code storage_error, the error itself, audited error', async () => {
    const boom = new Error('disk on fire');
    const store: KeyValueStore = {
      get: async () => null,
      put: async () => {
        throw boom;
      },
      delete: async () => {},
      close: async () => {},
    };
    const policy = new PolicyEngine(store, { clock: () => NOW }).enableAudit();
    const events: DecisionEvent[] = [];
    policy.onDecision((e) => events.push(e));
    expect(await rejection(policy.put('k', 'v'))).toBe(boom);
    expect(events[0]).toMatchObject({ result: 'error', code: 'storage_error', error: boom, stage: null });
    expect((await policy.getAuditLog())[0]!.result).toBe('error');
  });

  it('a storage timeout: code timeout, stage storage', async () => {
    const store: KeyValueStore = { get: () => new Promise(() => {}), put: async () => {}, delete: async () => {}, close: async () => {} };
    const policy = new PolicyEngine(store, { timeouts: { storage: 5 } });
    const events: DecisionEvent[] = [];
    policy.onDecision((e) => events.push(e));
    const e = (await rejection(policy.get('k'))) as PolicyViolation;
    expect(e.code).toBe('timeout');
    expect(events[0]).toMatchObject({ result: 'error', code: 'timeout', stage: 'storage' });
    expect(events[0]!.durations.storageMs).toBeGreaterThanOrEqual(4);
  });

  it('an audit sink that fails closed: result error, code audit_unavailable', async () => {
    const policy = new PolicyEngine(new MemoryStore(), {
      auditSink: {
        append: () => {
          throw new Error('full');
        },
        query: () => [],
      },
    });
    const events: DecisionEvent[] = [];
    policy.onDecision((e) => events.push(e));
    const e = (await rejection(policy.put('k', 'v'))) as PolicyViolation;
    expect(e.code).toBe('audit_unavailable');
    expect(events[0]).toMatchObject({ result: 'error', code: 'audit_unavailable', error: e });
  });
});

describe('policy.onDecision', () => {
  it('gets only its own engine’s events and stops after unsubscribing', async () => {
    const one = setup();
    const two = setup();
    await one.policy.put('a', '1');
    await two.policy.get('b');
    expect(one.events.map((e) => [e.operation, e.key])).toEqual([['write', 'a']]);
    expect(two.events.map((e) => [e.operation, e.key])).toEqual([['read', 'b']]);
    one.off();
    one.off(); // idempotent
    await one.policy.delete('a');
    expect(one.events).toHaveLength(1);
  });

  it('calls the listener before the operation settles, and a listener may unsubscribe while called', async () => {
    const policy = new PolicyEngine(new MemoryStore());
    const order: string[] = [];
    const off = policy.onDecision(() => {
      order.push('listener');
      off();
    });
    const seen: string[] = [];
    policy.onDecision((e) => seen.push(e.key));
    await policy.put('a', 'v').then(() => order.push('settled'));
    await policy.put('b', 'v');
    expect(order).toEqual(['listener', 'settled']);
    expect(seen).toEqual(['a', 'b']);
  });

  it('a throwing listener changes no outcome and is reported as a warning', async () => {
    const policy = new PolicyEngine(new MemoryStore());
    policy.beforeWrite('system/*', () => PolicyAction.DENY);
    policy.onDecision(() => {
      throw new Error('listener bug');
    });
    const seen: DecisionEvent[] = [];
    policy.onDecision((e) => seen.push(e));
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      await policy.put('users/a', 'v');
      expect(String(await policy.get('users/a'))).toBe('v');
      const e = await rejection(policy.put('system/x', 'v'));
      expect(e).toBeInstanceOf(PolicyViolation);
      expect((e as PolicyViolation).code).toBe('denied');
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(seen.map((e) => e.result)).toEqual(['allowed', 'allowed', 'denied']);
    expect(warnings.filter((w) => w.message === 'listener bug')).toHaveLength(3);
  });

  it('rejects a listener that is not a function', () => {
    expect(() => new PolicyEngine(new MemoryStore()).onDecision('x' as never)).toThrow(TypeError);
  });
});

describe(`the ${OPERATION_CHANNEL} tracing channel`, () => {
  it('traces each operation: start, then asyncEnd with the decision, error on a refusal', async () => {
    const seen: Array<[string, string, string | undefined]> = [];
    const tracing = diagnosticsChannel.tracingChannel<unknown, OperationMessage>(OPERATION_CHANNEL);
    const handlers = {
      start: (m: OperationMessage) => seen.push(['start', m.operation, m.decision?.result]),
      end: () => {},
      asyncStart: () => {},
      asyncEnd: (m: OperationMessage) => seen.push(['asyncEnd', m.operation, m.decision?.result]),
      error: (m: OperationMessage) => seen.push(['error', m.operation, (m.error as PolicyViolation).code]),
    };
    tracing.subscribe(handlers);
    try {
      const policy = new PolicyEngine(new MemoryStore());
      policy.beforeDelete('**', () => PolicyAction.DENY);
      await policy.put('a', 'v');
      await rejection(policy.delete('a'));
    } finally {
      tracing.unsubscribe(handlers);
    }
    expect(seen).toEqual([
      ['start', 'write', undefined],
      ['asyncEnd', 'write', 'allowed'],
      ['start', 'delete', undefined],
      ['error', 'delete', 'denied'],
      ['asyncEnd', 'delete', 'denied'],
    ]);
  });
});
