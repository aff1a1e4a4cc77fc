import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { FileAuditSink, queryAuditLog, verifyAuditLog } from '../src/index.js';
import { PKG_DIR, tmpLog } from './helpers.js';
import { entryBody, GENESIS_HASH, headerBody, lineOf } from '../src/record.js';

// docs/audit-file-format.md is what other languages implement: its test vectors must be what
// this package writes and verifies, and its Python sketch must verify them.
const doc = readFileSync(join(PKG_DIR, '..', '..', 'docs', 'audit-file-format.md'), 'utf8');
const vectors = [...doc.matchAll(/```jsonl\n([\s\S]*?)```/g)].map((m) => m[1]!);
const python = /```python\n([\s\S]*?)```/.exec(doc)![1]!;

/** The document's Python verifier on the log at `path`: [exit code, output]. */
function pythonVerify(path: string, key?: string): [number | null, string] {
  const { dir } = tmpLog();
  const script = join(dir, 'verify.py');
  writeFileSync(script, python);
  const r = spawnSync('python3', [script, path], { encoding: 'utf8', env: { ...process.env, SOCHDB_AUDIT_HMAC_KEY: key ?? '' } });
  if (r.error) throw r.error;
  return [r.status, r.stdout + r.stderr];
}

it('the format document has four test vectors (versions 1 and 2; sha256, hmac-sha256 with key "secret")', () => {
  expect(vectors).toHaveLength(4);
  expect(vectors.map((v) => JSON.parse(v.split('\n')[0]!).version)).toEqual([1, 1, 2, 2]);
});

const V1 = [
  { timestamp: 1700000000000, operation: 'write', key: 'users/alice', agentId: 'agent_1', sessionId: 's1', result: 'allowed' },
  { timestamp: 1700000000005, operation: 'read', key: 'system/.env', agentId: null, sessionId: null, result: 'denied' },
] as const;
const V2 = [
  V1[0],
  { ...V1[1], decisionId: '018bcfe5-6805-7000-8000-000000000001', ruleId: 'block-env', appliedRules: ['block-env'] },
  {
    timestamp: 1700000000009,
    operation: 'read',
    key: 'users/bob',
    agentId: 'agent_2',
    sessionId: null,
    result: 'allowed',
    decisionId: '018bcfe5-6809-7000-8000-000000000002',
    ruleId: null,
    appliedRules: [],
    shadowRuleId: 'strict-reads',
    shadowAction: 'deny',
  },
] as const;

for (const [i, hmacKey] of [undefined, 'secret'].entries()) {
  it(`version 1 vector ${i + 1} still verifies and reads back; a sink opened on it goes on in version 2`, async () => {
    const { path } = tmpLog();
    writeFileSync(path, vectors[i]!);
    expect(await verifyAuditLog(path, { hmacKey })).toMatchObject({ ok: true, lastSeq: 2, genesis: true });
    expect(pythonVerify(path, hmacKey)).toEqual([0, 'OK, last seq 2\n']);
    expect(await queryAuditLog(path)).toEqual(V1.map((e, n) => ({ seq: n + 1, ...e, hash: expect.any(String) })));

    // Open seals the version 1 file and rotates it: one version per file, the change in the chain.
    const sink = await FileAuditSink.open(path, { hmacKey });
    expect(sink.recovery).toMatchObject({ upgradedFrom: 1, createdFile: true });
    await sink.append(V2[2] as never);
    await sink.close();
    expect(readFileSync(`${path}.1`, 'utf8').startsWith(vectors[i]!)).toBe(true);
    expect(JSON.parse(readFileSync(path, 'utf8').split('\n')[0]!)).toMatchObject({ type: 'header', version: 2, seq: 2 });
    expect(await verifyAuditLog(path, { hmacKey })).toMatchObject({ ok: true, files: 2, lastSeq: 3 });
    expect(pythonVerify(path, hmacKey)).toEqual([0, 'OK, last seq 3\n']);
    const read = await queryAuditLog(path);
    expect(read.map(({ seq: _s, hash: _h, ...e }) => e)).toEqual([...V1, V2[2]]);
    expect(await queryAuditLog(path, { ruleId: 'block-env' })).toEqual([]);
  });

  it(`version 2 vector ${i + 1} verifies, and is byte for byte what the sink writes`, async () => {
    const { path } = tmpLog();
    writeFileSync(path, vectors[2 + i]!);
    expect(await verifyAuditLog(path, { hmacKey })).toMatchObject({ ok: true, lastSeq: 3, genesis: true });
    expect(pythonVerify(path, hmacKey)).toEqual([0, 'OK, last seq 3\n']);

    const fresh = tmpLog().path;
    const sink = await FileAuditSink.open(fresh, { hmacKey });
    for (const e of V2) await sink.append(e as never);
    expect(await sink.query()).toEqual(V2);
    expect(await sink.query({ ruleId: 'block-env' })).toEqual([V2[1]]);
    await sink.close();
    expect(readFileSync(fresh, 'utf8')).toBe(vectors[2 + i]);
  });
}

it('the Python sketch rejects decision members in a version 1 file and an unknown version', () => {
  const { path } = tmpLog();
  const lines = vectors[0]!.split('\n');
  // A version 1 header over version 2 entries: the hashes no longer chain either, but the
  // member check comes first for the first entry with decision members.
  writeFileSync(path, vectors[2]!.replace('"version":2', '"version":7'));
  expect(pythonVerify(path)[0]).toBe(1);
  writeFileSync(path, lines.join('\n'));
  expect(pythonVerify(path)).toEqual([0, 'OK, last seq 2\n']);
});

it('the Python sketch verifies entries with batch_id, and rejects one in a version 1 file', async () => {
  const { path } = tmpLog();
  const sink = await FileAuditSink.open(path);
  await sink.append({ ...V2[1], batchId: '018bcfe5-6805-7000-8000-0000000000b1' } as never);
  await sink.append({ ...V2[2], batchId: '018bcfe5-6805-7000-8000-0000000000b1' } as never);
  await sink.close();
  expect(pythonVerify(path)).toEqual([0, 'OK, last seq 2\n']);
  // A version 1 header followed by an entry with only batch_id, both hashed and linked.
  const header = headerBody('sha256', 0, GENESIS_HASH, 1);
  const headerHash = createHash('sha256').update(header).digest('hex');
  const entry = entryBody(1, { ...V1[0], batchId: 'b1' }, headerHash, 2);
  expect(entry).toContain('"batch_id":"b1"');
  writeFileSync(path, lineOf(header, headerHash) + lineOf(entry, createHash('sha256').update(entry).digest('hex')));
  const [code, out] = pythonVerify(path);
  expect([code, out]).toEqual([1, expect.stringContaining('decision members')]);
});
