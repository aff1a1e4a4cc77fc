import { afterEach, describe, expect, it } from 'vitest';
import { normalizeRange, storeSupports, type KeyValueEntry, type KeyValueStore, type RangeOptions, type StoreSupports } from '@sochdb-policy/core';

/**
 * Options of {@link runKeyValueStoreSuite}. `S` is the store class the factory makes, so
 * `reopen` sees that class: `reopen: async (store) => { await store.close(); return MyStore.open(store.location); }`.
 */
export interface KeyValueStoreSuiteOptions<S extends KeyValueStore = KeyValueStore> {
  /** A fresh, empty, open store for each test. */
  factory: () => S | Promise<S>;
  /**
   * For persistent stores: closes `store` and opens it again on the same data, proving
   * writes survived. Omit for in-memory stores.
   */
  reopen?: (store: S) => KeyValueStore | Promise<KeyValueStore>;
  name?: string;
  /**
   * The optional capabilities the store declares in `supports` (a test checks the store
   * declares exactly these); each one named here gets its own tests. @default {}
   */
  supports?: Partial<StoreSupports>;
}

const b = (s: string) => Buffer.from(s);

/**
 * The behaviour every {@link KeyValueStore} must have. Call it at the top level of a test
 * file run by vitest (3 or later; `@sochdb-policy/testing` imports `describe`, `it`,
 * `expect` and `afterEach` from `vitest`, a peer dependency you install).
 */
export function runKeyValueStoreSuite<S extends KeyValueStore = KeyValueStore>({ factory, reopen, name = 'KeyValueStore', supports = {} }: KeyValueStoreSuiteOptions<S>): void {
  const expected: StoreSupports = { iterator: supports.iterator === true, batch: supports.batch === true };
  describe(`${name} contract`, () => {
    let open: KeyValueStore[] = [];
    const make = async (): Promise<S> => {
      const store = await factory();
      open.push(store);
      return store;
    };
    afterEach(async () => {
      for (const s of open) await s.close().catch(() => undefined);
      open = [];
    });

    it('returns null for a missing key', async () => {
      const store = await make();
      expect(await store.get(b('missing'))).toBeNull();
    });

    it('returns what was put, byte for byte', async () => {
      const store = await make();
      const value = Buffer.from([0, 1, 2, 255, 0x80, 10]);
      await store.put(b('k'), value);
      expect(Buffer.from((await store.get(b('k')))!)).toEqual(value);
    });

    it('stores an empty value as present, not missing', async () => {
      const store = await make();
      await store.put(b('empty'), Buffer.alloc(0));
      const got = await store.get(b('empty'));
      expect(got).not.toBeNull();
      expect(got!.length).toBe(0);
    });

    it('overwrites a value', async () => {
      const store = await make();
      await store.put(b('k'), b('one'));
      await store.put(b('k'), b('two'));
      expect(Buffer.from((await store.get(b('k')))!).toString()).toBe('two');
    });

    it('keeps keys that differ only in non-UTF-8 bytes apart', async () => {
      const store = await make();
      await store.put(Buffer.from([0x61, 0xff]), b('ff'));
      await store.put(Buffer.from([0x61, 0xfe]), b('fe'));
      expect(Buffer.from((await store.get(Buffer.from([0x61, 0xff])))!).toString()).toBe('ff');
      expect(Buffer.from((await store.get(Buffer.from([0x61, 0xfe])))!).toString()).toBe('fe');
    });

    it('is not affected when the caller mutates a buffer after put', async () => {
      const store = await make();
      const value = b('abc');
      await store.put(b('k'), value);
      value[0] = 0x7a;
      expect(Buffer.from((await store.get(b('k')))!).toString()).toBe('abc');
    });

    it('deletes a key, and deleting a missing key succeeds (rule O6)', async () => {
      const store = await make();
      await store.put(b('k'), b('v'));
      await store.delete(b('k'));
      expect(await store.get(b('k'))).toBeNull();
      await expect(store.delete(b('never-there'))).resolves.toBeUndefined();
    });

    it('handles many concurrent writes', async () => {
      const store = await make();
      await Promise.all(Array.from({ length: 200 }, (_, i) => store.put(b(`k${i}`), b(`v${i}`))));
      const values = await Promise.all(Array.from({ length: 200 }, (_, i) => store.get(b(`k${i}`))));
      values.forEach((v, i) => expect(Buffer.from(v!).toString()).toBe(`v${i}`));
    });

    it('rejects put, get and delete after close (rule E2)', async () => {
      // The engine reports a failing store as the store's own error (conformance errors/storage-*);
      // a store that keeps answering after close() hides that it is gone.
      const store = await make();
      await store.put(b('k'), b('v'));
      await store.close();
      await expect(store.put(b('k'), b('w'))).rejects.toBeInstanceOf(Error);
      await expect(store.get(b('k'))).rejects.toBeInstanceOf(Error);
      await expect(store.delete(b('k'))).rejects.toBeInstanceOf(Error);
    });

    it('declares exactly the capabilities the suite was told (supports)', async () => {
      const store = await make();
      expect(storeSupports(store)).toEqual(expected);
    });

    if (expected.iterator) {
      // Byte order, not UTF-16 or locale order: 0x00 < 'a' < 0x7f < 0x80 < 0xc3 0xa9 (é) < 0xff.
      const ordered = [[0x00], [0x61], [0x61, 0x00], [0x61, 0x2f], [0x61, 0x2f, 0x78], [0x61, 0x30], [0x61, 0xff], [0x7f], [0x80], [0xc3, 0xa9], [0xff], [0xff, 0xff]].map((k) => Buffer.from(k));
      const fill = async (store: KeyValueStore) => {
        for (const [i, k] of [...ordered].reverse().entries()) await store.put(k, b(`v${ordered.length - 1 - i}`));
      };
      const keys = async (store: KeyValueStore, options: RangeOptions) => {
        const out: string[] = [];
        for await (const entry of store.iterator!(normalizeRange(options))) out.push(entry.key.toString('hex'));
        return out;
      };
      const hex = (...ks: Buffer[]) => ks.map((k) => k.toString('hex'));

      it('iterator: yields every key in byte order, and in reverse', async () => {
        const store = await make();
        await fill(store);
        expect(await keys(store, {})).toEqual(hex(...ordered));
        expect(await keys(store, { reverse: true })).toEqual(hex(...ordered).reverse());
      });

      it('iterator: gt, gte, lt and lte are exact at the edges', async () => {
        const store = await make();
        await fill(store);
        const [, a, a0, aSlash, aSlashX, a30] = ordered as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
        expect(await keys(store, { gt: a, lt: aSlashX })).toEqual(hex(a0, aSlash));
        expect(await keys(store, { gte: a, lte: aSlashX })).toEqual(hex(a, a0, aSlash, aSlashX));
        expect(await keys(store, { gte: aSlash, lt: a30, reverse: true })).toEqual(hex(aSlashX, aSlash));
        expect(await keys(store, { gt: b('zzz'), lt: b('zzzz') })).toEqual([]);
      });

      it('iterator: a prefix yields exactly the keys that begin with it, 0xff prefixes included', async () => {
        const store = await make();
        await fill(store);
        expect(await keys(store, { prefix: b('a/') })).toEqual(hex(Buffer.from([0x61, 0x2f]), Buffer.from([0x61, 0x2f, 0x78])));
        expect(await keys(store, { prefix: Buffer.from([0xff]) })).toEqual(hex(Buffer.from([0xff]), Buffer.from([0xff, 0xff])));
        expect(await keys(store, { prefix: b('a'), gt: b('a/') })).toEqual(hex(Buffer.from([0x61, 0x2f, 0x78]), Buffer.from([0x61, 0x30]), Buffer.from([0x61, 0xff])));
      });

      it('iterator: limit, keys only, and values byte for byte', async () => {
        const store = await make();
        await fill(store);
        expect(await keys(store, { limit: 2 })).toEqual(hex(...ordered.slice(0, 2)));
        expect(await keys(store, { limit: 2, reverse: true })).toEqual(hex(...ordered.slice(-2).reverse()));
        expect(await keys(store, { limit: 0 })).toEqual([]);
        const onlyKeys: KeyValueEntry[] = [];
        for await (const e of store.iterator!(normalizeRange({ values: false, limit: 3 }))) onlyKeys.push(e);
        expect(onlyKeys.map((e) => e.value)).toEqual([undefined, undefined, undefined]);
        const withValues: string[] = [];
        for await (const e of store.iterator!(normalizeRange({}))) withValues.push(Buffer.from(e.value!).toString());
        expect(withValues).toEqual(ordered.map((_, i) => `v${i}`));
      });

      it('iterator: nextv returns chunks, then an empty array at the end', async () => {
        const store = await make();
        await fill(store);
        const it = store.iterator!(normalizeRange({ limit: 5 }));
        expect((await it.nextv(3)).map((e) => e.key.toString('hex'))).toEqual(hex(...ordered.slice(0, 3)));
        expect((await it.nextv(3)).map((e) => e.key.toString('hex'))).toEqual(hex(...ordered.slice(3, 5)));
        expect(await it.nextv(3)).toEqual([]);
        expect(await it.next()).toBeUndefined();
        await it.close();
      });

      it('iterator: break releases it; later calls reject with iterator_closed; one call at a time', async () => {
        const store = await make();
        await fill(store);
        const it = store.iterator!(normalizeRange({}));
        for await (const entry of it) {
          expect(entry.key).toEqual(ordered[0]);
          break;
        }
        await expect(it.next()).rejects.toMatchObject({ code: 'iterator_closed' });
        await it.close();
        const busy = store.iterator!(normalizeRange({}));
        const first = busy.next();
        await expect(busy.next()).rejects.toMatchObject({ code: 'iterator_busy' });
        await first;
        await busy.close();
      });

      it('iterator: closing the store closes its iterators; a new one is refused', async () => {
        const store = await make();
        await fill(store);
        const it = store.iterator!(normalizeRange({}));
        await it.next();
        await store.close();
        await expect(it.next()).rejects.toBeInstanceOf(Error);
        await expect((async () => store.iterator!(normalizeRange({})).next())()).rejects.toBeInstanceOf(Error);
      });
    }

    if (expected.batch) {
      it('batch: applies puts and deletes together, in order', async () => {
        const store = await make();
        await store.put(b('old'), b('x'));
        await store.batch!([
          { type: 'put', key: b('a'), value: b('1') },
          { type: 'del', key: b('old') },
          { type: 'put', key: b('b'), value: b('2') },
          { type: 'del', key: b('b') },
          { type: 'del', key: b('c') },
          { type: 'put', key: b('c'), value: b('3') },
        ]);
        expect(Buffer.from((await store.get(b('a')))!).toString()).toBe('1');
        expect(await store.get(b('old'))).toBeNull();
        expect(await store.get(b('b'))).toBeNull();
        expect(Buffer.from((await store.get(b('c')))!).toString()).toBe('3');
      });

      it('batch: one malformed operation stores nothing and names the operation', async () => {
        const store = await make();
        await store.put(b('keep'), b('k'));
        const bad = [
          { type: 'put', key: b('a'), value: b('1') },
          { type: 'del', key: b('keep') },
          { type: 'put', key: b('c'), value: 'not bytes' },
        ];
        await expect(store.batch!(bad as never)).rejects.toThrow(/operations\[2\]\.value/);
        expect(await store.get(b('a'))).toBeNull();
        expect(Buffer.from((await store.get(b('keep')))!).toString()).toBe('k');
      });

      it('batch: rejects after close', async () => {
        const store = await make();
        await store.close();
        await expect(store.batch!([{ type: 'put', key: b('a'), value: b('1') }])).rejects.toBeInstanceOf(Error);
      });
    }

    if (reopen) {
      it('keeps writes and deletes across close and reopen', async () => {
        const store = await make();
        await store.put(b('kept'), b('yes'));
        await store.put(b('gone'), b('no'));
        await store.delete(b('gone'));
        open = open.filter((s) => s !== store);
        const again = await reopen(store);
        open.push(again);
        expect(Buffer.from((await again.get(b('kept')))!).toString()).toBe('yes');
        expect(await again.get(b('gone'))).toBeNull();
      });
    }
  });
}
