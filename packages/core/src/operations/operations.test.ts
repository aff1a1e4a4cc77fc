import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { PolicyAction } from '../actions.js';
import type { AuditEntry, AuditSink, BatchOperation, KeyRange, KeyValueStore, RateLimitStore } from '../contracts.js';
import { PolicyViolation, ViolationCode } from '../errors.js';
import { PolicyEngine } from '../engine.js';
import { MemoryStore } from '../memory/memory-store.js';
import { MemoryRateLimitStore } from '../memory/memory-rate-limit-store.js';
import { NotSupportedError } from '../storage/supports.js';
import { FILTER_PENDING } from './filter.js';
import { SCAN_PENDING } from './scan.js';
import type { DecisionEvent } from '../events/observation.js';

const b = (s: string) => Buffer.from(s);

async function seeded(keys: string[], options: ConstructorParameters<typeof PolicyEngine>[1] = {}) {
  let now = 1_700_000_000_000;
  const store = new MemoryStore();
  for (const k of keys) await store.put(b(k), b(`v:${k}`));
  const policy = new PolicyEngine(store, { clock: () => now, ...options });
  return { store, policy, advance: (ms: number) => (now += ms) };
}

async function collect(it: AsyncIterable<{ key: Buffer; value: Buffer | undefined }>): Promise<[string, string | undefined][]> {
  const out: [string, string | undefined][] = [];
  for await (const e of it) out.push([e.key.toString(), e.value?.toString()]);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

/** A MemoryStore whose iterators are counted, to see them opened and closed. */
function countingStore() {
  const store = new MemoryStore();
  const open = { now: 0, max: 0, pulled: 0 };
  const iterator = store.iterator.bind(store);
  store.iterator = (range: KeyRange) => {
    const it = iterator(range);
    open.now++;
    open.max = Math.max(open.max, open.now);
    const close = it.close.bind(it);
    const nextv = it.nextv.bind(it);
    it.nextv = async (n: number) => {
      const got = await nextv(n);
      open.pulled += got.length;
      return got;
    };
    let closed = false;
    it.close = async () => {
      if (!closed) open.now--;
      closed = true;
      await close();
    };
    return it;
  };
  return { store, open };
}

/**
 * An asynchronous audit sink that commits what it was handed in one tick together, as the audit
 * file does with one fsync: records how many appends were waiting at once, and can fail one.
 */
function groupSink(failAt?: number) {
  const entries: AuditEntry[] = [];
  let waiting: (() => void)[] = [];
  const stats = { appends: 0, commits: 0, mostTogether: 0 };
  const sink: AuditSink = {
    append(entry) {
      const n = ++stats.appends;
      if (n === failAt) return Promise.reject(new Error('disk full'));
      entries.push(entry);
      return new Promise<void>((resolve) => {
        if (waiting.length === 0) {
          setImmediate(() => {
            stats.commits++;
            stats.mostTogether = Math.max(stats.mostTogether, waiting.length);
            const done = waiting;
            waiting = [];
            for (const r of done) r();
          });
        }
        waiting.push(resolve);
      });
    },
    query: () => entries.slice(),
  };
  return { sink, stats, entries };
}

describe('policy.scan', () => {
  it('returns the entries in key order, leaving out keys before_read denies, and no trace of them', async () => {
    const { policy } = await seeded(['a/1', 'a/2', 'a/secret', 'a/3', 'b/1']);
    policy.beforeRead('a/secret', () => PolicyAction.DENY);
    expect(await collect(policy.scan({ prefix: 'a/' }))).toEqual([
      ['a/1', 'v:a/1'],
      ['a/2', 'v:a/2'],
      ['a/3', 'v:a/3'],
    ]);
    expect(await collect(policy.scan({ prefix: 'a/', reverse: true, limit: 2 }))).toEqual([
      ['a/3', 'v:a/3'],
      ['a/2', 'v:a/2'],
    ]);
  });

  it('runs after_read per value: DENY leaves the entry out, MODIFY returns the replacement', async () => {
    const { policy } = await seeded(['u/alice', 'u/bob', 'u/carol']);
    policy.afterRead('u/bob', () => PolicyAction.DENY);
    policy.afterRead('u/carol', (ctx) => {
      ctx.modifiedValue = Buffer.from(`redacted(${ctx.value!.length})`);
      return PolicyAction.MODIFY;
    });
    expect(await collect(policy.scan({ prefix: 'u/' }))).toEqual([
      ['u/alice', 'v:u/alice'],
      ['u/carol', 'redacted(9)'],
    ]);
    // Keys only: the after_read decision still applies (bob stays out), values are not returned.
    expect(await collect(policy.scan({ prefix: 'u/', values: false }))).toEqual([
      ['u/alice', undefined],
      ['u/carol', undefined],
    ]);
  });

  it('counts the limit in entries returned, not keys examined', async () => {
    const { policy } = await seeded(['k1', 'k2', 'k3', 'k4']);
    policy.beforeRead('k1', () => PolicyAction.DENY);
    policy.beforeRead('k2', () => PolicyAction.DENY);
    expect(await collect(policy.scan({ limit: 2 }))).toEqual([
      ['k3', 'v:k3'],
      ['k4', 'v:k4'],
    ]);
  });

  it('is lazy and releases the store iterator on break, close() and abort', async () => {
    const { store, open } = countingStore();
    for (let i = 0; i < 1000; i++) await store.put(b(`k${String(i).padStart(4, '0')}`), b('v'));
    const policy = new PolicyEngine(store);
    const seen: string[] = [];
    policy.beforeRead('*', (ctx) => {
      seen.push(ctx.keyText);
      return PolicyAction.ALLOW;
    });
    const scan = policy.scan();
    expect(open.max).toBe(0); // nothing opened until the first pull
    for await (const e of scan) if (e.key.toString() === 'k0002') break;
    expect(open.now).toBe(0);
    expect(seen).toEqual(['k0000', 'k0001', 'k0002']); // hooks ran only for what was pulled
    expect(open.pulled).toBeLessThanOrEqual(64 + 128); // the chunk in hand and the one read ahead, not the whole range
    await expect(scan.next()).rejects.toMatchObject({ code: 'iterator_closed' });

    const two = policy.scan();
    await two.next();
    expect(open.now).toBe(1);
    await two.close();
    expect(open.now).toBe(0);

    const controller = new AbortController();
    const three = policy.scan({ signal: controller.signal });
    await three.next();
    controller.abort(new Error('stop'));
    await expect(three.next()).rejects.toThrow('stop');
    expect(open.now).toBe(0);
  });

  it('refuses a second pull while one is pending (iterator_busy)', async () => {
    const { policy } = await seeded(['a', 'b']);
    const scan = policy.scan();
    const first = scan.next();
    await expect(scan.next()).rejects.toMatchObject({ code: 'iterator_busy' });
    expect((await first)?.key.toString()).toBe('a');
    await scan.close();
  });

  it('charges one read token per key examined and stops with rate_limited when none is left', async () => {
    const { policy } = await seeded(['k1', 'k2', 'k3', 'k4', 'k5']);
    policy.addRateLimit('read', { maxPerMinute: 3, scope: 'agent_id' }).enableAudit();
    policy.beforeRead('k1', () => PolicyAction.DENY); // a denied key costs its token too, as a denied get does
    const got: string[] = [];
    const error = await rejection(
      (async () => {
        for await (const e of policy.scan({}, { agent_id: 'a' })) got.push(e.key.toString());
      })(),
    );
    expect(got).toEqual(['k2', 'k3']);
    expect(error).toBeInstanceOf(PolicyViolation);
    expect((error as PolicyViolation).code).toBe(ViolationCode.RATE_LIMITED);
    expect((error as PolicyViolation).key).toBe('k4');
    // Another agent's bucket is untouched; this agent cannot read through get either.
    expect(await collect(policy.scan({ limit: 1 }, { agent_id: 'b' }))).toEqual([['k2', 'v:k2']]);
    await expect(policy.get('k5', { agent_id: 'a' })).rejects.toMatchObject({ code: 'rate_limited' });
    const log = await policy.getAuditLog({ agentId: 'a' });
    expect(log.map((e) => [e.key, e.result])).toEqual([
      ['k1', 'denied'],
      ['k2', 'allowed'],
      ['k3', 'allowed'],
      ['k4', 'rate_limited'],
      ['k5', 'rate_limited'],
    ]);
  });

  describe('charging a run of keys in one consume (M3)', () => {
    /** A MemoryRateLimitStore that records the tokens each consume asked for (per call: one number per bucket). */
    function countingLimiter(options: { tokens?: boolean; fail?: boolean } = {}) {
      const inner = new MemoryRateLimitStore();
      const calls: number[][] = [];
      const store: RateLimitStore = {
        supports: { tokens: options.tokens ?? true },
        consume(buckets, now) {
          calls.push(buckets.map((bucket) => bucket.tokens ?? 1));
          if (options.fail === true) throw new Error('limiter down');
          return inner.consume(buckets, now);
        },
      };
      return { store, calls, taken: () => calls.reduce((sum, c) => sum + c[0]!, 0) };
    }
    const keys = Array.from({ length: 100 }, (_, i) => `k${String(i).padStart(3, '0')}`);

    it('nextv takes the tokens of the keys it examines in a few consumes, exactly one per key examined', async () => {
      const limiter = countingLimiter();
      const { policy } = await seeded(keys, { rateLimitStore: limiter.store });
      policy.addRateLimit('read', { maxPerMinute: 1000, scope: 'agent_id' }).enableAudit({ maxEntries: 1000 });
      policy.beforeRead('k*0', () => PolicyAction.DENY);
      const scan = policy.scan({}, { agent_id: 'a' });
      const first = await scan.nextv(30);
      expect(first).toHaveLength(30);
      // 30 returned and 4 withheld (k000, k010, k020, k030) were examined: 34 tokens, not one consume per key.
      expect(scan.withheld).toBe(4);
      expect(limiter.taken()).toBe(34);
      expect(limiter.calls.length).toBeLessThanOrEqual(3);
      expect(limiter.calls[0]).toEqual([30]);
      const rest = await scan.nextv(1000);
      expect(rest).toHaveLength(60);
      expect(await scan.nextv(10)).toEqual([]);
      expect(limiter.taken()).toBe(100);
      expect(limiter.calls.length).toBeLessThanOrEqual(6);
      expect((await policy.getAuditLog({ limit: 1000 })).length).toBe(100);
    });

    it('a run the bucket cannot cover takes nothing: then one token per key, refusing exactly the key where they run out', async () => {
      const limiter = countingLimiter();
      const { policy } = await seeded(keys, { rateLimitStore: limiter.store });
      policy.addRateLimit('read', { maxPerMinute: 5, scope: 'agent_id' }).enableAudit();
      for (let i = 0; i < 3; i++) await policy.get('k099', { agent_id: 'a' });
      const scan = policy.scan({}, { agent_id: 'a' });
      const got = await scan.nextv(10);
      expect(got.map((e) => e.key.toString())).toEqual(['k000', 'k001']);
      const error = (await rejection(scan.nextv(10))) as PolicyViolation;
      expect(error.code).toBe(ViolationCode.RATE_LIMITED);
      expect(error.key).toBe('k002');
      // Three gets; a run of 5 (the capacity) refused with 2 left, taking nothing; then one per key.
      expect(limiter.calls).toEqual([[1], [1], [1], [5], [1], [1], [1]]);
      expect((await policy.getAuditLog()).map((e) => [e.key, e.result])).toEqual([
        ['k099', 'allowed'],
        ['k099', 'allowed'],
        ['k099', 'allowed'],
        ['k000', 'allowed'],
        ['k001', 'allowed'],
        ['k002', 'rate_limited'],
      ]);
    });

    it('never asks a bucket for more tokens than its capacity: a run is cut to the smallest capacity', async () => {
      const limiter = countingLimiter();
      const { policy } = await seeded(keys, { rateLimitStore: limiter.store });
      policy.addRateLimit('read', { maxPerMinute: 10, scope: 'agent_id' }).addRateLimit('all', { maxPerMinute: 1000 });
      const scan = policy.scan({}, { agent_id: 'a' });
      expect(await scan.nextv(30)).toHaveLength(10);
      expect((await rejection(scan.nextv(30))) as PolicyViolation).toMatchObject({ code: ViolationCode.RATE_LIMITED, key: 'k010' });
      // A run of 10 from both buckets; the next run of 10 is refused (none left), then k010 alone.
      expect(limiter.calls).toEqual([[10, 10], [10, 10], [1, 1]]);
    });

    it('takes one token per key when the store cannot take several, and for await always does', async () => {
      const plain = countingLimiter({ tokens: false });
      const one = await seeded(keys, { rateLimitStore: plain.store });
      one.policy.addRateLimit('read', { maxPerMinute: 1000 });
      expect(await one.policy.scan({}).nextv(20)).toHaveLength(20);
      expect(plain.calls).toEqual(Array.from({ length: 20 }, () => [1]));

      const limiter = countingLimiter();
      const { policy } = await seeded(keys, { rateLimitStore: limiter.store });
      policy.addRateLimit('read', { maxPerMinute: 1000 });
      let n = 0;
      for await (const _ of policy.scan({})) if (++n === 3) break;
      // Leaving early paid for the keys examined, not for the rest of the chunk in hand.
      expect(limiter.calls).toEqual([[1], [1], [1]]);
    });

    it('a limiter that fails on a run fails the scan closed, audited error on the key it was for', async () => {
      const limiter = countingLimiter({ fail: true });
      const { policy } = await seeded(keys, { rateLimitStore: limiter.store });
      policy.addRateLimit('read', { maxPerMinute: 1000 }).enableAudit();
      const error = (await rejection(policy.scan({}).nextv(10))) as PolicyViolation;
      expect(error.code).toBe(ViolationCode.LIMITER_UNAVAILABLE);
      expect(error.key).toBe('k000');
      expect((await policy.getAuditLog()).map((e) => [e.key, e.result])).toEqual([['k000', 'error']]);
    });
  });

  describe('with an asynchronous audit sink', () => {
    const keys = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(3, '0')}`);

    it('nextv hands the entries of its keys to the sink together and returns once all are recorded', async () => {
      const audit = groupSink();
      const { policy } = await seeded(keys, { auditSink: audit.sink });
      policy.beforeRead('k*5', () => PolicyAction.DENY);
      const got = await policy.scan({}).nextv(30);
      expect(got).toHaveLength(30);
      // 33 keys examined (k005, k015, k025 withheld), one entry each, committed together: not one commit per key.
      expect(audit.entries.map((e) => e.key)).toEqual(keys.slice(0, 33));
      expect(audit.stats.commits).toBe(1);
      expect(audit.stats.mostTogether).toBe(33);
    });

    it('for await waits for each key\'s entry before the next key', async () => {
      const audit = groupSink();
      const { policy } = await seeded(keys, { auditSink: audit.sink });
      let n = 0;
      for await (const _ of policy.scan({})) if (++n === 5) break;
      expect(audit.stats).toMatchObject({ appends: 5, commits: 5, mostTogether: 1 });
    });

    it('an entry the sink cannot record: the entries before its key are returned, its failure is thrown next, fail closed', async () => {
      const audit = groupSink(6); // the entry of k005
      const { policy } = await seeded(keys, { auditSink: audit.sink });
      const scan = policy.scan({});
      const got = await scan.nextv(10);
      expect(got.map((e) => e.key.toString())).toEqual(keys.slice(0, 5));
      expect(scan.returned).toBe(5);
      const error = (await rejection(scan.nextv(10))) as PolicyViolation;
      expect(error.code).toBe(ViolationCode.AUDIT_UNAVAILABLE);
      expect(error.key).toBe('k005');
      expect(await scan.nextv(10).catch((e: unknown) => (e as { code?: string }).code)).toBe('iterator_closed');
    });

    it('a batch hands every entry to the sink together, and fails closed when one is not recorded', async () => {
      const audit = groupSink();
      const { policy } = await seeded([], { auditSink: audit.sink });
      await policy.batch(keys.map((key) => ({ type: 'put' as const, key, value: 'v' })));
      expect(audit.stats).toMatchObject({ appends: 40, commits: 1, mostTogether: 40 });

      const failing = groupSink(3);
      const other = await seeded([], { auditSink: failing.sink });
      const error = (await rejection(other.policy.batch(keys.slice(0, 5).map((key) => ({ type: 'put' as const, key, value: 'v' }))))) as PolicyViolation;
      expect(error.code).toBe(ViolationCode.AUDIT_UNAVAILABLE);
      expect(error.key).toBe('k002');
      // Every other entry was still handed to the sink.
      expect(failing.entries.map((e) => e.key)).toEqual(['k000', 'k001', 'k003', 'k004']);
    });
  });

  it('audits one entry per key examined, returned or withheld, with the scan id', async () => {
    const { policy } = await seeded(['p/a', 'p/b', 'p/c']);
    policy.enableAudit();
    policy.beforeRead('p/b', () => PolicyAction.DENY, { id: 'no-b' });
    policy.afterRead('p/c', () => PolicyAction.DENY, { id: 'hide-c' });
    const scan = policy.scan({ prefix: 'p/' }, { agent_id: 'agent' });
    expect(await collect(scan)).toEqual([['p/a', 'v:p/a']]);
    expect([scan.returned, scan.withheld]).toEqual([1, 2]);
    const log = await policy.getAuditLog();
    expect(log.map((e) => [e.operation, e.key, e.result, e.ruleId, e.agentId])).toEqual([
      ['read', 'p/a', 'allowed', null, 'agent'],
      ['read', 'p/b', 'denied', 'no-b', 'agent'],
      ['read', 'p/c', 'redacted', 'hide-c', 'agent'],
    ]);
    expect(new Set(log.map((e) => e.batchId))).toEqual(new Set([scan.batchId]));
    expect(new Set(log.map((e) => e.decisionId)).size).toBe(3);
  });

  it('publishes one decision event per key examined', async () => {
    const { policy } = await seeded(['a', 'b']);
    policy.beforeRead('b', () => PolicyAction.DENY);
    const events: DecisionEvent[] = [];
    policy.onDecision((e) => events.push(e));
    await collect(policy.scan());
    expect(events.map((e) => [e.key, e.result, e.code])).toEqual([
      ['a', 'allowed', null],
      ['b', 'denied', null],
    ]);
  });

  it('fails closed when a hook throws, and closes the store iterator', async () => {
    const { store, open } = countingStore();
    await store.put(b('a'), b('1'));
    await store.put(b('b'), b('2'));
    const policy = new PolicyEngine(store);
    policy.afterRead('b', () => {
      throw new Error('boom');
    });
    const scan = policy.scan();
    expect((await scan.next())?.key.toString()).toBe('a');
    await expect(scan.next()).rejects.toMatchObject({ code: 'hook_failed', key: 'b' });
    expect(open.now).toBe(0);
  });

  it('for await decides buffered keys in place, yet stays one key at a time and closes on failure', async () => {
    const { store, open } = countingStore();
    for (const k of ['a', 'b', 'c']) await store.put(b(k), b(k));
    const policy = new PolicyEngine(store);
    let release: () => void = () => {};
    policy.beforeRead('b', () => new Promise((resolve) => (release = () => resolve(PolicyAction.ALLOW))));
    policy.afterRead('c', () => {
      throw new Error('boom');
    });
    const scan = policy.scan();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const e of scan) seen.push(e.key.toString());
    })();
    await vi.waitFor(() => expect(seen).toEqual(['a']));
    // The loop is waiting on the hook of b: a next() now would decide a second key at once.
    await expect(scan.next()).rejects.toMatchObject({ code: 'iterator_busy' });
    release();
    await expect(loop).rejects.toMatchObject({ code: 'hook_failed', key: 'c' });
    expect(seen).toEqual(['a', 'b']);
    expect(open.now).toBe(0);
    await expect(scan.next()).rejects.toMatchObject({ code: 'iterator_closed' });
  });

  it('nextv decides many keys per call: withheld keys left out, the limit counted in entries returned', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `k${String(i).padStart(3, '0')}`);
    const { policy } = await seeded(keys);
    policy.beforeRead('k*0', () => PolicyAction.DENY).enableAudit({ maxEntries: 1000 });
    const scan = policy.scan({ limit: 250 });
    const first = await scan.nextv(100);
    expect(first.map((e) => e.key.toString())).toEqual(keys.filter((k) => !k.endsWith('0')).slice(0, 100));
    const rest: string[] = [];
    for (let got = await scan.nextv(1000); got.length > 0; got = await scan.nextv(1000)) rest.push(...got.map((e) => e.key.toString()));
    expect(rest).toEqual(keys.filter((k) => !k.endsWith('0')).slice(100, 250));
    expect(scan.returned).toBe(250);
    // Every key examined is audited once: 250 returned and the denied ones among them.
    expect(await policy.getAuditLog({ limit: 1000 })).toHaveLength(scan.returned + scan.withheld);
  });

  it('nextv returns the entries it decided before a failure, throws the failure next, and closes the store iterator', async () => {
    const { store, open } = countingStore();
    for (const k of ['a', 'b', 'c', 'd']) await store.put(b(k), b(k));
    const policy = new PolicyEngine(store).enableAudit();
    policy.afterRead('c', () => {
      throw new Error('boom');
    });
    const scan = policy.scan();
    expect((await scan.nextv(10)).map((e) => e.key.toString())).toEqual(['a', 'b']);
    expect(open.now).toBe(0);
    await expect(scan.nextv(10)).rejects.toMatchObject({ code: 'hook_failed', key: 'c' });
    await expect(scan.next()).rejects.toMatchObject({ code: 'iterator_closed' });
    expect((await policy.getAuditLog()).map((e) => [e.key, e.result])).toEqual([
      ['a', 'allowed'],
      ['b', 'allowed'],
      ['c', 'error'],
    ]);
  });

  it('reads the store in chunks that grow from 64 (or the first nextv\'s size) to 1024 entries, one chunk ahead', async () => {
    const { store, open } = countingStore();
    const sizes: number[] = [];
    const iterator = store.iterator.bind(store);
    store.iterator = (range: KeyRange) => {
      const it = iterator(range);
      const nextv = it.nextv.bind(it);
      it.nextv = (n: number) => (sizes.push(n), nextv(n));
      return it;
    };
    const ops: BatchOperation[] = Array.from({ length: 3000 }, (_, i) => ({ type: 'put', key: b(`k${String(i).padStart(4, '0')}`), value: b('v') }));
    await store.batch(ops);
    const policy = new PolicyEngine(store);
    const scan = policy.scan();
    expect(await scan.next()).toBeDefined();
    // The first chunk, and the next one asked for while the first is decided.
    expect(sizes).toEqual([64, 128]);
    await scan.close();
    expect(open.now).toBe(0);
    let n = 0;
    for await (const _ of policy.scan()) n++;
    expect(n).toBe(3000);
    expect(sizes.slice(2)).toEqual([64, 128, 256, 512, 1024, 1024, 1024]);
    // A limit the chunk in hand covers reads nothing ahead.
    sizes.length = 0;
    expect(await policy.scan({ limit: 10 }).nextv(10)).toHaveLength(10);
    expect(sizes).toEqual([64]);
    // A first nextv(n) reads n at once (up to 1024, at least 64, no more than the limit), then doubles.
    sizes.length = 0;
    const wide = policy.scan();
    expect(await wide.nextv(500)).toHaveLength(500);
    expect(sizes).toEqual([500, 1000]);
    await wide.close();
    sizes.length = 0;
    const huge = policy.scan({ limit: 300 });
    expect(await huge.nextv(5000)).toHaveLength(300);
    expect(sizes).toEqual([300]);
  });

  it('a chunk read ahead that fails: the store error escapes when reached, and nothing is unhandled when the scan closes first', async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 100; i++) await store.put(b(`k${String(i).padStart(3, '0')}`), b('v'));
    const iterator = store.iterator.bind(store);
    const failure = new Error('disk gone');
    store.iterator = (range: KeyRange) => {
      const it = iterator(range);
      const nextv = it.nextv.bind(it);
      let calls = 0;
      it.nextv = (n: number) => (++calls === 2 ? Promise.reject(failure) : nextv(n));
      return it;
    };
    const policy = new PolicyEngine(store);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const scan = policy.scan();
      expect(await scan.nextv(64)).toHaveLength(64);
      await expect(scan.nextv(64)).rejects.toBe(failure);
      const early = policy.scan();
      expect(await early.next()).toBeDefined();
      await early.close();
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('throws NotSupportedError before anything runs when the store has no iterator', () => {
    const store = new MemoryStore();
    const bare: KeyValueStore = { get: (k) => store.get(k), put: (k, v) => store.put(k, v), delete: (k) => store.delete(k), close: () => store.close() };
    const policy = new PolicyEngine(bare);
    const hook = vi.fn(() => PolicyAction.ALLOW);
    policy.beforeRead('*', hook);
    expect(() => policy.scan()).toThrow(NotSupportedError);
    expect(() => policy.scan()).toThrow(expect.objectContaining({ code: 'not_supported', capability: 'iterator' }));
    expect(hook).not.toHaveBeenCalled();
  });

  it('validates the range and copies its bounds', async () => {
    const { policy } = await seeded(['a', 'b', 'c']);
    expect(() => policy.scan({ gt: 'a', gte: 'b' })).toThrow(/gt or gte/);
    expect(() => policy.scan({ signal: 'no' as never })).toThrow(/range\.signal must be an AbortSignal/);
    const gt = Buffer.from('a');
    const scan = policy.scan({ gt });
    gt.write('c');
    expect(await collect(scan)).toEqual([
      ['b', 'v:b'],
      ['c', 'v:c'],
    ]);
  });
});

describe('policy.filterAllowed', () => {
  it('returns the keys before_read allows, as given and in order, without storage, tokens or audit', async () => {
    const store = new MemoryStore();
    const get = vi.spyOn(store, 'get');
    const iterator = vi.spyOn(store, 'iterator');
    const policy = new PolicyEngine(store).enableAudit().addRateLimit('read', { maxPerMinute: 1 });
    policy.beforeRead('private/**', () => PolicyAction.DENY);
    policy.beforeRead('docs/*', (ctx) => (ctx.agentId === 'intern' ? PolicyAction.DENY : PolicyAction.ALLOW));
    const candidate = Buffer.from('docs/x');
    const keys = ['docs/a', 'private/b/c', 'public/d', candidate];
    expect(await policy.filterAllowed(keys, { agent_id: 'lead' })).toEqual(['docs/a', 'public/d', candidate]);
    expect((await policy.filterAllowed(keys, { agent_id: 'lead' }))[2]).toBe(candidate);
    expect(await policy.filterAllowed(new Set(keys), { agent_id: 'intern' })).toEqual(['public/d']);
    expect(get).not.toHaveBeenCalled();
    expect(iterator).not.toHaveBeenCalled();
    expect(await policy.getAuditLog()).toEqual([]);
    // No token was taken: the single read token is still there.
    await policy.get('public/d');
    await expect(policy.get('public/d')).rejects.toMatchObject({ code: 'rate_limited' });
  });

  it('honours deny-by-default and fails closed on a failing hook', async () => {
    const policy = new PolicyEngine(new MemoryStore(), { defaultDeny: true });
    policy.load({ version: 1, rules: [{ id: 'pub', trigger: 'before_read', pattern: 'pub/*', effect: 'allow' }] });
    expect(await policy.filterAllowed(['pub/a', 'other'])).toEqual(['pub/a']);
    policy.beforeRead('pub/*', () => {
      throw new Error('boom');
    });
    await expect(policy.filterAllowed(['pub/a'])).rejects.toMatchObject({ code: 'hook_failed' });
    await expect(policy.filterAllowed('abc' as never)).rejects.toThrow(/keys must be an iterable/);
    await expect(policy.filterAllowed([''])).rejects.toThrow(/keys\[0\] must not be empty/);
  });
});

describe('policy.filterAllowed with asynchronous hooks', () => {
  const tick = () => new Promise<void>((r) => setImmediate(r));

  it('evaluates the next keys while decisions are pending, at most FILTER_PENDING at once, and answers in order', async () => {
    const policy = new PolicyEngine(new MemoryStore());
    let inFlight = 0;
    let most = 0;
    policy.beforeRead('doc/*', async (ctx) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await tick();
      inFlight--;
      return ctx.keyText.endsWith('7') ? PolicyAction.DENY : PolicyAction.ALLOW;
    });
    // Keys no pattern matches are answered at once, between the pending ones.
    const keys = Array.from({ length: 300 }, (_, i) => (i % 5 === 0 ? `pub/${i}` : `doc/${i}`));
    const allowed = await policy.filterAllowed(keys);
    expect(allowed).toEqual(keys.filter((k) => !(k.startsWith('doc/') && k.endsWith('7'))));
    expect(most).toBe(FILTER_PENDING);
    expect(inFlight).toBe(0);
  });

  it('reports the failure of the first failing key in order, whichever failed first in time', async () => {
    const policy = new PolicyEngine(new MemoryStore()).enableAudit();
    policy.beforeRead('doc/*', async (ctx) => {
      if (ctx.keyText === 'doc/3') {
        await tick();
        await tick();
        throw new Error('acl down (late)');
      }
      if (ctx.keyText === 'doc/6') throw new Error('acl down (at once)');
      return PolicyAction.ALLOW;
    });
    const error = (await rejection(policy.filterAllowed(['doc/1', 'doc/2', 'doc/3', 'doc/4', 'doc/5', 'doc/6', 'doc/7']))) as PolicyViolation;
    expect(error.code).toBe(ViolationCode.HOOK_FAILED);
    expect(error.key).toBe('doc/3');
    expect((error.cause as Error).message).toBe('acl down (late)');
    // Each failing hook is audited as any hook failure is.
    expect((await policy.getAuditLog()).map((e) => [e.key, e.result]).sort()).toEqual([
      ['doc/3', 'error'],
      ['doc/6', 'error'],
    ]);
  });
});

describe('policy.filterAllowed without a context for keys no pattern matches', () => {
  // With plain hooks a key that no before_read pattern matches is answered from its text alone;
  // a shadow rule that never denies makes the rule set not plain, so every key gets a context
  // and the whole evaluation: both must give the same answers and the same errors.
  const patterns = ['users/*/private', 'sys/**', '*.tmp', '{a,b}/?x', 'docs/\ufffd/*'];
  function engines(maxKeyBytes: number): PolicyEngine[] {
    return [false, true].map((slow) => {
      const policy = new PolicyEngine(new MemoryStore(), { maxKeyBytes });
      patterns.forEach((pattern, i) => policy.beforeRead(pattern, (ctx) => (ctx.keyText.length % 2 === i % 2 ? PolicyAction.DENY : PolicyAction.ALLOW)));
      if (slow) policy.load({ version: 1, rules: [{ id: 'never', trigger: 'before_read', pattern: 'no/such/key', effect: 'deny', enforce: false }] }, { name: 'shadow' });
      return policy;
    });
  }
  const settle = (p: Promise<unknown>) => p.then((v) => ({ ok: v }), (e: Error) => ({ error: `${e.name}: ${e.message}` }));
  const segment = fc.constantFrom('users', 'sys', 'docs', 'a', 'b', 'x', 'bx', 'ax', 'private', 'f.tmp', '\ufffd', '\ud800', 'é', '');
  const key = fc.oneof(
    fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')),
    fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => Buffer.from(parts.join('/'))),
    fc.uint8Array({ minLength: 0, maxLength: 12 }),
    // A lone surrogate is matched as U+FFFD, as its UTF-8 bytes decode (rule P7).
    fc.constantFrom('docs/\ud800/x', Buffer.from('docs/\ud800/x'), 'docs/\ufffd/x', Buffer.from([0x64, 0x6f, 0x63, 0x73, 0x2f, 0xff, 0x2f, 0x78])),
  );

  it('answers every key, string or bytes, well-formed or not, as the full evaluation does', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(key, { maxLength: 8 }), fc.integer({ min: 4, max: 24 }), async (keys, maxKeyBytes) => {
        const [fast, slow] = engines(maxKeyBytes);
        expect(await settle(fast!.filterAllowed(keys))).toEqual(await settle(slow!.filterAllowed(keys)));
      }),
      { numRuns: 300 },
    );
  });

  it('names the bad key by index, whichever path it takes', async () => {
    const [fast] = engines(8);
    await expect(fast!.filterAllowed(['ok', 42 as never])).rejects.toThrow(/^keys\[1\] must be a Buffer, Uint8Array or string, got number 42$/);
    await expect(fast!.filterAllowed(['ok', 'ok', ''])).rejects.toThrow(/^keys\[2\] must not be empty$/);
    await expect(fast!.filterAllowed(['ok', 'é'.repeat(5)])).rejects.toThrow(/^keys\[1\] is 10 bytes long; this engine accepts keys of 1 to 8 bytes/);
    await expect(fast!.filterAllowed([new Uint8Array(9)])).rejects.toThrow(/^keys\[0\] is 9 bytes long/);
  });
});

describe('policy.batch', () => {
  it('stores every operation in one store.batch, applying MODIFY rewrites, audited per operation with one batch id', async () => {
    const { store, policy } = await seeded(['old']);
    const batch = vi.spyOn(store, 'batch');
    const put = vi.spyOn(store, 'put');
    policy.enableAudit();
    policy.beforeWrite('tag/*', (ctx) => {
      ctx.modifiedValue = Buffer.concat([ctx.value!, b('!')]);
      return PolicyAction.MODIFY;
    });
    const after: string[] = [];
    policy.afterWrite('**', (ctx) => (after.push(`${ctx.keyText}=${ctx.value}`), PolicyAction.ALLOW));
    policy.afterDelete('*', (ctx) => (after.push(`-${ctx.keyText}`), PolicyAction.ALLOW));
    await policy.batch(
      [
        { type: 'put', key: 'a', value: '1' },
        { type: 'put', key: 'tag/b', value: '2' },
        { type: 'del', key: 'old' },
      ],
      { agent_id: 'w' },
    );
    expect(batch).toHaveBeenCalledTimes(1);
    expect(put).not.toHaveBeenCalled();
    expect((await store.get(b('a')))?.toString()).toBe('1');
    expect((await store.get(b('tag/b')))?.toString()).toBe('2!');
    expect(await store.get(b('old'))).toBeNull();
    expect(after).toEqual(['a=1', 'tag/b=2!', '-old']);
    const log = await policy.getAuditLog();
    expect(log.map((e) => [e.operation, e.key, e.result, e.agentId])).toEqual([
      ['write', 'a', 'allowed', 'w'],
      ['write', 'tag/b', 'allowed', 'w'],
      ['delete', 'old', 'allowed', 'w'],
    ]);
    expect(log[0]!.batchId).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(log.map((e) => e.batchId)).size).toBe(1);
  });

  it('stores nothing when one operation is denied, and names it by index and key', async () => {
    const { store, policy } = await seeded(['keep']);
    const batch = vi.spyOn(store, 'batch');
    policy.enableAudit();
    policy.beforeDelete('keep', () => PolicyAction.DENY, { id: 'no-delete' });
    const error = (await rejection(
      policy.batch([
        { type: 'put', key: 'x', value: '1' },
        { type: 'del', key: 'keep' },
        { type: 'put', key: 'y', value: '2' },
      ]),
    )) as PolicyViolation;
    expect(error).toBeInstanceOf(PolicyViolation);
    expect([error.code, error.index, error.key, error.operation, error.ruleId]).toEqual(['denied', 1, 'keep', 'delete', 'no-delete']);
    expect(batch).not.toHaveBeenCalled();
    expect(await store.get(b('x'))).toBeNull();
    expect((await store.get(b('keep')))?.toString()).toBe('v:keep');
    const log = await policy.getAuditLog();
    expect(log.map((e) => [e.key, e.result])).toEqual([
      ['x', 'denied'],
      ['keep', 'denied'],
      ['y', 'denied'],
    ]);
    expect(log.every((e) => e.batchId === error.batchId)).toBe(true);
    expect(log[1]!.decisionId).toBe(error.decisionId);
  });

  it('stores nothing and audits error when the store batch fails; the store error escapes as itself', async () => {
    const { store, policy } = await seeded([]);
    policy.enableAudit();
    const boom = new Error('disk full');
    store.batch = async (_ops: readonly BatchOperation[]) => {
      throw boom;
    };
    const after = vi.fn(() => PolicyAction.ALLOW);
    policy.afterWrite('*', after);
    expect(
      await rejection(
        policy.batch([
          { type: 'put', key: 'a', value: '1' },
          { type: 'put', key: 'b', value: '2' },
        ]),
      ),
    ).toBe(boom);
    expect(after).not.toHaveBeenCalled();
    expect(await store.get(b('a'))).toBeNull();
    expect((await policy.getAuditLog()).map((e) => e.result)).toEqual(['error', 'error']);
  });

  it('takes the tokens of every operation in one atomic consume (R7 across the batch)', async () => {
    const { store, policy } = await seeded([]);
    policy.enableAudit().addRateLimit('write', { maxPerMinute: 3, scope: 'agent_id' });
    const ops = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: 'v' }));
    const error = (await rejection(policy.batch(ops(4), { agent_id: 'a' }))) as PolicyViolation;
    expect(error.code).toBe('rate_limited');
    expect(error.index).toBeUndefined();
    expect(await store.get(b('k0'))).toBeNull();
    // The refused batch took nothing: three single operations still pass.
    await policy.batch(ops(2), { agent_id: 'a' });
    await policy.put('z', 'v', { agent_id: 'a' });
    await expect(policy.put('z', 'v', { agent_id: 'a' })).rejects.toMatchObject({ code: 'rate_limited' });
    const results = (await policy.getAuditLog()).map((e) => e.result);
    expect(results).toEqual(['rate_limited', 'rate_limited', 'rate_limited', 'rate_limited', 'allowed', 'allowed', 'allowed', 'rate_limited']);
  });

  it('fails closed when the rate-limit store cannot take several tokens at once', async () => {
    const store = new MemoryStore();
    const consume = vi.fn(() => ({ allowed: true, remaining: 9, retryAfterMs: 0 }));
    const policy = new PolicyEngine(store, { rateLimitStore: { consume } }).addRateLimit('write', { maxPerMinute: 10 });
    await policy.batch([{ type: 'put', key: 'one', value: 'v' }]);
    expect(consume).toHaveBeenCalledTimes(1);
    await expect(
      policy.batch([
        { type: 'put', key: 'a', value: 'v' },
        { type: 'put', key: 'b', value: 'v' },
      ]),
    ).rejects.toMatchObject({ code: 'limiter_unavailable' });
    expect(await store.get(b('a'))).toBeNull();
  });

  it('rejects with NotSupportedError before anything runs when the store has no batch', async () => {
    const store = new MemoryStore();
    const bare: KeyValueStore = { get: (k) => store.get(k), put: (k, v) => store.put(k, v), delete: (k) => store.delete(k), close: () => store.close() };
    const policy = new PolicyEngine(bare).enableAudit();
    const hook = vi.fn(() => PolicyAction.ALLOW);
    policy.beforeWrite('*', hook);
    await expect(policy.batch([{ type: 'put', key: 'a', value: 'v' }])).rejects.toMatchObject({ code: 'not_supported', capability: 'batch' });
    expect(hook).not.toHaveBeenCalled();
    expect(await policy.getAuditLog()).toEqual([]);
  });

  it('copies keys and values before any hook runs, and names bad operations by index', async () => {
    const { store, policy } = await seeded([]);
    const value = Buffer.from('safe');
    policy.beforeWrite('*', async () => {
      value.write('evil');
      return PolicyAction.ALLOW;
    });
    await policy.batch([{ type: 'put', key: 'k', value }]);
    expect((await store.get(b('k')))?.toString()).toBe('safe');
    await expect(policy.batch([{ type: 'put', key: 'k' } as never])).rejects.toThrow(/operations\[0\]\.value/);
    await expect(policy.batch([{ type: 'del', key: 'k' }, { type: 'nope', key: 'k' } as never])).rejects.toThrow(/operations\[1\]\.type/);
  });

  it('publishes one decision event per operation', async () => {
    const { policy } = await seeded([]);
    policy.beforeWrite('b', () => PolicyAction.DENY);
    const events: DecisionEvent[] = [];
    policy.onDecision((e) => events.push(e));
    await policy.batch([{ type: 'put', key: 'a', value: '1' }]);
    await policy.batch([{ type: 'put', key: 'a', value: '1' }, { type: 'put', key: 'b', value: '2' }]).catch(() => undefined);
    expect(events.map((e) => [e.key, e.result, e.code])).toEqual([
      ['a', 'allowed', null],
      ['a', 'denied', 'denied'],
      ['b', 'denied', 'denied'],
    ]);
  });
});

describe('policy.scan with asynchronous decisions (nextv decides keys while others are pending)', () => {
  const keys = Array.from({ length: 300 }, (_, i) => `k${String(i).padStart(3, '0')}`);
  const later = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

  it(`keeps up to ${SCAN_PENDING} keys pending, answers in key order, and leaves out what the hooks withhold (M4)`, async () => {
    const { policy } = await seeded(keys);
    policy.enableAudit({ maxEntries: 1000 });
    let inFlight = 0;
    let most = 0;
    policy.beforeRead('k*', async (ctx) => {
      inFlight++;
      most = Math.max(most, inFlight);
      // Later keys answer sooner: the answer must not follow the order of answers.
      await later(ctx.keyText.endsWith('7') ? 1 : 3);
      inFlight--;
      return ctx.keyText.endsWith('5') ? PolicyAction.DENY : PolicyAction.ALLOW;
    });
    const scan = policy.scan({});
    const started = Date.now();
    const got = (await scan.nextv(1000)).map((e) => e.key.toString());
    expect(got).toEqual(keys.filter((k) => !k.endsWith('5')));
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(SCAN_PENDING);
    // 300 keys at 1-3 ms each, one at a time, would take a second at least.
    expect(Date.now() - started).toBeLessThan(900);
    expect(await policy.getAuditLog({ limit: 1000 })).toHaveLength(300);
  });

  it('never examines more keys than the call can return: each key examined is returned or withheld (M3)', async () => {
    const { policy } = await seeded(keys);
    policy.enableAudit({ maxEntries: 1000 });
    let decided = 0;
    policy.beforeRead('k*', async () => {
      decided++;
      await later(1);
      return PolicyAction.ALLOW;
    });
    const scan = policy.scan({ limit: 25 });
    expect(await scan.nextv(10)).toHaveLength(10);
    expect(decided).toBe(10);
    expect(await scan.nextv(100)).toHaveLength(15);
    expect(decided).toBe(25);
    expect(await scan.nextv(100)).toHaveLength(0);
    expect(await policy.getAuditLog({ limit: 1000 })).toHaveLength(25);
  });

  it('a key whose asynchronous hook fails: the keys before it are returned, its failure is thrown next, none after it is returned', async () => {
    const { policy } = await seeded(keys);
    policy.enableAudit({ maxEntries: 1000 });
    policy.beforeRead('k*', async (ctx) => {
      await later(ctx.keyText === 'k005' ? 5 : 1);
      if (ctx.keyText === 'k005') throw new Error('policy service down');
      return PolicyAction.ALLOW;
    });
    const scan = policy.scan({});
    expect((await scan.nextv(100)).map((e) => e.key.toString())).toEqual(['k000', 'k001', 'k002', 'k003', 'k004']);
    await expect(scan.nextv(100)).rejects.toMatchObject({ code: 'hook_failed', key: 'k005' });
    const log = await policy.getAuditLog({ limit: 1000 });
    expect(log.filter((e) => e.result === 'error').map((e) => e.key)).toEqual(['k005']);
    // Keys after it may have been decided while it was pending (audited, at most the window), never returned.
    expect(log.length).toBeLessThanOrEqual(6 + SCAN_PENDING);
  });

  it('a key whose decision fails synchronously is the last one examined, even while keys before it are pending', async () => {
    const { policy } = await seeded(keys);
    policy.enableAudit({ maxEntries: 1000 });
    policy.beforeRead('k00?', async () => {
      await later(2);
      return PolicyAction.ALLOW;
    });
    policy.beforeRead('k010', () => {
      throw new Error('boom');
    });
    const scan = policy.scan({});
    expect((await scan.nextv(100)).map((e) => e.key.toString())).toEqual(keys.slice(0, 10));
    await expect(scan.nextv(100)).rejects.toMatchObject({ code: 'hook_failed', key: 'k010' });
    expect((await policy.getAuditLog({ limit: 1000 })).map((e) => e.key).sort()).toEqual(keys.slice(0, 11));
  });

  it('a rate limit that runs out among asynchronous hooks refuses exactly the key past the last token (M3)', async () => {
    const { policy } = await seeded(keys);
    policy.enableAudit({ maxEntries: 1000 }).addRateLimit('read', { maxPerMinute: 40 });
    policy.beforeRead('k*', async () => {
      await later(1);
      return PolicyAction.ALLOW;
    });
    const scan = policy.scan({});
    expect(await scan.nextv(100)).toHaveLength(40);
    await expect(scan.nextv(100)).rejects.toMatchObject({ code: 'rate_limited', key: 'k040' });
    // Entries are logged as decisions end (the refusal is immediate): by key, 40 allowed and the refusal, nothing past it.
    const log = (await policy.getAuditLog({ limit: 1000 })).sort((x, y) => (x.key < y.key ? -1 : 1));
    expect(log.map((e) => [e.key, e.result])).toEqual([...keys.slice(0, 40).map((k) => [k, 'allowed']), ['k040', 'rate_limited']]);
  });
});

