import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAllCaseFiles, ROOT } from '../src/load.js';

const RUNNER = join(ROOT, 'runners', 'python', 'run.py');
const PYTHON = process.env.PYTHON ?? 'python3';

function run(...args: string[]): { status: number | null; out: string } {
  // No __pycache__ left in the source tree.
  const result = spawnSync(PYTHON, [RUNNER, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  if (result.error) throw result.error;
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

/** A folder with one case file holding `cases`, and `divergences` for it. */
function caseFolder(cases: unknown[], divergences: unknown = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'conformance-python-'));
  writeFileSync(join(dir, 'probe.json'), JSON.stringify({ area: 'probe', description: 'runner probe', cases, divergences }));
  return dir;
}

const passing = {
  id: 'probe/passes',
  description: 'a denied write',
  rules: ['H5'],
  setup: { hooks: [{ trigger: 'before_write', pattern: 'system/*', handler: { return: 'deny' } }] },
  steps: [{ op: 'put', key: 'system/x', value: 'v', expect: { violation: { code: 'denied', message: 'Write blocked by policy' } } }],
};
const failing = { ...passing, id: 'probe/fails', description: 'expects the wrong thing', steps: [{ ...passing.steps[0], expect: { ok: true } }] };

describe('Python runner (runners/python/run.py, standard library only)', () => {
  it('passes every case against the target module sochdb_target', () => {
    const total = loadAllCaseFiles().reduce((n, f) => n + f.cases.length, 0);
    const { status, out } = run('--module', 'sochdb_target');
    expect(out).toContain(`python conformance (sochdb_target): ${total} passed, 0 failed`);
    expect(status).toBe(0);
  });

  it('fails the run and names the case and step when a case fails', () => {
    const { status, out } = run('--module', 'sochdb_target', '--cases', caseFolder([passing, failing]));
    expect(status).toBe(1);
    expect(out).toContain('✗ probe/fails: step 1 (put "system/x"): expected success, got PolicyViolation');
    expect(out).toContain('1 passed, 1 failed');
  });

  it('with --divergences, a listed failing case is an expected failure', () => {
    const dir = caseFolder([passing, failing], { python: { 'probe/fails': 'H5: probe' } });
    const { status, out } = run('--module', 'sochdb_target', '--cases', dir, '--divergences', 'python');
    expect(out).toContain('1 passed, 0 failed, 1 expected failures');
    expect(status).toBe(0);
    // Without the flag the same case is a plain failure.
    expect(run('--module', 'sochdb_target', '--cases', dir).status).toBe(1);
  });

  it('with --divergences --strict, a listed case that passes fails the run', () => {
    const dir = caseFolder([passing], { python: { 'probe/passes': 'H5: probe' } });
    expect(run('--module', 'sochdb_target', '--cases', dir, '--divergences', 'python').status).toBe(0);
    const strict = run('--module', 'sochdb_target', '--cases', dir, '--divergences', 'python', '--strict');
    expect(strict.out).toContain('! probe/passes: xpass');
    expect(strict.status).toBe(1);
  });
});
