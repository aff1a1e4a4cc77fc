import { MemoryStore, PolicyEngine } from '@sochdb-policy/core';
import { configurePolicy } from './facade.js';
import { interleave, timeAsync } from './measure.js';
const store = new MemoryStore();
const policy = configurePolicy(new PolicyEngine(store));
const bare = new PolicyEngine(new MemoryStore());
const keys = Array.from({ length: 1000 }, (_, i) => Buffer.from(`users/${i}/profile`));
const value = Buffer.alloc(100, 'v');
const ctx = { agent_id: 'a', session_id: 's' };
const ops = 50000;
const r = await interleave(7, [
  () => timeAsync(ops, async () => { for (let i = 0; i < ops; i++) await store.put(keys[i % 1000]!, value); }),
  () => timeAsync(ops, async () => { for (let i = 0; i < ops; i++) await bare.put(keys[i % 1000]!, value, ctx); }),
  () => timeAsync(ops, async () => { for (let i = 0; i < ops; i++) await policy.put(keys[i % 1000]!, value, ctx); }),
  () => timeAsync(ops, async () => { for (let i = 0; i < ops; i++) await store.get(keys[i % 1000]!); }),
  () => timeAsync(ops, async () => { for (let i = 0; i < ops; i++) await policy.get(keys[i % 1000]!, ctx); }),
]);
console.log(r.medians.map((x) => x.toFixed(0)));
