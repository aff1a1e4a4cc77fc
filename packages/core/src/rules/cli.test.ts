import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from './cli.js';

const QUICK_START = fileURLToPath(new URL('../../../../docs/examples/quick-start.policy.yaml', import.meta.url));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('sochdb-policy CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-cli-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'version: 1\nrules:\n  - id: r1\n    trigger: before_write\n    pattern: "**"\n    effect: deny\n    condition: "context.agent_id =="\n');

  it('check: ok for a valid document, exit 1 with file, line, rule and field for an invalid one', async () => {
    expect(await run('check', QUICK_START)).toMatchObject({ code: 0, out: expect.stringContaining('ok (4 rules)') });
    const r = await run('check', QUICK_START, bad);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.yaml:7:\d+: rule r1: \/rules\/0\/condition: /);
  });

  it('test: per-test results and the N passed, M failed line; exit 1 on a failure', async () => {
    const tests = join(dir, 'tests.yaml');
    writeFileSync(
      tests,
      [
        'tests:',
        '  - name: agents cannot write system keys',
        '    steps:',
        '      - { op: put, key: system/config, value: x, context: { agent_id: rogue }, expect: { allowed: false, code: denied, rule: block-system-writes } }',
        '      - { op: put, key: system/config, value: x, expect: { allowed: true } }',
        '  - name: wrong on purpose',
        '    steps:',
        '      - { op: evaluate, operation: write, key: users/a, expect: { allowed: false } }',
      ].join('\n'),
    );
    const r = await run('test', QUICK_START, '--tests', tests);
    expect(r.out).toContain('PASS');
    expect(r.out).toMatch(/FAIL .*wrong on purpose\n.*allowed: expected false, got true/);
    expect(r.out.split('\n').at(-1)).toBe('1 passed, 1 failed');
    expect(r.code).toBe(1);
  });

  it('explain: human-readable and --json', async () => {
    const r = await run('explain', QUICK_START, '--op', 'write', '--key', 'system/config', '--context', 'agent_id=a');
    expect(r.code).toBe(0);
    expect(r.out).toContain('DENIED (action deny) by rule block-system-writes');
    const j = await run('explain', QUICK_START, '--op', 'write', '--key', 'system/config', '--json');
    expect(JSON.parse(j.out)).toMatchObject({ type: 'success', allowed: true, reason: [], rules: [{ id: 'block-system-writes', patternMatched: true, conditionMatched: false }] });
  });

  it('bad usage exits 2', async () => {
    expect((await run('explain', QUICK_START)).code).toBe(2);
    expect((await run('nope')).code).toBe(2);
  });
});
