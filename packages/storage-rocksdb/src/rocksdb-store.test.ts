import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { pbkdf2 } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore, PolicyAction, PolicyEngine, type KeyRange, type KeyValueStore } from '@sochdb-policy/core';
import { runKeyValueStoreSuite } from '@sochdb-policy/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { RocksDBStore } from './rocksdb-store.js';

const root = mkdtempSync(join(tmpdir(), 'sochdb-rocksdb-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const folder = () => join(root, `db${n++}`);

// The contract suite on the store as it opens by default and with each option that changes its I/O.
for (const [name, options] of [
  ['RocksDBStore', {}],
  ['RocksDBStore (sync: true)', { sync: true }],
  ['RocksDBStore (syncReads: true)', { syncReads: true }],
] as const) {
  runKeyValueStoreSuite({
    name,
    supports: { iterator: true, batch: true },
    factory: () => RocksDBStore.open(folder(), options),
    reopen: async (store) => {
      const location = (store as RocksDBStore).location;
      await store.close();
      return RocksDBStore.open(location, options);
    },
  });
}

describe('RocksDBStore', () => {
  it('keeps the engine state on disk: written under policy, read after reopen', async () => {
    const location = folder();
    let db: KeyValueStore = await RocksDBStore.open(location);
    const policy = new PolicyEngine(db);
    policy.beforeWrite('system/*', (ctx) => (ctx.agentId ? PolicyAction.DENY : PolicyAction.ALLOW));
    await policy.put('users/alice', 'data', { agent_id: 'agent_001' });
    await expect(policy.put('system/config', 'x', { agent_id: 'rogue' })).rejects.toMatchObject({ code: 'denied' });
    await db.close();
    db = await RocksDBStore.open(location);
    expect((await db.get(Buffer.from('users/alice')))!.toString()).toBe('data');
    expect(await db.get(Buffer.from('system/config'))).toBeNull();
    await db.close();
  });

  it('E2: a RocksDB error escapes as itself and is audited error', async () => {
    const store = await RocksDBStore.open(folder());
    const policy = new PolicyEngine(store);
    policy.enableAudit();
    await store.close(); // every operation now fails inside RocksDB
    const err = await policy.put('k', 'v').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).not.toBe('PolicyViolation');
    expect((await policy.getAuditLog())[0]!.result).toBe('error');
  });

  it('a second open of the same folder fails (RocksDB holds a lock)', async () => {
    const location = folder();
    const first = await RocksDBStore.open(location);
    const error = await RocksDBStore.open(location).then(() => null, (e: unknown) => e as Error & { code?: string; cause?: Error & { cause?: { code?: string } } });
    expect(error?.code).toBe('LEVEL_LOCKED');
    expect(error?.message).toBe(`RocksDB folder ${location} is in use: another process, or another open store in this process, holds its lock; close that one first or open another folder`);
    expect(error?.cause?.cause?.code).toBe('LEVEL_LOCKED');
    await first.close();
    // Once closed, the folder opens again.
    await (await RocksDBStore.open(location)).close();
  });

  it('rejects a bad location and honours createIfMissing/errorIfExists', async () => {
    await expect(RocksDBStore.open('' as string)).rejects.toThrow(TypeError);
    await expect(RocksDBStore.open(join(root, 'absent'), { createIfMissing: false })).rejects.toThrow();
    const location = folder();
    await (await RocksDBStore.open(location)).close();
    await expect(RocksDBStore.open(location, { errorIfExists: true })).rejects.toThrow();
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    await expect(RocksDBStore.open(file)).rejects.toThrow();
  });

  it('gets issued together are answered together, each with its own value', async () => {
    const store = await RocksDBStore.open(folder());
    await store.put(Buffer.from('a'), Buffer.from('1'));
    await store.put(Buffer.from('c'), Buffer.from('3'));
    const got = await Promise.all(['a', 'b', 'c', 'a'].map((k) => store.get(Buffer.from(k))));
    expect(got.map((v) => v?.toString() ?? null)).toEqual(['1', null, '3', '1']);
    expect(got[1]).toBeNull();
    await store.close();
    await expect(Promise.all([store.get(Buffer.from('a')), store.get(Buffer.from('c'))])).rejects.toThrow();
  });

  it('a read answers the writes issued before it, including those still waiting for their tick', async () => {
    for (const syncReads of [false, true]) {
      const store = await RocksDBStore.open(folder(), { syncReads });
      const k = Buffer.from('k');
      await store.put(k, Buffer.from('old'));
      // The first put runs at once; the second waits for the end of the tick. The read after
      // both must not overtake the second, though a lone read otherwise goes out at once.
      const [, , seen, other] = await Promise.all([
        store.put(Buffer.from('x'), Buffer.from('1')),
        store.put(k, Buffer.from('new')),
        store.get(k),
        store.get(Buffer.from('x')),
      ]);
      expect([seen?.toString(), other?.toString()]).toEqual(['new', '1']);
      // The same with reads of the tick already waiting (one is out) before the write waits:
      // their run comes first in the tick, and still answers the write issued before the read.
      const out = store.get(Buffer.from('x'));
      const waiting = store.get(Buffer.from('x'));
      const writes = [store.put(Buffer.from('y'), Buffer.from('2')), store.put(k, Buffer.from('newer'))];
      const after = store.get(k);
      await Promise.all([out, waiting, ...writes]);
      expect((await after)?.toString()).toBe('newer');
      await store.close();
    }
  });

  it('writes issued together apply in the order issued', async () => {
    const store = await RocksDBStore.open(folder());
    const k = Buffer.from('k');
    await Promise.all([store.put(k, Buffer.from('1')), store.delete(k), store.put(k, Buffer.from('2')), store.put(Buffer.from('gone'), Buffer.from('x')), store.delete(Buffer.from('gone'))]);
    expect((await store.get(k))!.toString()).toBe('2');
    expect(await store.get(Buffer.from('gone'))).toBeNull();
    await store.close();
  });

  it('a batch keeps its place among the writes issued in its tick (issue 14)', async () => {
    const store = await RocksDBStore.open(folder());
    const k = Buffer.from('k');
    await Promise.all([
      store.put(k, Buffer.from('1')),
      store.batch([{ type: 'put', key: k, value: Buffer.from('2') }, { type: 'put', key: Buffer.from('j'), value: Buffer.from('x') }]),
      store.put(k, Buffer.from('3')),
      store.batch([{ type: 'del', key: Buffer.from('j') }]),
    ]);
    expect((await store.get(k))!.toString()).toBe('3');
    expect(await store.get(Buffer.from('j'))).toBeNull();
    await store.close();
  });

  it('writes issued in the same tick as close still land, and later ones fail', async () => {
    const location = folder();
    const store = await RocksDBStore.open(location);
    const writes = [store.put(Buffer.from('a'), Buffer.from('1')), store.put(Buffer.from('b'), Buffer.from('2'))];
    await store.close();
    await Promise.all(writes);
    await expect(store.put(Buffer.from('c'), Buffer.from('3'))).rejects.toThrow();
    const again = await RocksDBStore.open(location);
    expect((await again.get(Buffer.from('b')))!.toString()).toBe('2');
    expect(await again.get(Buffer.from('c'))).toBeNull();
    await again.close();
  });

  it('answers every read of a busy tick with its own value, in order, however the tick is split', async () => {
    const store = await RocksDBStore.open(folder());
    const ops = Array.from({ length: 300 }, (_, i) => ({ type: 'put' as const, key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`) }));
    await store.batch(ops);
    for (const n of [1, 15, 16, 33, 64, 65, 300]) {
      // Every other key missing: misses and hits interleave across the parts.
      const keys = Array.from({ length: n }, (_, i) => Buffer.from(i % 2 === 0 ? `k${i}` : `missing${i}`));
      const values = await Promise.all(keys.map((k) => store.get(k)));
      expect(values.map((v) => v?.toString() ?? null)).toEqual(keys.map((_, i) => (i % 2 === 0 ? `v${i}` : null)));
      // A miss is null, not undefined (the store's contract), in every part of a split tick.
      for (let i = 1; i < n; i += 2) expect(values[i]).toBeNull();
    }
    await store.close();
    await expect(Promise.all(Array.from({ length: 64 }, (_, i) => store.get(Buffer.from(`k${i}`))))).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' });
  });

  it('writes through the native write batch, which a failed write leaves clean for the next', async () => {
    const location = folder();
    const store = await RocksDBStore.open(location);
    expect(store.nativeWrites).toBe(true);
    // A value the binding cannot take fails that tick's write; nothing of it is stored.
    // (put does not check its arguments: the engine hands it Buffers.) The first write of a
    // tick runs at once and alone; the two after it share the tick's batch.
    const first = store.put(Buffer.from('x'), Buffer.from('0'));
    const good = store.put(Buffer.from('a'), Buffer.from('1'));
    const bad = store.put(Buffer.from('b'), 42 as unknown as Buffer);
    await first;
    await expect(good).rejects.toThrow();
    await expect(bad).rejects.toThrow();
    expect(await store.get(Buffer.from('a'))).toBeNull();
    await store.put(Buffer.from('c'), Buffer.from('3'));
    await store.batch([{ type: 'put', key: Buffer.from('d'), value: Buffer.from('4') }, { type: 'del', key: Buffer.from('c') }]);
    await store.close();
    const again = await RocksDBStore.open(location);
    expect(await again.get(Buffer.from('a'))).toBeNull();
    expect((await again.get(Buffer.from('x')))!.toString()).toBe('0');
    expect(await again.get(Buffer.from('c'))).toBeNull();
    expect((await again.get(Buffer.from('d')))!.toString()).toBe('4');
    await again.close();
  });

  it('syncReads: small ticks read on the JavaScript thread, busy ones on the pool, every answer its own (misses null)', async () => {
    const plain = await RocksDBStore.open(folder());
    expect(plain.syncReads).toBe(false);
    await plain.close();
    const store = await RocksDBStore.open(folder(), { syncReads: true });
    expect(store.syncReads).toBe(true);
    await store.batch(Array.from({ length: 100 }, (_, i) => ({ type: 'put' as const, key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`) })));
    // 1 and 16 keys: one synchronous MultiGet; 17 and 100: the thread pool (split).
    for (const n of [1, 2, 16, 17, 100]) {
      const keys = Array.from({ length: n }, (_, i) => Buffer.from(i % 3 === 1 ? `missing${i}` : `k${i}`));
      const values = await Promise.all(keys.map((k) => store.get(k)));
      for (let i = 0; i < n; i++) {
        if (i % 3 === 1) expect(values[i]).toBeNull();
        else expect(values[i]!.toString()).toBe(`v${i}`);
      }
    }
    // A read answers what was written before it in the same tick (writes run at once).
    const k = Buffer.from('k1');
    const [, seen] = await Promise.all([store.put(k, Buffer.from('new')), store.get(k)]);
    expect(seen!.toString()).toBe('new');
    // Values are the caller's own: changing one does not change what is stored.
    seen!.fill(0);
    expect((await store.get(k))!.toString()).toBe('new');
    await store.close();
    await expect(store.get(k)).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' });
  });

  it('syncReads: a read does not wait for libuv\'s thread pool, even when every pool thread is busy', async () => {
    const store = await RocksDBStore.open(folder(), { syncReads: true });
    await store.put(Buffer.from('k'), Buffer.from('v'));
    // More slow jobs than the pool has threads: a read through the pool would wait for one to end.
    let ended = 0;
    const busy = Array.from({ length: 16 }, () => new Promise<void>((resolve) => pbkdf2(Buffer.from('p'), Buffer.from('s'), 300_000, 32, 'sha256', () => resolve(void ended++))));
    const value = await store.get(Buffer.from('k'));
    expect(ended).toBe(0);
    expect(value!.toString()).toBe('v');
    await Promise.all(busy);
    await store.close();
  });

  it('an iterator over a range that was not normalized throws naming range.limit, and the store still closes', async () => {
    const store = await RocksDBStore.open(folder());
    await store.put(Buffer.from('a1'), Buffer.from('1'));
    expect(() => store.iterator({ gte: Buffer.from('a'), lt: Buffer.from('b') } as unknown as KeyRange)).toThrow('range.limit must be');
    const entries = [];
    for await (const entry of store.iterator({ gte: Buffer.from('a'), lt: Buffer.from('b'), limit: Infinity, reverse: false, values: true })) entries.push(entry.key.toString());
    expect(entries).toEqual(['a1']);
    await store.close();
  });

  it('syncReads must be a boolean', async () => {
    await expect(RocksDBStore.open(folder(), { syncReads: 'yes' as unknown as boolean })).rejects.toThrow('options.syncReads must be a boolean, got string');
  });

  it('close is idempotent', async () => {
    const store = await RocksDBStore.open(folder());
    await store.close();
    await store.close();
    expect(new MemoryStore()).toBeDefined();
  });
});
