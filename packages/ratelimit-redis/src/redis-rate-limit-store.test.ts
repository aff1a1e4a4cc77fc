import { MemoryStore, PolicyEngine, PolicyViolation, type BucketRequest } from '@sochdb-policy/core';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeBucketState } from './bucket-state.js';
import { RedisRateLimitError } from './errors.js';
import { RedisRateLimitStore } from './redis-rate-limit-store.js';
import { CONSUME_SCRIPT, CONSUME_SCRIPT_SHA } from './script.js';
import { redisAvailability, startRedisServer, type RedisServer } from './testing/index.js';

const redis = redisAvailability();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let unique = 0;
// Prefixes unique to this run, so a shared REDIS_URL server left with old keys changes nothing.
const run = `${process.pid}-${Date.now()}`;
const bucket = (capacity: number, windowMs = 60_000): BucketRequest => ({ key: `b${process.pid}-${unique++}`, capacity, windowMs });

/** Counts the commands a client sends: each is one round trip to Redis. */
function countCommands(client: Redis): { readonly count: number; readonly names: string[] } {
  const names: string[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command: { name: string }, stream?: unknown) => {
    names.push(command.name);
    return send(command as never, stream as never);
  }) as Redis['sendCommand'];
  return {
    get count() {
      return names.length;
    },
    names,
  };
}

describe('RedisRateLimitStore options', () => {
  it('rejects bad options with TypeError/RangeError naming the option, before connecting', () => {
    const client = new Redis({ lazyConnect: true });
    expect(() => new RedisRateLimitStore(undefined as never)).toThrow(TypeError);
    expect(() => new RedisRateLimitStore({} as never)).toThrow(/options\.url/);
    expect(() => new RedisRateLimitStore({ url: '' })).toThrow(TypeError);
    expect(() => new RedisRateLimitStore({ client: {} as never })).toThrow(/options\.client/);
    expect(() => new RedisRateLimitStore({ client, url: 'redis://x' } as never)).toThrow(/exclude/);
    expect(() => new RedisRateLimitStore({ client, redisOptions: {} } as never)).toThrow(/redisOptions/);
    expect(() => new RedisRateLimitStore({ client, clock: 'local' as never })).toThrow(RangeError);
    expect(() => new RedisRateLimitStore({ client, keyPrefix: 'a{b}' })).toThrow(/keyPrefix/);
    expect(() => new RedisRateLimitStore({ client, keyPrefix: 5 as never })).toThrow(TypeError);
    expect(() => new RedisRateLimitStore({ client, hashTag: '' })).toThrow(/hashTag/);
    expect(() => new RedisRateLimitStore({ client, hashTag: 'a}' })).toThrow(RangeError);
    expect(() => new RedisRateLimitStore({ client, timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => new RedisRateLimitStore({ client, timeoutMs: 1.5 })).toThrow(RangeError);
    expect(() => new RedisRateLimitStore({ client, insurance: {} as never })).toThrow(/insurance/);
    expect(() => new RedisRateLimitStore({ client, onError: 'log' as never })).toThrow(/onError/);
    client.disconnect();
  });

  // Issue 10 item 11: `redis://127.0.0.1:notaport` threw ioredis' bare "Invalid URL".
  it.each([
    ['redis://127.0.0.1:notaport', RangeError, /^options\.url must be redis:\/\/\[user:password@\]host\[:port\]\[\/db\] or rediss:\/\/… \(TLS\), got a string "redis:\/\/127\.0\.0\.1:notaport": the port must be an integer from 0 to 65535, got "notaport"$/],
    ['redis://127.0.0.1:70000', RangeError, /the port must be an integer from 0 to 65535, got "70000"/],
    ['http://127.0.0.1:6379', RangeError, /scheme "http:" is not redis: or rediss:/],
    ['REDISS://127.0.0.1:6379', RangeError, /scheme "REDISS:" is not redis: or rediss: \(lower case\)/],
    ['127.0.0.1:6379', RangeError, /got a string "127\.0\.0\.1:6379": .*scheme/],
    ['redis:127.0.0.1', RangeError, /"redis:" must be followed by \/\//],
    ['redis://', RangeError, /no host/],
    ['redis://127.0.0.1:6379/db1', RangeError, /the path must be a database number such as \/0, got "\/db1"/],
    ['redis://user:%zz@127.0.0.1:6379', RangeError, /the password holds a malformed %-escape/],
    ['redis://a b:6379', RangeError, /not a valid URL/],
    [42, TypeError, /options\.url must be a non-empty string, .* got number 42/],
  ])('rejects the url %j, naming it, what it got and what it accepts', (url, type, message) => {
    const make = () => new RedisRateLimitStore({ url: url as string });
    expect(make).toThrow(type);
    expect(make).toThrow(message);
  });

  it('never shows a password from a bad url', () => {
    const make = () => new RedisRateLimitStore({ url: 'redis://user:s3cret@127.0.0.1:notaport/0' });
    expect(make).toThrow(/got a string "redis:\/\/user:\*\*\*@127\.0\.0\.1:notaport\/0"/);
    expect(make).not.toThrow(/s3cret/);
  });

  it('accepts the documented url forms without connecting', async () => {
    for (const url of ['redis://127.0.0.1:1', 'redis://localhost', 'redis://:pw@127.0.0.1:1/3', 'rediss://user:p%40ss@[::1]:1/0', 'redis://127.0.0.1:1/']) {
      const store = new RedisRateLimitStore({ url, redisOptions: { lazyConnect: true } });
      await store.close();
    }
  });

  it('names every other bad option, what it got and what it accepts', () => {
    const client = new Redis({ lazyConnect: true });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ client, timeout: 500 }, /^options\.timeout is not an option of RedisRateLimitStore; the options are url, client, redisOptions, clock, keyPrefix, hashTag, timeoutMs, insurance, onError$/],
      [{ client, keyprefix: 'x' }, /options\.keyprefix is not an option/],
      [{ client, clock: 'local' }, /^options\.clock must be 'server' or 'caller', got a string "local"$/],
      [{ client, keyPrefix: 'a\uD800' }, /^options\.keyPrefix must be well-formed text \(no lone surrogate\), got a string/],
      [{ client, hashTag: 'x\uDC00' }, /^options\.hashTag must be non-empty well-formed text without \{ or \}, got a string/],
      [{ client, timeoutMs: '1000' }, /^options\.timeoutMs must be a number of milliseconds, got a string "1000"$/],
      [{ client, timeoutMs: 2 ** 31 }, /^options\.timeoutMs must be an integer from 1 to 2147483647 \(milliseconds\), got number 2147483648$/],
      [{ client, insurance: null }, /^options\.insurance must be a RateLimitStore with a consume method, got null$/],
      [{ client, redisOptions: {} }, /^options\.redisOptions applies only with options\.url, got an object \(Object\) with options\.client$/],
      [{ client, url: 'redis://x' }, /^options\.client and options\.url exclude each other: give one, got both/],
      [{ url: 'redis://127.0.0.1:1', redisOptions: [] }, /^options\.redisOptions must be an object of ioredis options, got an array$/],
      [{}, /^options\.url or options\.client is required/],
    ];
    for (const [options, message] of cases) expect(() => new RedisRateLimitStore(options as never), String(message)).toThrow(message);
    expect(() => new RedisRateLimitStore([] as never)).toThrow(/^options must be an object \{ url \} or \{ client \}.*got an array$/);
    client.disconnect();
  });

  it('rejects a bucket key with a lone surrogate and capacity × windowMs past 2^53, naming them', async () => {
    const client = new Redis({ lazyConnect: true });
    const store = new RedisRateLimitStore({ client, clock: 'caller' });
    // Redis keys are bytes: 'a\uD800' and 'a\uFFFD' would be one key.
    await expect(store.consume([{ key: 'a\uD800', capacity: 1, windowMs: 1 }], 0)).rejects.toThrow(/^buckets\[0\]\.key must be well-formed text \(no lone surrogate\)/);
    await expect(store.consume([{ key: 'k', capacity: 2 ** 40, windowMs: 2 ** 20 }], 0)).rejects.toThrow(/^buckets\[0\]\.capacity × windowMs must be at most 9007199254740991, got 1099511627776 × 1048576$/);
    expect(client.status).toBe('wait'); // never connected
    client.disconnect();
  });

  it('rejects bad buckets and, with the caller clock, a bad now, without calling Redis', async () => {
    const client = new Redis({ lazyConnect: true });
    const store = new RedisRateLimitStore({ client, clock: 'caller' });
    await expect(store.consume('x' as never, 0)).rejects.toThrow(/buckets must be an array/);
    await expect(store.consume([{ key: 1 } as never], 0)).rejects.toThrow(/buckets\[0\]\.key/);
    await expect(store.consume([{ key: 'k', capacity: 0, windowMs: 1 }], 0)).rejects.toThrow(RangeError);
    await expect(store.consume([{ key: 'k', capacity: 1, windowMs: Number.NaN }], 0)).rejects.toThrow(/windowMs/);
    await expect(store.consume([bucket(1)], Number.POSITIVE_INFINITY)).rejects.toThrow(/now/);
    expect(client.status).toBe('wait'); // never connected
    client.disconnect();
  });

  it('rejects tokens that are not a positive integer, or past 2^53 units, naming them, without calling Redis', async () => {
    const client = new Redis({ lazyConnect: true });
    const store = new RedisRateLimitStore({ client, clock: 'caller' });
    expect(store.supports.tokens).toBe(true);
    for (const tokens of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '2' as never]) {
      await expect(store.consume([{ key: 'k', capacity: 5, windowMs: 60_000, tokens }], 0)).rejects.toThrow(/^buckets\[0\]\.tokens must be a positive integer \(or absent for 1\), got /);
      await expect(store.peek([{ key: 'k', capacity: 5, windowMs: 60_000, tokens }], 0)).rejects.toThrow(/buckets\[0\]\.tokens/);
    }
    await expect(store.consume([bucket(1), { key: 'k', capacity: 5, windowMs: 2 ** 20, tokens: 2 ** 40 }], 0)).rejects.toThrow(
      /^buckets\[1\]\.tokens × windowMs must be at most 9007199254740991, got 1099511627776 × 1048576$/,
    );
    expect(client.status).toBe('wait'); // never connected
    client.disconnect();
  });

  it('puts every key under <prefix>{<hashTag>}: with documented defaults', () => {
    const client = new Redis({ lazyConnect: true });
    const store = new RedisRateLimitStore({ client });
    expect(store.keyBase).toBe('sochdb-policy:rl:{default}:');
    expect(store.clock).toBe('server');
    expect(store.timeoutMs).toBe(1000);
    expect(store.redisKey('write|global|5/60000|global')).toBe('sochdb-policy:rl:{default}:write|global|5/60000|global');
    client.disconnect();
  });
});

describe.skipIf(!redis.available)(`RedisRateLimitStore on Redis${redis.reason ? ` (skipped: ${redis.reason})` : ''}`, () => {
  let server: RedisServer;
  let client: Redis;
  let open: RedisRateLimitStore[] = [];
  const make = (options: Partial<ConstructorParameters<typeof RedisRateLimitStore>[0]> = {}) => {
    const store = new RedisRateLimitStore({ client, ...options } as ConstructorParameters<typeof RedisRateLimitStore>[0]);
    open.push(store);
    return store;
  };
  beforeAll(async () => {
    server = await startRedisServer();
    client = new Redis(server.url);
  });
  afterEach(async () => {
    for (const s of open) await s.close();
    open = [];
  });
  afterAll(async () => {
    await client?.quit();
    await server?.stop();
  });

  it('answers policy.evaluate dry runs through peek, taking no token (issue 13)', async () => {
    const engine = new PolicyEngine(new MemoryStore(), { rateLimitStore: make({ keyPrefix: `peek-${run}:` }) });
    engine.addRateLimit('write', { maxPerMinute: 2, scope: 'agent_id' });
    const context = { agent_id: 'a' };
    for (let i = 0; i < 3; i++) expect((await engine.evaluate('write', 'k', { context })).rateLimit).toMatchObject({ status: 'admitted', remaining: 1 });
    await engine.put('k', 'v', context);
    expect((await engine.evaluate('write', 'k', { context })).rateLimit).toMatchObject({ status: 'admitted', remaining: 0 });
    await engine.put('k', 'v', context);
    const limited = (await engine.evaluate('write', 'k', { context })).rateLimit;
    expect(limited).toMatchObject({ status: 'limited' });
    expect((limited as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    await expect(engine.put('k', 'v', context)).rejects.toMatchObject({ code: 'rate_limited' });
  });

  it('charges an engine batch of N operations N tokens in one call, all or none (R7 across the batch, M7)', async () => {
    const store = make({ keyPrefix: `batch-${run}:`, clock: 'caller' });
    const commands = countCommands(client);
    const kv = new MemoryStore();
    let now = 1_800_000_000_000;
    const engine = new PolicyEngine(kv, { rateLimitStore: store, clock: () => now });
    engine.addRateLimit('write', { maxPerMinute: 5, scope: 'agent_id' }).addRateLimit('all', { maxPerMinute: 100 }).enableAudit();
    const ops = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ type: 'put' as const, key: `k${from + i}`, value: 'v' }));
    const context = { agent_id: 'a' };

    const before = commands.count;
    await engine.batch(ops(4), context);
    expect(commands.count - before).toBe(1); // one EVALSHA for both limits and all four operations
    const agentKey = store.redisKey('write|agent_id|5/60000|a');
    const globalKey = store.redisKey('all|global|100/60000|global');
    // Levels count tokens × windowMs: 4 tokens taken from each bucket.
    expect(decodeBucketState((await client.getBuffer(agentKey))!)).toMatchObject({ level: 1 * 60_000, last: now });
    expect(decodeBucketState((await client.getBuffer(globalKey))!)).toMatchObject({ level: 96 * 60_000, last: now });

    // 1 token left for the agent: a batch of 2 is refused whole and takes nothing from either bucket.
    const error = await engine.batch(ops(2, 10), context).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyViolation);
    expect((error as PolicyViolation).code).toBe('rate_limited');
    expect((error as PolicyViolation).retryAfterMs).toBe(12_000); // one more token at 5 per minute
    expect(await kv.get(Buffer.from('k10'))).toBeNull();
    expect(decodeBucketState((await client.getBuffer(agentKey))!).level).toBe(60_000);
    expect(decodeBucketState((await client.getBuffer(globalKey))!).level).toBe(96 * 60_000);
    // Another agent has its own bucket; the global one is shared.
    await engine.batch(ops(5, 20), { agent_id: 'b' });
    expect(decodeBucketState((await client.getBuffer(globalKey))!).level).toBe(91 * 60_000);
    // The refused batch left the agent its one token; 12 s later it has two.
    await engine.put('k30', 'v', context);
    await expect(engine.put('k31', 'v', context)).rejects.toMatchObject({ code: 'rate_limited' });
    now += 24_000;
    await engine.batch(ops(2, 40), context);
    // More operations than the limit allows at all: refused, even with a full bucket.
    const tooMany = await engine.batch(ops(6, 50), { agent_id: 'c' }).catch((e: unknown) => e);
    expect((tooMany as PolicyViolation).code).toBe('rate_limited');
    expect(await client.exists(store.redisKey('write|agent_id|5/60000|c'))).toBe(0);
    const results = (await engine.getAuditLog()).map((e) => e.result);
    expect(results).toEqual([
      ...Array(4).fill('allowed'),
      ...Array(2).fill('rate_limited'),
      ...Array(5).fill('allowed'),
      'allowed',
      'rate_limited',
      ...Array(2).fill('allowed'),
      ...Array(6).fill('rate_limited'),
    ]);
  });

  it('limits a PolicyEngine: rate_limited violation with retryAfterMs, audited (rules R2, R3)', async () => {
    const engine = new PolicyEngine(new MemoryStore(), { rateLimitStore: make({ keyPrefix: `engine-${run}:` }) });
    engine.addRateLimit('write', { maxPerMinute: 2, scope: 'agent_id' }).enableAudit();
    await engine.put('k', 'v', { agent_id: 'a' });
    await engine.put('k', 'v', { agent_id: 'a' });
    const error = await engine.put('k', 'v', { agent_id: 'a' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyViolation);
    expect((error as PolicyViolation).code).toBe('rate_limited');
    expect((error as PolicyViolation).retryAfterMs).toBeGreaterThan(0);
    await engine.put('k', 'v', { agent_id: 'b' }); // another agent, another bucket
    expect((await engine.getAuditLog()).map((e) => e.result)).toEqual(['allowed', 'allowed', 'rate_limited', 'allowed']);
  });

  it('charges policy.scan nextv one script run per run of keys, still one token per key examined (rule M3)', async () => {
    const kv = new MemoryStore();
    const key = (i: number) => `k${String(i).padStart(3, '0')}`;
    for (let i = 0; i < 200; i++) await kv.put(Buffer.from(key(i)), Buffer.from('v'));
    const engine = new PolicyEngine(kv, { rateLimitStore: make({ keyPrefix: `scan-${run}:` }) });
    engine.addRateLimit('read', { maxPerMinute: 150, scope: 'agent_id' }).enableAudit({ maxEntries: 1000 });
    await engine.get(key(0), { agent_id: 'warm-up' }); // the script loaded: one command per call from here
    const sent = countCommands(client);
    const scan = engine.scan({}, { agent_id: 'a' });
    expect(await scan.nextv(100)).toHaveLength(100);
    // The scan's first chunk is the 100 keys asked for: one run of 100 keys, one command, not 100.
    expect(sent.names).toEqual(['evalsha']);
    // 50 tokens left: a run over the next chunk's 100 keys takes nothing, then one per key until none is left.
    expect(await scan.nextv(100)).toHaveLength(50);
    const error = await scan.nextv(100).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyViolation);
    expect((error as PolicyViolation).code).toBe('rate_limited');
    expect((error as PolicyViolation).key).toBe(key(150));
    expect(sent.count).toBe(1 + 1 + 50 + 1);
    const log = await engine.getAuditLog({ agentId: 'a', limit: 1000 });
    expect(log.filter((e) => e.result === 'allowed')).toHaveLength(150);
    expect(log.filter((e) => e.result === 'rate_limited').map((e) => e.key)).toEqual([key(150)]);
  });

  it('lays keys out as <prefix>{<hashTag>}:<bucket key>, all in the hash tag slot', async () => {
    const engine = new PolicyEngine(new MemoryStore(), { rateLimitStore: make({ keyPrefix: `layout-${run}:`, hashTag: 'tenant-a' }) });
    engine.addRateLimit('all', { maxPerMinute: 50 });
    engine.addRateLimit('write', { maxPerMinute: 5, scope: 'agent_id' });
    engine.addRateLimit('write', { maxPerMinute: 7, scope: 'team' });
    await engine.put('k', 'v', { agent_id: 'agent 7', team: 'blue' });
    const keys = (await client.keys(`layout-${run}:*`)).sort();
    expect(keys).toEqual([
      `layout-${run}:{tenant-a}:all|global|50/60000|global`,
      `layout-${run}:{tenant-a}:write|agent_id|5/60000|agent%207`,
      `layout-${run}:{tenant-a}:write|team|7/60000|blue`,
    ]);
    // Redis Cluster hashes only the tag: one slot for every bucket, so one script may touch them all.
    expect(new Set(keys.map((k) => calculateSlot(k)))).toEqual(new Set([calculateSlot('tenant-a')]));
    // The value: level (units) and last take (ms), two little-endian doubles.
    const state = decodeBucketState((await client.getBuffer(keys[0]!))!);
    expect(state.level).toBe(49 * 60_000);
    const [seconds] = await client.time();
    expect(Math.abs(state.last - Number(seconds) * 1000)).toBeLessThan(60_000);
  });

  it('keeps stores with different prefixes apart', async () => {
    const a = make({ keyPrefix: `apart-a-${run}:` });
    const b = make({ keyPrefix: `apart-b-${run}:` });
    const shared = bucket(1);
    expect((await a.consume([shared], 0)).allowed).toBe(true);
    expect((await a.consume([shared], 0)).allowed).toBe(false);
    expect((await b.consume([shared], 0)).allowed).toBe(true);
  });

  it('keeps a key until its bucket is full again, at most one window after the last take, and writes none on rejection', async () => {
    const store = make({ keyPrefix: `expiry-${run}:` });
    const b = bucket(4, 400); // a token every 100 ms
    const key = store.redisKey(b.key);
    for (let take = 0; take < 6; take++) {
      await store.consume([b], 0);
      const [ttl, value, [seconds, micros]] = await Promise.all([client.pttl(key), client.getBuffer(key), client.time()]);
      const state = decodeBucketState(value!);
      const serverNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      const untilFull = Math.ceil((b.capacity * b.windowMs - state.level) / b.capacity) - (serverNow - state.last);
      expect(ttl).toBeGreaterThanOrEqual(untilFull);
      expect(ttl).toBeLessThanOrEqual(b.windowMs + 1);
      await sleep(15);
    }

    // All or nothing (rule R7) also for memory: a rejected call creates no key.
    const empty = bucket(1);
    await store.consume([empty], 0);
    const fresh = bucket(3);
    expect((await store.consume([fresh, empty], 0)).allowed).toBe(false);
    expect(await client.exists(store.redisKey(fresh.key))).toBe(0);

    const quick = bucket(2, 100);
    await store.consume([quick], 0);
    await sleep(250);
    expect(await client.exists(store.redisKey(quick.key))).toBe(0);
    expect(await store.consume([quick], 0)).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 });
  });

  it("with clock 'server' uses Redis TIME and ignores the caller's now", async () => {
    const store = make({ keyPrefix: `server-clock-${run}:` });
    const b = bucket(1, 60_000);
    expect((await store.consume([b], 0)).allowed).toBe(true);
    // A caller clock a century ahead refills nothing: only the server's time counts.
    expect((await store.consume([b], 3_200_000_000_000)).allowed).toBe(false);
    const [seconds] = await client.time();
    const { last } = decodeBucketState((await client.getBuffer(store.redisKey(b.key)))!);
    expect(Math.abs(last - Number(seconds) * 1000)).toBeLessThan(60_000);
  });

  it("with clock 'caller' refills by the caller's now", async () => {
    const store = make({ keyPrefix: `caller-clock-${run}:`, clock: 'caller' });
    const b = bucket(1, 60_000);
    expect((await store.consume([b], 0)).allowed).toBe(true);
    expect((await store.consume([b], 59_999)).allowed).toBe(false);
    expect((await store.consume([b], 60_000)).allowed).toBe(true);
  });

  it('answers after SCRIPT FLUSH by loading the script again; one round trip per call otherwise', async () => {
    const own = new Redis(server.url);
    const sent = countCommands(own);
    const store = new RedisRateLimitStore({ client: own, keyPrefix: `flush-${run}:`, clock: 'caller' });
    const b = bucket(5);
    await store.consume([b], 0); // may load the script (EVALSHA, then EVAL)
    const before = sent.count;
    expect(await store.consume([b, bucket(9)], 0)).toEqual({ allowed: true, remaining: 3, retryAfterMs: 0 });
    expect(sent.count - before).toBe(1);

    await client.script('FLUSH');
    expect(await client.script('EXISTS', CONSUME_SCRIPT_SHA)).toEqual([0]);
    expect(await store.consume([b], 0)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
    expect(await client.script('EXISTS', CONSUME_SCRIPT_SHA)).toEqual([1]);
    const after = sent.count;
    await store.consume([b], 0);
    expect(sent.count - after).toBe(1);
    expect(sent.names.slice(after)).toEqual(['evalsha']);
    await own.quit();
  });

  it('sends the calls made together as one script run after the first, also after SCRIPT FLUSH', async () => {
    const own = new Redis(server.url);
    const sent = countCommands(own);
    const store = new RedisRateLimitStore({ client: own, keyPrefix: `together-${run}:`, clock: 'caller' });
    const shared = bucket(10);
    const together = async () => Promise.all(Array.from({ length: 8 }, (_, i) => store.consume(i % 2 === 0 ? [shared] : [shared, bucket(3)], 0)));
    await together(); // loads both scripts (EVALSHA, NOSCRIPT, EVAL)
    const before = sent.count;
    const answers = await together();
    // The first call goes alone; the seven made while it was in flight go together.
    expect(sent.names.slice(before)).toEqual(['evalsha', 'evalsha']);
    // The shared bucket had 2 of 10 left, taken by the first two calls in the order made.
    expect(answers.map((a) => a.allowed)).toEqual([true, true, false, false, false, false, false, false]);
    expect(answers.map((a) => a.remaining)).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(answers.slice(2).every((a) => a.limitedBy === shared.key)).toBe(true);

    await client.script('FLUSH');
    const after = sent.count;
    const again = await Promise.all([store.consume([bucket(2)], 0), store.consume([bucket(2)], 0), store.consume([bucket(2)], 0)]);
    expect(again).toEqual([0, 1, 2].map(() => ({ allowed: true, remaining: 1, retryAfterMs: 0 })));
    expect(sent.names.slice(after)).toEqual(['evalsha', 'evalsha', 'eval', 'eval']);
    await own.quit();
  });

  it('splits a burst into script runs of at most 128 calls, answering every call in order', async () => {
    const own = new Redis(server.url);
    const sent = countCommands(own);
    const store = new RedisRateLimitStore({ client: own, keyPrefix: `burst-${run}:`, clock: 'caller' });
    await Promise.all([store.consume([bucket(1)], 0), store.consume([bucket(1)], 0)]); // loads both scripts
    const shared = bucket(200);
    const before = sent.count;
    const answers = await Promise.all(Array.from({ length: 300 }, () => store.consume([shared], 0)));
    expect(sent.names.slice(before)).toEqual(['evalsha', 'evalsha', 'evalsha', 'evalsha']); // 1 alone, then 128 + 128 + 43
    expect(answers.filter((a) => a.allowed)).toHaveLength(200);
    expect(answers.map((a) => a.allowed)).toEqual(Array.from({ length: 300 }, (_, i) => i < 200));
    expect(answers.slice(0, 200).map((a) => a.remaining)).toEqual(Array.from({ length: 200 }, (_, i) => 199 - i));
    await own.quit();
  });

  it('fails a call of a batch alone when its own bucket fails in Redis; the others are answered', async () => {
    const errors: RedisRateLimitError[] = [];
    const store = make({ keyPrefix: `batch-wrongtype-${run}:`, onError: (e) => errors.push(e), clock: 'caller' });
    const bad = bucket(5);
    await client.rpush(store.redisKey(bad.key), 'not a bucket');
    const settled = await Promise.allSettled([store.consume([bucket(5)], 0), store.consume([bucket(5)], 0), store.consume([bad], 0), store.consume([bucket(5)], 0)]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const error = (settled[2] as PromiseRejectedResult).reason as RedisRateLimitError;
    expect(error).toBeInstanceOf(RedisRateLimitError);
    expect(error.code).toBe('redis_error');
    expect(error.message).toMatch(/WRONGTYPE/);
    expect(errors.map((e) => e.code)).toEqual(['redis_error']);
    expect((settled[3] as PromiseFulfilledResult<unknown>).value).toEqual({ allowed: true, remaining: 4, retryAfterMs: 0 });
  });

  it('answers calls made just before close() before it closes the client', async () => {
    const store = new RedisRateLimitStore({ url: server.url, keyPrefix: `close-batch-${run}:`, clock: 'caller' });
    await store.consume([bucket(1)], 0); // connected (a client still connecting is disconnected by close())
    const calls = Array.from({ length: 5 }, () => store.consume([bucket(1)], 0));
    await store.close();
    expect(await Promise.all(calls)).toEqual(calls.map(() => ({ allowed: true, remaining: 0, retryAfterMs: 0 })));
    expect(store.client.status).toBe('end');
  });

  it("writes under the keyPrefix of a client you pass, the same way after SCRIPT FLUSH", async () => {
    const own = new Redis(server.url, { keyPrefix: `client-prefix-${run}:` });
    const store = new RedisRateLimitStore({ client: own, keyPrefix: `store-${run}:`, clock: 'caller' });
    const b = bucket(5);
    expect(await store.consume([b], 0)).toEqual({ allowed: true, remaining: 4, retryAfterMs: 0 });
    await client.script('FLUSH'); // the next call goes EVALSHA, NOSCRIPT, EVAL
    expect(await store.consume([b], 0)).toEqual({ allowed: true, remaining: 3, retryAfterMs: 0 });
    expect(await store.consume([b], 0)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
    // One key, prefixed once by the client: EVAL did not prefix it twice or write elsewhere.
    expect(await client.keys(`*${b.key}`)).toEqual([`client-prefix-${run}:${store.redisKey(b.key)}`]);
    await own.quit();
  });

  it('names the script by the SHA1 Redis gives it', async () => {
    expect(await client.script('LOAD', CONSUME_SCRIPT)).toBe(CONSUME_SCRIPT_SHA);
  });

  it('fails closed on a Redis error: limiter_unavailable with the RedisRateLimitError as cause', async () => {
    const errors: RedisRateLimitError[] = [];
    const store = make({ keyPrefix: `wrongtype-${run}:`, onError: (e) => errors.push(e) });
    const engine = new PolicyEngine(new MemoryStore(), { rateLimitStore: store });
    engine.addRateLimit('write', { maxPerMinute: 5 });
    // Something else wrote a list where a bucket belongs: GET fails with WRONGTYPE.
    await client.rpush(store.redisKey(engine.rateLimits[0]!.id + '|global'), 'not a bucket');
    const error = (await engine.put('k', 'v').catch((e: unknown) => e)) as PolicyViolation;
    expect(error).toBeInstanceOf(PolicyViolation);
    expect(error.code).toBe('limiter_unavailable');
    expect(error.cause).toBeInstanceOf(RedisRateLimitError);
    expect((error.cause as RedisRateLimitError).code).toBe('redis_error');
    expect(errors.map((e) => e.code)).toEqual(['redis_error']);
    expect(await engine.db.get(Buffer.from('k'))).toBeNull();
  });

  it('closes a client it opened from url, never one it was given; rejects calls once closed', async () => {
    const fromUrl = new RedisRateLimitStore({ url: server.url, keyPrefix: `close-${run}:` });
    await fromUrl.consume([bucket(1)], 0);
    await fromUrl.close();
    expect(fromUrl.client.status).toBe('end');
    const error = await fromUrl.consume([bucket(1)], 0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisRateLimitError);
    expect((error as RedisRateLimitError).code).toBe('closed');

    const given = new RedisRateLimitStore({ client, keyPrefix: `close-${run}:` });
    await given.consume([bucket(1)], 0);
    await given.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
  });

  it('answers an empty bucket list without asking Redis', async () => {
    const own = new Redis(server.url);
    await own.ping();
    const sent = countCommands(own);
    const store = new RedisRateLimitStore({ client: own });
    expect(await store.consume([], 0)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
    expect(sent.count).toBe(0);
    await own.quit();
  });
});
