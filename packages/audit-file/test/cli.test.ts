import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileAuditSink } from '../src/index.js';
import { CLI, entry, requireBuilt, runCli, tmpLog } from './helpers.js';

async function makeLog(n: number, maxBytes?: number): Promise<string> {
  const { path } = tmpLog();
  const sink = await FileAuditSink.open(path, { maxBytes });
  for (let i = 1; i <= n; i++) await sink.append(entry(i));
  await sink.close();
  return path;
}

const jsonLines = (text: string) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(() => requireBuilt());

describe('sochdb-policy-audit (run as a process)', () => {
  it('tail prints the newest entries as a table', async () => {
    const path = await makeLog(30);
    const r = await runCli(['tail', '-n', '3', path]);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^SEQ\s+TIME\s+OPERATION\s+RESULT\s+AGENT\s+SESSION\s+RULE\s+DECISION\s+BATCH\s+KEY$/);
    expect(rows.slice(1).map((row) => row.split(/\s+/)[0])).toEqual(['28', '29', '30']);
    expect(rows[3]).toContain('users/u30/doc');
    expect(rows[3]).toContain(new Date(entry(30).timestamp).toISOString());
  });

  it('tail defaults to 10 entries; --json prints seed field names', async () => {
    const path = await makeLog(30);
    const r = await runCli(['tail', '--json', path]);
    const rows = jsonLines(r.stdout);
    expect(rows.map((x) => x.seq)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    expect(Object.keys(rows[0]!)).toEqual(['seq', 'timestamp', 'operation', 'key', 'agent_id', 'session_id', 'result', 'hash']);
  });

  it('query applies the same filters as the API, across rotated files', async () => {
    const path = await makeLog(60, 2048);
    const r = await runCli(['query', '--json', '--agent-id', 'agent_1', '--operation', 'read', '--limit', '3', path]);
    expect(r.code).toBe(0);
    const rows = jsonLines(r.stdout);
    expect(rows.map((x) => x.seq)).toEqual([43, 49, 55]);
    expect(rows.every((x) => x.agent_id === 'agent_1' && x.operation === 'read')).toBe(true);
    const denied = jsonLines((await runCli(['query', '--json', '--result', 'denied', '--since', String(entry(10).timestamp), '--until', new Date(entry(20).timestamp).toISOString(), path])).stdout);
    expect(denied.map((x) => x.seq)).toEqual([10, 15, 20]);
  });

  it('query --rule filters by deciding rule; the table and --json show rule and decision ids (format 2)', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    const id = (n: number) => `018bcfe5-6805-7000-8000-00000000000${n}`;
    await sink.append(entry(1, { decisionId: id(1), ruleId: null, appliedRules: [] }));
    await sink.append(entry(2, { result: 'denied', decisionId: id(2), ruleId: 'block-system', appliedRules: ['block-system'] }));
    await sink.append(entry(3, { decisionId: id(3), ruleId: null, appliedRules: [], shadowRuleId: 'strict', shadowAction: 'deny' }));
    await sink.append(entry(4)); // no decision fields (an application writing its own entries)
    await sink.append(entry(5, { result: 'denied', decisionId: id(5), ruleId: 'block-system', appliedRules: ['log-all', 'block-system'] }));
    await sink.close();
    const json = jsonLines((await runCli(['query', '--json', '--rule', 'block-system', path])).stdout);
    expect(json.map((x) => x.seq)).toEqual([2, 5]);
    expect(Object.keys(json[0]!)).toEqual(['seq', 'timestamp', 'operation', 'key', 'agent_id', 'session_id', 'result', 'decision_id', 'rule_id', 'applied_rules', 'hash']);
    expect(json[1]).toMatchObject({ decision_id: id(5), rule_id: 'block-system', applied_rules: ['log-all', 'block-system'] });
    const all = jsonLines((await runCli(['query', '--json', path])).stdout);
    expect(all[2]).toMatchObject({ rule_id: null, shadow_rule_id: 'strict', shadow_action: 'deny' });
    expect(Object.keys(all[3]!)).toEqual(['seq', 'timestamp', 'operation', 'key', 'agent_id', 'session_id', 'result', 'hash']);
    const table = (await runCli(['query', path])).stdout.trim().split('\n');
    expect(table[2]).toMatch(new RegExp(`^2\\s.*denied.*block-system\\s+${id(2)}\\s+-\\s+users/u2/doc$`));
    expect(table[3]).toContain(`- (shadow deny: strict)`);
    expect(table[4]).toMatch(/\s-\s+-\s+-\s+users\/u4\/doc$/);
    expect((await runCli(['query', '--rule', 'nope', '--json', path])).stdout).toBe('');
  });

  it('escapes control characters from keys in the table', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    await sink.append(entry(1, { key: 'evil\u001b[2Jkey\nnext' }));
    await sink.close();
    const r = await runCli(['query', path]);
    expect(r.stdout).not.toContain('\u001b');
    expect(r.stdout).toContain('evil\\u001b[2Jkey\\u000anext');
  });

  it('tail -f prints entries appended after it started, across a rotation, until SIGTERM', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path, { maxBytes: 1024, durability: 'none' });
    await sink.append(entry(1));
    const child = spawn(process.execPath, [CLI, 'tail', '-f', '--json', '-n', '1', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const seen = async (seq: number) => {
      for (let i = 0; i < 200 && !out.includes(`"seq":${seq},`); i++) await new Promise((r) => setTimeout(r, 25));
    };
    await seen(1);
    for (let i = 2; i <= 12; i++) await sink.append(entry(i));
    expect(sink.stats.rotations).toBeGreaterThan(0);
    await seen(12);
    const exited = new Promise<number | null>((r) => child.on('close', r));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await sink.close();
    expect(jsonLines(out).map((x) => x.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('exits 2 with a message on usage errors and a missing log', async () => {
    const path = await makeLog(1);
    for (const args of [[], ['tail'], ['frobnicate', path], ['query', '--limit', 'many', path], ['query', '--operation', 'scan', path], ['verify', '--anchor', 'x', path], ['tail', '--bogus', path]]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('sochdb-policy-audit:');
    }
    const missing = await runCli(['verify', `${path}.nope`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no audit log');
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: sochdb-policy-audit');
  });
});
