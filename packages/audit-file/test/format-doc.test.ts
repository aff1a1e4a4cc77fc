import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { FileAuditSink, verifyAuditLog } from '../src/index.js';
import { PKG_DIR, tmpLog } from './helpers.js';

// docs/audit-file-format.md is what other languages implement: its test vectors must be what
// this package writes and verifies.
const doc = readFileSync(join(PKG_DIR, '..', '..', 'docs', 'audit-file-format.md'), 'utf8');
const vectors = [...doc.matchAll(/```jsonl\n([\s\S]*?)```/g)].map((m) => m[1]!);

it('the format document has two test vectors (sha256, hmac-sha256 with key "secret")', () => {
  expect(vectors).toHaveLength(2);
});

for (const [i, hmacKey] of [undefined, 'secret'].entries()) {
  it(`test vector ${i + 1} verifies, and is byte for byte what the sink writes`, async () => {
    const { path } = tmpLog();
    writeFileSync(path, vectors[i]!);
    expect(await verifyAuditLog(path, { hmacKey })).toMatchObject({ ok: true, lastSeq: 2, genesis: true });

    const fresh = tmpLog().path;
    const sink = await FileAuditSink.open(fresh, { hmacKey });
    await sink.append({ timestamp: 1700000000000, operation: 'write', key: 'users/alice', agentId: 'agent_1', sessionId: 's1', result: 'allowed' });
    await sink.append({ timestamp: 1700000000005, operation: 'read', key: 'system/.env', agentId: null, sessionId: null, result: 'denied' });
    await sink.close();
    expect(readFileSync(fresh, 'utf8')).toBe(vectors[i]);
  });
}
