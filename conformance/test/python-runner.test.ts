import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAllCaseFiles, ROOT } from '../src/load.js';
import { pythonAvailability } from './python.js';

const RUNNER = join(ROOT, 'runners', 'python', 'run.py');
const { python: PYTHON, reason: noPython } = pythonAvailability();

function run(...args: string[]): { status: number | null; out: string } {
  return python(RUNNER, ...args);
}

function python(...args: string[]): { status: number | null; out: string } {
  // No __pycache__ left in the source tree.
  const result = spawnSync(PYTHON, args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
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

describe('when python3 is missing', () => {
  it('the Python tests are skipped with the reason, except on CI', () => {
    const missing = pythonAvailability({ PYTHON: '/nonexistent/python3' });
    expect(missing.reason).toMatch(/^\/nonexistent\/python3 is not available \(ENOENT\)/);
    // On CI they run (and fail), so a lost python3 cannot pass unnoticed.
    expect(pythonAvailability({ PYTHON: '/nonexistent/python3', CI: 'true' }).reason).toBeUndefined();
    expect(pythonAvailability({ PYTHON: '/nonexistent/python3', CI: 'false' }).reason).toBeDefined();
  });
});

describe.skipIf(noPython !== undefined)(`Python runner (runners/python/run.py, standard library only)${noPython ? ` (skipped: ${noPython})` : ''}`, () => {
  it('passes every case against the target module sochdb_target', () => {
    const cases = loadAllCaseFiles().flatMap((f) => f.cases);
    // Cases that need declarative rules (D1-D10) are unsupported there: counted, not run.
    const unsupported = cases.filter((c) => (c.requires ?? []).length > 0).length;
    expect(unsupported).toBeGreaterThan(0);
    const { status, out } = run('--module', 'sochdb_target');
    expect(out).toContain(`python conformance (sochdb_target): ${cases.length - unsupported} passed, 0 failed, ${unsupported} unsupported`);
    expect(status).toBe(0);
  });

  it('reports a case with step types it does not drive (scan, batch) as unsupported, never crashing', () => {
    const scan = { ...passing, id: 'probe/scan', steps: [{ op: 'scan', expect: { entries: [] } }] };
    const batch = { ...passing, id: 'probe/batch', steps: [{ op: 'batch', operations: [], expect: { ok: true } }] };
    const { status, out } = run('--module', 'sochdb_target', '--cases', caseFolder([passing, scan, batch]), '-v');
    expect(out).toContain('probe/scan: unsupported (step types scan)');
    expect(out).toContain('probe/batch: unsupported (step types batch)');
    expect(out).toContain('1 passed, 0 failed, 2 unsupported');
    expect(status).toBe(0);
  });

  it('registers hooks as the seed does, with the decorator: sochdb_target refuses the two-argument form', () => {
    // sochdb_target, like the Python SDK, has before_write(pattern) -> decorator and nothing else,
    // so the run above can only pass if run.py registers `engine.before_write(pattern)(handler)`.
    const probe = [
      'import sochdb_target',
      'engine = sochdb_target.PolicyEngine({})',
      'handler = lambda key, value, context: None',
      'assert engine.before_write("system/*")(handler) is handler',
      'try:',
      '    engine.before_write("system/*", handler)',
      'except TypeError as error:',
      '    print("TypeError:", error)',
      'else:',
      '    print("accepted the two-argument form")',
    ].join('\n');
    const { status, out } = python('-c', `import sys; sys.path.insert(0, ${JSON.stringify(join(ROOT, 'runners', 'python'))})\n${probe}`);
    expect(status).toBe(0);
    expect(out).toMatch(/^TypeError: .*takes 2 positional arguments but 3 were given/);
    // And a case with a hook passes through the runner on it.
    const { status: runStatus, out: runOut } = run('--module', 'sochdb_target', '--cases', caseFolder([passing]));
    expect(runOut).toContain('1 passed, 0 failed');
    expect(runStatus).toBe(0);
  });

  it('falls back to the two-argument form only for a module whose trigger methods require a handler', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conformance-python-module-'));
    const triggers = ['before_write', 'after_write', 'before_read', 'after_read', 'before_delete', 'after_delete'];
    writeFileSync(
      join(dir, 'two_argument_sdk.py'),
      [
        'import sochdb_target',
        'from sochdb_target import PolicyAction, PolicyViolation',
        'class PolicyEngine(sochdb_target.PolicyEngine):',
        ...triggers.map((t) => `    def ${t}(self, pattern, handler):\n        return super().${t}(pattern)(handler)`),
        '',
      ].join('\n'),
    );
    const { status, out } = run('--module', 'two_argument_sdk', '--helpers', 'sochdb_target.policy', '--path', dir, '--cases', caseFolder([passing]));
    expect(out).toContain('1 passed, 0 failed');
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
