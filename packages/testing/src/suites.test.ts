import { MemoryAuditSink, MemoryRateLimitStore, MemoryStore, type KeyValueStore } from '@sochdb-policy/core';
import { runAuditSinkSuite, runKeyValueStoreSuite, runRateLimitStoreSuite } from './index.js';

// The in-memory implementations of core keep every contract.
runKeyValueStoreSuite({ name: 'MemoryStore', factory: () => new MemoryStore(), supports: { iterator: true, batch: true } });
runAuditSinkSuite({ name: 'MemoryAuditSink', factory: () => new MemoryAuditSink(), supports: { stream: true, decisionFields: true } });
runAuditSinkSuite({ name: 'MemoryAuditSink, small ring', factory: () => new MemoryAuditSink({ maxEntries: 300 }), supports: { stream: true, decisionFields: true } });
runRateLimitStoreSuite({ name: 'MemoryRateLimitStore', factory: () => new MemoryRateLimitStore(), peek: true, tokens: true });

/**
 * The suites are generic over the adapter's own class, so `reopen` sees what the factory
 * made: `store.location` below typechecks without a cast. The store keeps its data in a map
 * per location, so a reopened store finds it again; once closed it rejects every call.
 */
const disk = new Map<string, Map<string, Buffer>>();
class LocatedStore implements KeyValueStore {
  #closed = false;
  readonly #data: Map<string, Buffer>;
  constructor(readonly location: string) {
    this.#data = disk.get(location) ?? new Map();
    disk.set(location, this.#data);
  }
  #open(): void {
    if (this.#closed) throw new Error(`store at ${this.location} is closed`);
  }
  async get(key: Buffer): Promise<Buffer | null> {
    this.#open();
    const v = this.#data.get(key.toString('latin1'));
    return v === undefined ? null : Buffer.from(v);
  }
  async put(key: Buffer, value: Buffer): Promise<void> {
    this.#open();
    this.#data.set(key.toString('latin1'), Buffer.from(value));
  }
  async delete(key: Buffer): Promise<void> {
    this.#open();
    this.#data.delete(key.toString('latin1'));
  }
  async close(): Promise<void> {
    this.#closed = true;
  }
}

let n = 0;
runKeyValueStoreSuite({
  name: 'a KeyValueStore class with a location',
  factory: () => new LocatedStore(`loc-${n++}`),
  reopen: async (store) => {
    await store.close();
    return new LocatedStore(store.location);
  },
});

class LabelledSink extends MemoryAuditSink {
  readonly label = 'labelled';
}
runAuditSinkSuite({ name: 'an AuditSink subclass', factory: () => new LabelledSink(), reopen: (sink) => (sink.label === 'labelled' ? sink : new LabelledSink()), supports: { stream: true, decisionFields: true } });

// A sink without the capability: the suite checks it declares none.
runAuditSinkSuite({ name: 'a query-only AuditSink', factory: () => { const m = new MemoryAuditSink(); return { append: (e) => m.append(e), query: (q) => m.query(q) }; } });
