import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database, PolicyAction, PolicyEngine } from 'sochdb-policy';

// Issue 10, item 1, on a real RocksDB: its writes and reads are grouped until the next tick,
// so without private copies a caller that changes its key buffer right after the call (not
// awaiting) would write, read or delete a key no hook approved.

const root = mkdtempSync(join(tmpdir(), 'sochdb-bytes-'));
let db: Database;
beforeAll(async () => {
  db = await Database.open(join(root, 'db'));
});
afterAll(async () => {
  await db.close();
  rmSync(root, { recursive: true, force: true });
});

const raw = async (k: string) => (await db.get(Buffer.from(k)))?.toString() ?? null;
const name = fc.stringMatching(/^[a-z0-9]{1,8}$/);

describe('bytes changed after the call, on RocksDB (issue 10.1)', () => {
  it('no write past a system/* DENY, no read past a DENY or a redaction, no delete of a guarded key; the audit names what ran', async () => {
    await fc.assert(
      fc.asyncProperty(name, fc.boolean(), async (id, asView) => {
        const policy = new PolicyEngine(db).enableAudit();
        policy.beforeWrite('system/*', (ctx) => (ctx.agentId ? PolicyAction.DENY : PolicyAction.ALLOW));
        policy.beforeRead('secret/*', () => PolicyAction.DENY);
        policy.afterRead('redact/*', () => Buffer.from('[REDACTED]'));
        policy.beforeDelete('system/*', () => PolicyAction.DENY);
        await db.put(Buffer.from(`secret/${id}`), Buffer.from('s'));
        await db.put(Buffer.from(`redact/${id}`), Buffer.from('r'));
        await db.put(Buffer.from(`public/${id}`), Buffer.from('p'));
        await db.put(Buffer.from(`system/${id}`), Buffer.from('keep'));
        const bytes = (text: string) => {
          const b = Buffer.from(text);
          return asView ? new Uint8Array(b.buffer, b.byteOffset, b.length) : b;
        };
        const context = { agent_id: 'rogue' };

        const w = bytes(`usersx/${id}`);
        const written = policy.put(w, 'evil', context);
        w.set(Buffer.from('system'));
        await written;
        const r1 = bytes(`public/${id}`);
        const read1 = policy.get(r1, context);
        r1.set(Buffer.from('secret'));
        const r2 = bytes(`public/${id}`);
        const read2 = policy.get(r2, context);
        r2.set(Buffer.from('redact'));
        const d = bytes(`usersx/${id}`);
        const deleted = policy.delete(d, context);
        d.set(Buffer.from('system'));

        expect((await read1)?.toString()).toBe('p');
        expect((await read2)?.toString()).toBe('p');
        await deleted;
        expect(await raw(`system/${id}`)).toBe('keep');
        expect(await raw(`usersx/${id}`)).toBeNull();
        expect((await policy.getAuditLog()).map((e) => `${e.operation} ${e.key} ${e.result}`).sort()).toEqual([
          `write usersx/${id} allowed`,
          `read public/${id} allowed`,
          `read public/${id} allowed`,
          `delete usersx/${id} allowed`,
        ].sort());
      }),
      { numRuns: 50 },
    );
  });
});
