import { describe, expect, it, vi } from 'vitest';
import { PolicyAction } from '../actions.js';
import { PolicyViolation, ViolationCode } from '../errors.js';
import { PolicyEngine } from '../engine.js';
import { MemoryRateLimitStore } from '../memory/memory-rate-limit-store.js';
import { MemoryStore } from '../memory/memory-store.js';
import { LimitBuckets } from './rate-limit.js';
import fc from 'fast-check';

function setup() {
  let now = 1_700_000_000_000;
  const store = new MemoryStore();
  const policy = new PolicyEngine(store, { clock: () => now });
  return { store, policy, advance: (ms: number) => (now += ms) };
}

/** Runs `n` puts and returns how many passed; others must be rate_limited. */
async function admitted(policy: PolicyEngine, n: number, context?: Record<string, string>, key = 'k'): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    try {
      await policy.put(key, 'v', context);
      ok++;
    } catch (e) {
      expect(e).toBeInstanceOf(PolicyViolation);
      expect((e as PolicyViolation).code).toBe(ViolationCode.RATE_LIMITED);
    }
  }
  return ok;
}

describe('rate limits (R1–R8)', () => {
  it('R1: both call forms are accepted', () => {
    const { policy } = setup();
    policy.addRateLimit('write', { maxPerMinute: 100, scope: 'agent_id' });
    policy.addRateLimit('write', 100, 'agent_id');
    policy.addRateLimit('read', 500);
    expect(policy.rateLimits.map((l) => [l.operation, l.maxPerMinute, l.scope])).toEqual([
      ['write', 100, 'agent_id'],
      ['write', 100, 'agent_id'],
      ['read', 500, 'global'],
    ]);
  });

  it('R2: a limit applies to its operation or to all', async () => {
    const { policy } = setup();
    policy.addRateLimit('read', 1);
    await policy.put('k', 'v');
    await policy.put('k', 'v');
    await policy.get('k');
    await expect(policy.get('k')).rejects.toThrow('Rate limit exceeded');
    const other = setup().policy;
    other.addRateLimit('all', 2);
    await other.put('k', 'v');
    await other.get('k');
    await expect(other.delete('k')).rejects.toMatchObject({ code: 'rate_limited', operation: 'delete' });
  });

  it('R2: a rate-limited operation runs no hook, touches no storage, is audited rate_limited', async () => {
    const { policy, store } = setup();
    const hook = vi.fn();
    const put = vi.spyOn(store, 'put');
    policy.beforeWrite('**', hook);
    policy.addRateLimit('write', 1, 'agent_id');
    policy.enableAudit();
    await policy.put('a', 'v', { agent_id: 'x' });
    const e = (await policy.put('b', 'v', { agent_id: 'x' }).catch((err: unknown) => err)) as PolicyViolation;
    expect(e).toMatchObject({ code: 'rate_limited', message: 'Rate limit exceeded', key: 'b' });
    expect(e.retryAfterMs).toBe(60_000);
    expect(hook).toHaveBeenCalledTimes(1);
    expect(put).toHaveBeenCalledTimes(1);
    expect((await policy.getAuditLog()).map((x) => x.result)).toEqual(['allowed', 'rate_limited']);
  });

  it('R3: buckets start full; operations denied later by a hook still use their token', async () => {
    const { policy } = setup();
    policy.addRateLimit('write', 3);
    policy.beforeWrite('deny/*', () => PolicyAction.DENY);
    await expect(policy.put('deny/1', 'v')).rejects.toMatchObject({ code: 'denied' });
    await expect(policy.put('deny/2', 'v')).rejects.toMatchObject({ code: 'denied' });
    expect(await admitted(policy, 3)).toBe(1);
  });

  it('R4: refill is continuous and keeps the fraction', async () => {
    const { policy, advance } = setup();
    policy.addRateLimit('write', 60); // one token per second
    expect(await admitted(policy, 60)).toBe(60);
    advance(1_500); // 1.5 tokens
    expect(await admitted(policy, 5)).toBe(1);
    advance(500); // the kept half plus a half
    expect(await admitted(policy, 5)).toBe(1);
  });

  it('R4: over a window of t seconds at most capacity + rate × t pass', async () => {
    const { policy, advance } = setup();
    policy.addRateLimit('write', 100);
    let ok = 0;
    for (let i = 0; i < 90; i++) {
      ok += await admitted(policy, 3);
      advance(333); // 90 × 333 ms ≈ 30 s → 50 more tokens
    }
    expect(ok).toBeLessThanOrEqual(100 + Math.floor((100 * 90 * 333) / 60_000));
    expect(ok).toBeGreaterThanOrEqual(100 + Math.floor((100 * 89 * 333) / 60_000));
  });

  it('R5: agent_id, session_id and custom scopes get a bucket per value; missing values share `unknown`', async () => {
    const { policy } = setup();
    policy.addRateLimit('write', 2, 'tenant');
    expect(await admitted(policy, 3, { tenant: 't1' })).toBe(2);
    expect(await admitted(policy, 3, { tenant: 't2' })).toBe(2);
    expect(await admitted(policy, 1, {})).toBe(1);
    expect(await admitted(policy, 1, { tenant: '' })).toBe(1); // empty shares `unknown`
    expect(await admitted(policy, 1, {})).toBe(0);
    const s = setup().policy;
    s.addRateLimit('write', 1, 'session_id');
    expect(await admitted(s, 2, { session_id: 'a' })).toBe(1);
    expect(await admitted(s, 2, { session_id: 'b' })).toBe(1);
  });

  it('R5: scope values that look alike stay apart', async () => {
    const { policy } = setup();
    policy.addRateLimit('write', 1, 'agent_id');
    expect(await admitted(policy, 1, { agent_id: 'a|b' })).toBe(1);
    expect(await admitted(policy, 1, { agent_id: 'a%7Cb' })).toBe(1);
    expect(await admitted(policy, 1, { agent_id: 'a' })).toBe(1);
  });

  it('R6: two limits with the same operation and scope have their own buckets', async () => {
    const { policy } = setup();
    policy.addRateLimit('write', 5, 'agent_id');
    policy.addRateLimit('write', 2, 'agent_id');
    // The references share one bucket where the first capacity wins (5); here both apply.
    expect(await admitted(policy, 5, { agent_id: 'a' })).toBe(2);
    const ids = policy.rateLimits.map((l) => l.id);
    expect(new Set(ids).size).toBe(2);
  });

  it('R6: identical limits are separate buckets too', async () => {
    const { policy } = setup();
    policy.addRateLimit('write', 3);
    policy.addRateLimit('write', 3);
    expect(await admitted(policy, 5)).toBe(3);
  });

  it('R7: a rejected operation takes no token from any bucket', async () => {
    const { policy } = setup();
    policy.addRateLimit('write', 10); // global, roomy
    policy.addRateLimit('write', 1, 'agent_id'); // tight
    expect(await admitted(policy, 1, { agent_id: 'greedy' })).toBe(1);
    expect(await admitted(policy, 20, { agent_id: 'greedy' })).toBe(0);
    // The global bucket still has 9 tokens: the 20 rejections took none.
    let others = 0;
    for (let i = 0; i < 12; i++) others += await admitted(policy, 1, { agent_id: `a${i}` });
    expect(others).toBe(9);
  });

  it.each([
    ['writes', 10, undefined, RangeError, /operation must be one of read, write, delete, all/],
    [5, 10, undefined, TypeError, /operation must be a string/],
    ['write', 0, undefined, RangeError, /maxPerMinute must be a positive integer/],
    ['write', -3, undefined, RangeError, /maxPerMinute/],
    ['write', 1.5, undefined, RangeError, /maxPerMinute/],
    ['write', Number.NaN, undefined, RangeError, /maxPerMinute/],
    ['write', '10', undefined, TypeError, /rate limit must be a number/],
    ['write', 10, '', RangeError, /scope must not be empty/],
    ['write', 10, 42, TypeError, /scope must be a string/],
    ['write', { maxPerMinute: 10, windowMs: 0 }, undefined, RangeError, /windowMs/],
    ['write', { maxPerMinute: 10 }, 'agent_id', TypeError, /inside the options object, not as a third argument, got a string "agent_id"/],
    // Issue 10 item 11: every bad argument names itself, what it got and what it accepts.
    ['write', { maxPerMinute: 10, windowMS: 1_000 }, undefined, RangeError, /options\.windowMS is not a rate-limit option; the options are maxPerMinute, scope, windowMs/],
    ['write', { max_per_minute: 10 }, undefined, RangeError, /options\.max_per_minute is not a rate-limit option/],
    ['write', { maxPerMinute: '10' }, undefined, RangeError, /options\.maxPerMinute must be a positive integer, got a string "10"/],
    ['write', { maxPerMinute: 10, scope: null }, undefined, TypeError, /options\.scope must be a string \('global', 'agent_id', 'session_id' or a context key\), got null/],
    ['write', { maxPerMinute: 10, windowMs: 2.5 }, undefined, RangeError, /options\.windowMs must be a positive integer \(milliseconds\), got number 2\.5/],
    ['write', null, undefined, TypeError, /rate limit must be a number \(maxPerMinute\) or an object .* got null/],
    ['writes', 10, undefined, RangeError, /got a string "writes"/],
    // Levels count tokens × windowMs: beyond 2^53 a take would not change the level.
    ['write', { maxPerMinute: 2 ** 40, windowMs: 2 ** 20 }, undefined, RangeError, /maxPerMinute × windowMs must be at most 9007199254740991/],
  ])('R8: addRateLimit(%j, %j, %j) is rejected', (op, max, scope, type, message) => {
    const { policy } = setup();
    const call = () => (policy.addRateLimit as (...a: unknown[]) => unknown)(op, max, scope);
    expect(call).toThrow(type);
    expect(call).toThrow(message);
    expect(policy.rateLimits).toEqual([]);
  });
});

describe('rate-limit scope values (R5, issue 10 items 10 and 13)', () => {
  // Item 13: scopes named like Object.prototype members.
  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'])(
    'R5: a caller without an own %j is in the bucket `unknown`, one with it in its own bucket',
    async (scope) => {
      const { policy } = setup();
      policy.addRateLimit('write', 1, scope);
      // No such own key: the bucket `unknown`, whatever Object.prototype holds; an own empty
      // value is `unknown` too (R5), so the second call finds that bucket empty.
      expect(await admitted(policy, 1, {})).toBe(1);
      expect(await admitted(policy, 1, JSON.parse(`{${JSON.stringify(scope)}: ""}`) as Record<string, string>)).toBe(0);
      expect(await admitted(policy, 1, { agent_id: 'a' })).toBe(0);
      // A context whose own property really is named so: a bucket of its own.
      const own = JSON.parse(`{${JSON.stringify(scope)}: "x"}`) as Record<string, string>;
      expect(Object.prototype.hasOwnProperty.call(own, scope)).toBe(true);
      expect(await admitted(policy, 2, own)).toBe(1);
      const other = JSON.parse(`{${JSON.stringify(scope)}: "y"}`) as Record<string, string>;
      expect(await admitted(policy, 1, other)).toBe(1);
    },
  );

  it('R5: the bucket lookup reads own properties only, whatever object it is given', () => {
    const limit = { id: 'write|tenant|1/60000', operation: 'write', maxPerMinute: 1, scope: 'tenant', windowMs: 60_000 } as const;
    const buckets = new LimitBuckets(limit);
    const inherited = Object.create({ tenant: 'inherited' }) as Record<string, string>;
    expect(buckets.request(inherited).key).toBe(`${limit.id}|unknown`);
    expect(buckets.request(Object.create(null) as Record<string, string>).key).toBe(`${limit.id}|unknown`);
    for (const scope of ['constructor', 'toString', '__proto__']) {
      const b = new LimitBuckets({ ...limit, scope });
      expect(b.request({}).key).toBe(`${limit.id}|unknown`);
    }
    expect(() => buckets.request({ tenant: 42 } as never)).toThrow(new TypeError('context.tenant must be a string, got number 42'));
  });

  // Item 10: an agent_id cut inside an emoji threw a bare URIError on every operation, unaudited.
  it('R5: a lone surrogate in a scope value is limited and audited like any value (lossy as P7)', async () => {
    const { policy } = setup();
    policy.addRateLimit('write', 2, 'agent_id');
    policy.enableAudit();
    const cut = 'agent-\uD83D'; // the first half of 😀
    expect(await admitted(policy, 3, { agent_id: cut })).toBe(2);
    // U+FFFD is what UTF-8 encoding makes of the lone half: the same bucket, by that rule only.
    expect(await admitted(policy, 1, { agent_id: 'agent-\uFFFD' })).toBe(0);
    expect(await admitted(policy, 1, { agent_id: 'agent-\uDE00' })).toBe(0);
    expect(await admitted(policy, 1, { agent_id: 'agent-😀' })).toBe(1);
    // Audited normally (the audit writes ids as UTF-8 text, so the lone half shows as U+FFFD).
    const log = await policy.getAuditLog();
    expect(log.map((e) => e.result)).toEqual(['allowed', 'allowed', 'rate_limited', 'rate_limited', 'rate_limited', 'allowed']);
    expect(log[2]!.agentId).toBe(Buffer.from(cut, 'utf8').toString('utf8'));
  });

  it('R5: a lone surrogate in a scope name is accepted too', async () => {
    const { policy } = setup();
    const scope = 'team\uD800';
    policy.addRateLimit('write', 1, scope);
    expect(await admitted(policy, 2, { [scope]: 'a' })).toBe(1);
    expect(await admitted(policy, 1, { [scope]: 'b' })).toBe(1);
  });

  it('R5: two scope values share a bucket only when UTF-8 makes them one (property)', () => {
    const limit = { id: 'all|agent_id|1/60000', operation: 'all', maxPerMinute: 1, scope: 'agent_id', windowMs: 60_000 } as const;
    const keyOf = (v: string) => new LimitBuckets(limit).request({ agent_id: v }).key;
    const lossy = (v: string) => (v === '' ? 'unknown' : Buffer.from(v, 'utf8').toString('utf8'));
    // Code units of every kind, lone surrogates, the separator and %-escapes included.
    const unit = fc.oneof(
      fc.constantFrom('a', 'Z', '0', '|', '%', '2', '5', '7', 'C', ' ', '-', '\uD83D', '\uDE00', '\uFFFD', 'é', 'u', 'n', 'k', 'o', 'w'),
      fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    );
    const value = fc.array(unit, { maxLength: 8 }).map((a) => a.join(''));
    fc.assert(
      fc.property(value, value, (a, b) => {
        expect(keyOf(a) === keyOf(b)).toBe(lossy(a) === lossy(b));
      }),
      { numRuns: 2_000 },
    );
    // The documented meetings: missing, empty and the literal `unknown` (R5).
    expect(keyOf('unknown')).toBe(keyOf(''));
  });
});

describe('MemoryRateLimitStore memory', () => {
  it('drops full buckets, so a million distinct agents do not stay in memory', () => {
    const store = new MemoryRateLimitStore();
    let now = 0;
    for (let i = 0; i < 100_000; i++) {
      store.consume([{ key: `agent:${i}`, capacity: 100, windowMs: 60_000 }], now);
      now += 1; // a token refills in 0.6 s: at most ~600 buckets are not full at any time
    }
    expect(store.size).toBeLessThan(5_000);
  });
});
