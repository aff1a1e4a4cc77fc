import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { Database, PolicyAction, PolicyEngine, PolicyScan, PolicyViolation, type KeyValueIterator, type PolicyBatchOperation } from 'sochdb-policy';

// Issue 14 on a real RocksDB: policy.scan over native iterators, policy.batch over a native
// write batch, and the facade's types for both.

const root = mkdtempSync(join(tmpdir(), 'sochdb-scan-batch-'));
let db: Database;
beforeAll(async () => {
  db = await Database.open(join(root, 'db'));
});
afterAll(async () => {
  await db.close();
  rmSync(root, { recursive: true, force: true });
});

describe('scan and batch on RocksDB (issue 14)', () => {
  it('batch writes all or nothing; scan leaves out denied keys and redacts, audited per key', async () => {
    const policy = new PolicyEngine(db).enableAudit();
    policy.beforeWrite('docs/locked', () => PolicyAction.DENY);
    policy.beforeRead('docs/secret', () => PolicyAction.DENY);
    policy.afterRead('docs/pii', () => Buffer.from('[REDACTED]'));
    const ops: PolicyBatchOperation[] = ['a', 'b', 'secret', 'pii'].map((k) => ({ type: 'put', key: `docs/${k}`, value: k }));
    const refused = await policy.batch([...ops, { type: 'put', key: 'docs/locked', value: 'x' }]).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PolicyViolation);
    expect((refused as PolicyViolation).index).toBe(4);
    expect(await db.get(Buffer.from('docs/a'))).toBeNull();
    await policy.batch([...ops, { type: 'del', key: 'docs/none' }]);
    const seen: [string, string][] = [];
    for await (const e of policy.scan({ prefix: 'docs/' })) seen.push([e.key.toString(), e.value!.toString()]);
    expect(seen).toEqual([
      ['docs/a', 'a'],
      ['docs/b', 'b'],
      ['docs/pii', '[REDACTED]'],
    ]);
    const reads = await policy.getAuditLog({ operation: 'read' });
    expect(reads.map((e) => [e.key, e.result])).toEqual([
      ['docs/a', 'allowed'],
      ['docs/b', 'allowed'],
      ['docs/pii', 'redacted'],
      ['docs/secret', 'denied'],
    ]);
    expect(await policy.filterAllowed(['docs/a', 'docs/secret'])).toEqual(['docs/a']);
  });

  it('break releases the native iterator: the database closes cleanly afterwards', async () => {
    const policy = new PolicyEngine(db);
    await policy.batch(Array.from({ length: 300 }, (_, i) => ({ type: 'put' as const, key: `many/${String(i).padStart(3, '0')}`, value: 'v' })));
    const scan = policy.scan({ prefix: 'many/', reverse: true });
    let n = 0;
    for await (const e of scan) {
      expect(e.key.toString()).toBe(`many/${String(299 - n).padStart(3, '0')}`);
      if (++n === 70) break;
    }
    await expect(scan.next()).rejects.toMatchObject({ code: 'iterator_closed' });
  });

  it('the facade types scan and batch', () => {
    const policy = new PolicyEngine(db);
    expectTypeOf(policy.scan()).toEqualTypeOf<PolicyScan>();
    expectTypeOf<PolicyScan>().toMatchTypeOf<KeyValueIterator>();
    expectTypeOf(policy.batch).parameter(0).toEqualTypeOf<readonly PolicyBatchOperation[]>();
    expectTypeOf(policy.filterAllowed(['a'] as string[])).resolves.toEqualTypeOf<string[]>();
  });
});
