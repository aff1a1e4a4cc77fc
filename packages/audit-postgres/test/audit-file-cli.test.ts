// `sochdb-policy-audit verify|query <postgres://...>`: the audit file's CLI (the built bin of
// @sochdb-policy/audit-file) reading these tables through this package, loaded dynamically.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { PostgresAuditSink } from '../src/index.js';
import { availability, entry, freshSchema, skipNote, tamper, twoChains, usePostgres } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..');
const AUDIT_CLI = join(dirname(createRequire(import.meta.url).resolve('@sochdb-policy/audit-file/package.json')), 'dist', 'cli.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
/** Runs the audit file's bin as a user would, in `cwd` (this package's folder: @sochdb-policy/audit-postgres resolves there). */
function audit(args: string[], { cwd = packageDir, env = {} }: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Without vitest's NODE_PATH (pnpm's store of every package): a user's shell has none.
    const childEnv: NodeJS.ProcessEnv = { ...process.env, SOCHDB_AUDIT_HMAC_KEY: '', ...env };
    delete childEnv.NODE_PATH;
    const child = spawn(process.execPath, [AUDIT_CLI, ...args], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
const keys = (r: Run) => r.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { key: string }).key);

describe('sochdb-policy-audit with a postgres:// URL when @sochdb-policy/audit-postgres is not installed', () => {
  beforeAll(() => {
    if (!existsSync(AUDIT_CLI)) throw new Error(`build @sochdb-policy/audit-file first (${AUDIT_CLI} is missing): pnpm turbo run build --filter=@sochdb-policy/audit-postgres...`);
  });
  it('says how to install it and exits 2, for verify and query, before connecting', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'no-audit-postgres-'));
    try {
      await writeFile(join(dir, 'package.json'), '{"name":"app","private":true}');
      for (const args of [['verify', 'postgres://auditor:secret@127.0.0.1:1/app'], ['query', '--json', 'postgresql://127.0.0.1:1/app']]) {
        const r = await audit(args, { cwd: dir });
        expect(r.code).toBe(2);
        expect(r.stdout).toBe('');
        expect(r.stderr).toContain('needs @sochdb-policy/audit-postgres');
        expect(r.stderr).toContain('npm install @sochdb-policy/audit-postgres pg');
        expect(r.stderr).not.toContain('secret');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!availability.available)(`sochdb-policy-audit verify|query <postgres://...> on a real PostgreSQL${skipNote}`, () => {
  const db = usePostgres({}, () => {
    if (!existsSync(join(packageDir, 'dist', 'index.js'))) throw new Error('build @sochdb-policy/audit-postgres first: pnpm turbo run build --filter=@sochdb-policy/audit-postgres...');
  });
  /** Chains a and b of helpers.ts's twoChains, with `extra` options (an HMAC key). */
  const chains = (extra: { hmacKey?: string } = {}) => twoChains((schema, chainId) => db.open(schema, chainId, extra));

  it('verify: exit 0 and OK (the URL printed without its user info), --json the report; exit 1 and TAMPERED after an edit', async () => {
    const schema = await chains();
    const ok = await audit(['verify', '--schema', schema, db.server.url]);
    expect([ok.code, ok.stderr]).toEqual([0, '']);
    expect(ok.stdout).toMatch(/^OK postgres:\/\/127\.0\.0\.1:\d+\/postgres: 22 entries verified in 2 chain\(s\), 3 checkpoint\(s\)\n/);
    expect(ok.stdout).toMatch(/ {2}a: seq 1\.\.12, sha256\n {2}b: seq 1\.\.10, sha256\n {2}last checkpoint 3 [0-9a-f]{64} \(keep them to check later with --anchor 3:[0-9a-f]{64}\)/);
    const json = await audit(['verify', '--json', '--schema', schema, db.server.url.replace('postgres://', 'postgresql://')]);
    const report = JSON.parse(json.stdout) as { ok: boolean; entries: number; lastCheckpoint: { id: number; hash: string } };
    expect([json.code, report.ok, report.entries]).toEqual([0, true, 22]);
    const anchored = await audit(['verify', '--schema', schema, '--anchor', `${report.lastCheckpoint.id}:${report.lastCheckpoint.hash}`, db.server.url]);
    expect(anchored.code).toBe(0);
    const missing = await audit(['verify', '--schema', schema, '--anchor', `9:${report.lastCheckpoint.hash}`, db.server.url]);
    expect([missing.code, missing.stdout]).toEqual([1, expect.stringContaining('checkpoint 9: truncated')]);

    await tamper(db.server.url, [`UPDATE ${schema}.entries SET key = 'k/evil' WHERE chain_id = 'a' AND seq = 4`]);
    const bad = await audit(['verify', '--schema', schema, db.server.url]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^TAMPERED postgres:\/\/127\.0\.0\.1:\d+\/postgres\n {2}chain "a": seq 4: edited/);
    const badJson = await audit(['verify', '--json', '--schema', schema, db.server.url]);
    expect([badJson.code, (JSON.parse(badJson.stdout) as { problem: { reason: string } }).problem.reason]).toEqual([1, 'edited']);
  }, 60_000);

  it('verify with HMAC: exit 0 with the key (file or env), 2 without it, 3 with a wrong one', async () => {
    const schema = await chains({ hmacKey: 'fleet-key' });
    const dir = await mkdtemp(join(tmpdir(), 'pg-key-'));
    try {
      await writeFile(join(dir, 'key'), 'fleet-key\n');
      await writeFile(join(dir, 'wrong'), 'other-key\n');
      expect((await audit(['verify', '--schema', schema, '--hmac-key-file', join(dir, 'key'), db.server.url])).code).toBe(0);
      expect((await audit(['verify', '--schema', schema, db.server.url], { env: { SOCHDB_AUDIT_HMAC_KEY: 'fleet-key' } })).code).toBe(0);
      const none = await audit(['verify', '--schema', schema, db.server.url]);
      expect([none.code, none.stdout]).toEqual([2, expect.stringMatching(/^KEY REQUIRED /)]);
      const wrong = await audit(['verify', '--schema', schema, '--hmac-key-file', join(dir, 'wrong'), db.server.url]);
      expect([wrong.code, wrong.stdout]).toEqual([3, expect.stringMatching(/^WRONG KEY /)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('query: the file CLI formats (table, JSON Lines with chain_id and cursor), filters, the newest --limit, --newest-first, --after, --chain-id', async () => {
    const schema = await chains();
    const byAgent = await audit(['query', '--json', '--schema', schema, '--agent-id', 'agent_1', db.server.url]);
    expect([byAgent.code, byAgent.stderr]).toEqual([0, '']);
    expect(keys(byAgent)).toEqual(['k/1', 'k/4', 'k/7', 'k/10', 'k/103', 'k/106', 'k/109']);
    const first = JSON.parse(byAgent.stdout.split('\n')[0]!) as Record<string, unknown>;
    expect(Object.keys(first)).toEqual(['seq', 'timestamp', 'operation', 'key', 'agent_id', 'session_id', 'result', 'hash', 'chain_id', 'cursor']);
    expect(first).toMatchObject({ seq: 1, timestamp: entry(1).timestamp, operation: 'write', key: 'k/1', agent_id: 'agent_1', session_id: null, result: 'allowed', chain_id: 'a' });

    const table = await audit(['query', '--schema', schema, '--limit', '2', db.server.url]);
    const rows = table.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^SEQ\s+TIME\s+OPERATION\s+RESULT\s+AGENT\s+SESSION\s+RULE\s+DECISION\s+/);
    // Fleet order is by time: a's entries (k/1..k/12) are older than b's (k/101..k/110).
    expect(rows.slice(1).map((r) => [r.split(/\s+/)[0], r.split(/\s+/).at(-1)])).toEqual([['9', 'k/109'], ['10', 'k/110']]);

    const all = await audit(['query', '--json', '--limit', 'all', '--schema', schema, db.server.url]);
    const want = [...Array.from({ length: 12 }, (_, i) => `k/${i + 1}`), ...Array.from({ length: 10 }, (_, i) => `k/${101 + i}`)];
    expect(keys(all)).toEqual(want);
    const cursors = all.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { cursor: string }).cursor);
    const resumed = await audit(['query', '--json', '--limit', '3', '--after', cursors[4]!, '--schema', schema, db.server.url]);
    expect(keys(resumed)).toEqual(want.slice(5, 8));
    const newest = await audit(['query', '--json', '--limit', '3', '--newest-first', '--schema', schema, db.server.url]);
    expect(keys(newest)).toEqual(want.slice(-3).reverse());
    const chainB = await audit(['query', '--json', '--chain-id', 'b', '--limit', '2', '--schema', schema, db.server.url]);
    expect(keys(chainB)).toEqual(['k/109', 'k/110']);
    const since = await audit(['query', '--json', '--since', String(entry(11).timestamp), '--until', String(entry(101).timestamp), '--schema', schema, db.server.url]);
    expect(keys(since)).toEqual(['k/11', 'k/12', 'k/101']);
    const none = await audit(['query', '--json', '--agent-id', 'nobody', '--schema', schema, db.server.url]);
    expect([none.code, none.stdout]).toEqual([0, '']);
  }, 60_000);

  it('query --rule and the decision members, as the audit file prints them', async () => {
    const schema = freshSchema();
    const sink = await PostgresAuditSink.open({ connection: db.server.url, schema, chainId: 'a', checkpointIntervalMs: 0 });
    await sink.append({ ...entry(1), result: 'denied', decisionId: 'd-1', ruleId: 'no-system', appliedRules: ['no-system'], shadowRuleId: 's', shadowAction: 'deny' });
    await sink.append({ ...entry(2), decisionId: 'd-2', ruleId: null, appliedRules: [] });
    await sink.close();
    const r = await audit(['query', '--json', '--rule', 'no-system', '--schema', schema, db.server.url]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const row = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(row).toMatchObject({ key: 'k/1', decision_id: 'd-1', rule_id: 'no-system', applied_rules: ['no-system'], shadow_rule_id: 's', shadow_action: 'deny', chain_id: 'a' });
    const table = await audit(['query', '--schema', schema, db.server.url]);
    expect(table.stdout.split('\n')[1]).toMatch(/ no-system \(shadow deny: s\)\s+d-1 /);
    expect(table.stdout.split('\n')[2]).toMatch(/ -\s+d-2 /);
  }, 60_000);

  it('usage and connection errors: exit 2 naming the argument', async () => {
    const cases: [string[], string][] = [
      [['query', '--from-seq', '3', db.server.url], '--from-seq reads a file'],
      [['tail', db.server.url], 'tail reads a file'],
      [['query', '--limit', 'lots', db.server.url], '--limit must be a non-negative integer'],
      [['query', '--operation', 'steal', db.server.url], '--operation must be one of'],
      [['verify', '--anchor', '12:abc', db.server.url], '--anchor must be ID:HASH'],
      [['verify', '--chain-id', 'a', db.server.url], '--chain-id applies to query only'],
      [['query', '--schema', 'x', '/tmp/some-audit.log'], '--schema applies to a postgres:// URL only'],
    ];
    for (const [args, message] of cases) {
      const r = await audit(args);
      expect([r.code, r.stdout, r.stderr]).toEqual([2, '', expect.stringContaining(message)]);
    }
    const refused = await audit(['verify', 'postgres://auditor:secret@127.0.0.1:1/app']);
    expect([refused.code, refused.stdout]).toEqual([2, '']);
    expect(refused.stderr).toMatch(/^sochdb-policy-audit: .*ECONNREFUSED/);
    expect(refused.stderr).not.toContain('secret');
  }, 60_000);
});
