import { afterEach, describe, expect, it } from 'vitest';
import type { KeyValueStore } from '../contracts.js';

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
}

const b = (s: string) => Buffer.from(s);

/**
 * The behaviour every {@link KeyValueStore} must have. Call it at the top level of a test
 * file run by vitest (3 or later; `@sochdb-policy/core/testing` imports `describe`, `it`,
 * `expect` and `afterEach` from `vitest`, an optional peer dependency you install).
 */
export function runKeyValueStoreSuite<S extends KeyValueStore = KeyValueStore>({ factory, reopen, name = 'KeyValueStore' }: KeyValueStoreSuiteOptions<S>): void {
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
