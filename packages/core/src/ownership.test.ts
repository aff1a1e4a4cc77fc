import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyAction } from './actions.js';
import type { BatchOperation, KeyValueStore } from './contracts.js';
import { PolicyEngine } from './engine.js';
import { ViolationCode } from './errors.js';
import { MemoryStore } from './memory/memory-store.js';

// Issue 10, item 1: whatever the hooks approve is exactly what storage sees and the audit
// records, whatever the caller does to its buffers after the call (rules O1–O3, H5–H9).

/**
 * A store that, like RocksDB's tick batching, holds the key and value it was given and acts on
 * them only on a later turn of the event loop, so a caller's late change to the bytes would land.
 */
class DeferredStore implements KeyValueStore {
  readonly data = new Map<string, Buffer>();
  async get(key: Buffer): Promise<Buffer | null> {
    await new Promise(setImmediate);
    const v = this.data.get(key.toString('latin1'));
    return v === undefined ? null : Buffer.from(v);
  }
  async put(key: Buffer, value: Buffer): Promise<void> {
    await new Promise(setImmediate);
    this.data.set(key.toString('latin1'), Buffer.from(value));
  }
  async delete(key: Buffer): Promise<void> {
    await new Promise(setImmediate);
    this.data.delete(key.toString('latin1'));
  }
  async close(): Promise<void> {}
  has(key: string): boolean {
    return this.data.has(Buffer.from(key).toString('latin1'));
  }
  text(key: string): string | undefined {
    return this.data.get(Buffer.from(key).toString('latin1'))?.toString();
  }
}

type Timing = 'sync' | 'microtask' | 'immediate';
const timings: Timing[] = ['sync', 'microtask', 'immediate'];

/** Runs `change` at `timing` after the operation was started, then awaits the operation. */
async function changeWhilePending<T>(op: Promise<T>, timing: Timing, change: () => void): Promise<PromiseSettledResult<T>> {
  const settled = op.then(
    (value) => ({ status: 'fulfilled' as const, value }),
    (reason: unknown) => ({ status: 'rejected' as const, reason }),
  );
  if (timing === 'sync') change();
  else if (timing === 'microtask') await Promise.resolve().then(change);
  else await new Promise<void>((r) => setImmediate(() => (change(), r())));
  return settled;
}

/** The caller's bytes as a Buffer, or as a Uint8Array view inside a larger array. */
function callerBytes(text: string, asView: boolean): Buffer | Uint8Array {
  const bytes = Buffer.from(text);
  if (!asView) return Buffer.from(bytes);
  const backing = new Uint8Array(bytes.length + 8);
  backing.set(bytes, 3);
  return backing.subarray(3, 3 + bytes.length);
}

/** Rewrites `view` in place to hold `text` (same length). */
function overwrite(view: Uint8Array, text: string): void {
  view.set(Buffer.from(text));
}

/** {@link DeferredStore} with an atomic batch, applied a turn of the event loop later. */
class DeferredBatchStore extends DeferredStore {
  readonly supports = { batch: true };
  async batch(operations: readonly BatchOperation[]): Promise<void> {
    await new Promise(setImmediate);
    for (const op of operations) {
      if (op.type === 'put') this.data.set(op.key.toString('latin1'), Buffer.from(op.value));
      else this.data.delete(op.key.toString('latin1'));
    }
  }
}

const asyncHook = fc.boolean();
const segment = fc.stringMatching(/^[a-z]{1,6}$/);

describe('caller bytes that change after the call (issue 10.1)', () => {
  it('put: a key changed into a denied namespace after the call is not written there; the audit and the hooks see the original', async () => {
    await fc.assert(
      fc.asyncProperty(segment, fc.constantFrom(...timings), fc.boolean(), asyncHook, async (name, timing, asView, slowHook) => {
        const store = new DeferredStore();
        const policy = new PolicyEngine(store).enableAudit();
        const seen: string[] = [];
        policy.beforeWrite('**', async (ctx) => {
          seen.push(ctx.keyText);
          if (slowHook) await new Promise(setImmediate);
          return PolicyAction.ALLOW;
        });
        policy.beforeWrite('system/*', () => PolicyAction.DENY);
        const harmless = `usersx/${name}`; // same length as system/<name>
        const key = callerBytes(harmless, asView);
        const value = callerBytes('good', asView);
        const result = await changeWhilePending(policy.put(key, value, { agent_id: 'a' }), timing, () => {
          overwrite(key, `system/${name}`);
          overwrite(value, 'evil');
        });
        expect(result.status).toBe('fulfilled');
        expect(store.has(`system/${name}`)).toBe(false);
        expect(store.text(harmless)).toBe('good');
        expect(seen).toEqual([harmless]);
        expect((await policy.getAuditLog()).map((e) => [e.key, e.result])).toEqual([[harmless, 'allowed']]);
      }),
      { numRuns: 120 },
    );
  });

  it('put: the value a before_write hook approved is the value stored, byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.constantFrom(...timings), asyncHook, fc.nat(), async (bytes, timing, slowHook, at) => {
        const store = new DeferredStore();
        const policy = new PolicyEngine(store);
        const approved: Buffer[] = [];
        policy.beforeWrite('k', async (ctx) => {
          approved.push(Buffer.from(ctx.value!));
          if (slowHook) await new Promise(setImmediate);
        });
        const value = new Uint8Array(bytes);
        const result = await changeWhilePending(policy.put('k', value), timing, () => {
          value[at % value.length] = value[at % value.length]! ^ 0xff;
        });
        expect(result.status).toBe('fulfilled');
        expect(store.data.get('k')).toEqual(Buffer.from(bytes));
        expect(approved[0]).toEqual(Buffer.from(bytes));
      }),
      { numRuns: 120 },
    );
  });

  it('get: a key changed after the call reads neither past a before_read DENY nor past an after_read redaction', async () => {
    await fc.assert(
      fc.asyncProperty(segment, fc.constantFrom(...timings), fc.boolean(), fc.boolean(), async (name, timing, asView, byRedaction) => {
        const store = new DeferredStore();
        store.data.set(`public/${name}`, Buffer.from('public'));
        store.data.set(`secret/${name}`, Buffer.from('secret'));
        const policy = new PolicyEngine(store).enableAudit();
        if (byRedaction) policy.afterRead('secret/*', () => Buffer.from('[REDACTED]'));
        else policy.beforeRead('secret/*', () => PolicyAction.DENY);
        const key = callerBytes(`public/${name}`, asView);
        const result = await changeWhilePending(policy.get(key), timing, () => overwrite(key, `secret/${name}`));
        expect(result).toEqual({ status: 'fulfilled', value: Buffer.from('public') });
        expect((await policy.getAuditLog()).map((e) => [e.key, e.result])).toEqual([[`public/${name}`, 'allowed']]);
      }),
      { numRuns: 120 },
    );
  });

  it('delete: a key changed into a guarded one after the call does not delete the guarded key', async () => {
    await fc.assert(
      fc.asyncProperty(segment, fc.constantFrom(...timings), fc.boolean(), async (name, timing, asView) => {
        const store = new DeferredStore();
        store.data.set(`keeps/${name}`, Buffer.from('keep'));
        store.data.set(`temps/${name}`, Buffer.from('temp'));
        const policy = new PolicyEngine(store).enableAudit();
        policy.beforeDelete('keeps/**', () => PolicyAction.DENY);
        const key = callerBytes(`temps/${name}`, asView);
        const result = await changeWhilePending(policy.delete(key), timing, () => overwrite(key, `keeps/${name}`));
        expect(result.status).toBe('fulfilled');
        expect(store.text(`keeps/${name}`)).toBe('keep');
        expect(store.has(`temps/${name}`)).toBe(false);
        expect((await policy.getAuditLog()).map((e) => [e.key, e.result])).toEqual([[`temps/${name}`, 'allowed']]);
      }),
      { numRuns: 120 },
    );
  });
});

describe('hooks cannot change bytes behind the engine (issue 10.1, 10.14)', () => {
  it('writing into ctx.key or ctx.value changes neither what is stored nor what later hooks see', async () => {
    const store = new MemoryStore();
    const policy = new PolicyEngine(store);
    const later: string[] = [];
    policy.beforeWrite('**', (ctx) => {
      ctx.key.fill(0x41);
      ctx.value!.fill(0x42);
    });
    policy.beforeWrite('**', (ctx) => void later.push(`${ctx.key.toString()}=${ctx.value!.toString()}`));
    policy.afterWrite('**', (ctx) => void ctx.value!.fill(0x43));
    await policy.put('users/a', 'data');
    expect(later).toEqual(['users/a=data']);
    expect((await store.get(Buffer.from('users/a')))?.toString()).toBe('data');
  });

  it('assigning to ctx.key, ctx.keyText, ctx.value, ctx.agentId or ctx.custom entries fails the hook closed', async () => {
    for (const write of [
      (ctx: any) => (ctx.key = Buffer.from('system/x')),
      (ctx: any) => (ctx.keyText = 'system/x'),
      (ctx: any) => (ctx.value = Buffer.from('evil')),
      (ctx: any) => (ctx.agentId = 'admin'),
      (ctx: any) => (ctx.custom.agent_id = 'admin'),
      (ctx: any) => delete ctx.custom.agent_id,
    ]) {
      const store = new MemoryStore();
      const policy = new PolicyEngine(store).enableAudit();
      const context = { agent_id: 'agent' };
      policy.beforeWrite('**', (ctx) => void write(ctx));
      await expect(policy.put('users/a', 'data', context)).rejects.toMatchObject({ code: ViolationCode.HOOK_FAILED });
      expect(await store.get(Buffer.from('users/a'))).toBeNull();
      expect(context).toEqual({ agent_id: 'agent' });
      expect((await policy.getAuditLog()).map((e) => [e.key, e.agentId, e.result])).toEqual([['users/a', 'agent', 'error']]);
    }
  });

  it('MODIFY bytes are copied: a handler that returns one shared buffer cannot be changed through a caller', async () => {
    const store = new MemoryStore();
    await store.put(Buffer.from('secrets/a'), Buffer.from('s3cret'));
    const policy = new PolicyEngine(store);
    const shared = Buffer.from('[REDACTED]');
    policy.afterRead('secrets/*', () => shared);
    const first = (await policy.get('secrets/a'))!;
    first.fill(0x21);
    expect((await policy.get('secrets/a'))?.toString()).toBe('[REDACTED]');
    expect(shared.toString()).toBe('[REDACTED]');
  });

  it('a MODIFY value the handler changes after answering is stored as it was when answered', async () => {
    const store = new DeferredStore();
    const policy = new PolicyEngine(store);
    let replacement: Buffer | undefined;
    policy.beforeWrite('**', (ctx) => {
      replacement = Buffer.from('clean');
      ctx.modifiedValue = replacement;
      queueMicrotask(() => replacement!.write('dirty'));
      return PolicyAction.MODIFY;
    });
    await policy.put('k', 'raw');
    expect(store.text('k')).toBe('clean');
  });

  it('batch: keys (ASCII or not, bytes or text) and values changed after the call are stored, hooked and audited as they were at the call', async () => {
    const name = fc.array(fc.constantFrom('a', 'b', 'é', '😀'), { minLength: 1, maxLength: 4 }).map((chars) => chars.join(''));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(name, fc.constantFrom('buffer', 'view', 'string')), { minLength: 1, maxLength: 12 }), fc.constantFrom(...timings), asyncHook, async (ops, timing, slowHook) => {
        const store = new DeferredBatchStore();
        const policy = new PolicyEngine(store).enableAudit();
        const seen: string[] = [];
        policy.beforeWrite('**', async (ctx) => {
          seen.push(`${ctx.keyText}=${ctx.value!.toString()}`);
          if (slowHook) await new Promise(setImmediate);
          return PolicyAction.ALLOW;
        });
        policy.beforeWrite('system/*', () => PolicyAction.DENY);
        const harmless = ops.map(([n], i) => `usersx/${n}${i}`);
        const keys = ops.map(([, form], i) => (form === 'string' ? harmless[i]! : callerBytes(harmless[i]!, form === 'view')));
        const values = ops.map((_, i) => callerBytes(`good${i % 10}`, i % 2 === 0));
        const result = await changeWhilePending(
          policy.batch(keys.map((key, i) => ({ type: 'put' as const, key, value: values[i]! }))),
          timing,
          () => {
            keys.forEach((key, i) => {
              if (typeof key !== 'string') overwrite(key, `system/${harmless[i]!.slice('usersx/'.length)}`);
            });
            values.forEach((value) => overwrite(value, 'evil0'));
          },
        );
        expect(result.status).toBe('fulfilled');
        expect([...store.data.keys()].map((k) => Buffer.from(k, 'latin1').toString()).sort()).toEqual([...harmless].sort());
        harmless.forEach((key, i) => expect(store.text(key)).toBe(`good${i % 10}`));
        expect(seen).toEqual(harmless.map((key, i) => `${key}=good${i % 10}`));
        expect((await policy.getAuditLog()).map((e) => e.key)).toEqual(harmless);
      }),
      { numRuns: 120 },
    );
  });
});
