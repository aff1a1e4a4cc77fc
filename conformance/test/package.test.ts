/**
 * What an adapter author outside this repository does (docs/writing-an-adapter.md), from
 * packed tarballs in a temporary folder with npm, no workspace links: install
 * @sochdb-policy/conformance (and the workspace packages it depends on) and @sochdb-policy/testing, run the KeyValueStore
 * contract suite with vitest, then the conformance CLI on an adapter module in that folder.
 * Needs the packages built (`pnpm test` builds first) and the npm registry for ajv,
 * picomatch and vitest.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAllCaseFiles, ROOT } from '../src/load.js';
import { storeCapabilities } from '../src/execute.js';

const REPO = join(ROOT, '..');
const PACKAGES = [join(REPO, 'packages', 'core'), join(REPO, 'packages', 'helpers'), join(REPO, 'packages', 'testing'), ROOT];
const FIXTURE = join(ROOT, 'test', 'fixtures', 'outside-adapter');
const VITEST = JSON.parse(execFileSync('node', ['-p', `JSON.stringify(require(${JSON.stringify(join(ROOT, 'package.json'))}).devDependencies.vitest)`], { encoding: 'utf8' }));

let dir: string;

function run(command: string, args: string[], timeout = 240_000): { status: number | null; out: string } {
  const result = spawnSync(command, args, { cwd: dir, encoding: 'utf8', timeout, env: { ...process.env, CI: 'true', FORCE_COLOR: '0', NO_COLOR: '1' } });
  if (result.error) throw result.error;
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'outside-adapter-'));
  const packs = join(dir, 'packs');
  for (const pkg of PACKAGES) {
    if (!existsSync(join(pkg, 'dist'))) throw new Error(`${pkg} is not built: run \`pnpm turbo run build\` first`);
    execFileSync('pnpm', ['pack', '--pack-destination', packs], { cwd: pkg, stdio: 'pipe', timeout: 120_000 });
  }
  for (const name of readdirSync(FIXTURE)) copyFileSync(join(FIXTURE, name), join(dir, name.replace('.suite.mjs', '.test.mjs')));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'outside-adapter', private: true, type: 'module' }));
  const tarballs = readdirSync(packs).map((f) => join(packs, f));
  const install = run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs, `vitest@${VITEST}`], 280_000);
  if (install.status !== 0) throw new Error(`npm install failed:\n${install.out}`);
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('@sochdb-policy/conformance installed from its tarball, outside the repository', () => {
  it('is installed from tarballs, not linked to the workspace', () => {
    const installed = join(dir, 'node_modules', '@sochdb-policy', 'conformance');
    expect(existsSync(join(installed, 'cases', 'patterns.json'))).toBe(true);
    expect(existsSync(join(installed, 'rules.json'))).toBe(true);
    expect(existsSync(join(installed, 'schema', 'case-file.schema.json'))).toBe(true);
    // Only the published parts: the sources the source maps point to, but no repo-only
    // adapters or runner, and no tests.
    expect(existsSync(join(installed, 'src', 'index.ts'))).toBe(true);
    expect(existsSync(join(installed, 'src', 'adapters.ts'))).toBe(false);
    expect(existsSync(join(installed, 'src', 'run.ts'))).toBe(false);
    expect(existsSync(join(installed, 'dist', 'adapters.js'))).toBe(false);
    expect(existsSync(join(installed, 'dist', 'run.js'))).toBe(false);
  });

  it('the contract suite runs under vitest and rejects a store that answers after close()', () => {
    const { status, out } = run('npx', ['vitest', 'run', '--reporter=verbose', 'contract.test.mjs']);
    expect(out).toMatch(/✓ contract.test.mjs > MapStore contract > rejects put, get and delete after close/);
    expect(out).toMatch(/× contract.test.mjs > forgiving MapStore contract > rejects put, get and delete after close/);
    expect(status).toBe(1);
  });

  it('the CLI runs every case on the adapter module and closes with the count', () => {
    const cases = loadAllCaseFiles().flatMap((f) => f.cases);
    // The MapStore has no iterator and no batch: the scan and batch cases do not apply to it.
    const inapplicable = cases.filter((c) => storeCapabilities(c).length > 0).length;
    expect(inapplicable).toBeGreaterThan(0);
    const { status, out } = run(join(dir, 'node_modules', '.bin', 'sochdb-policy-conformance'), ['--adapters', './my-adapters.mjs']);
    expect(out).toContain(`ok   storage=map rate-limits=memory audit=memory: ${cases.length - inapplicable} passed, 0 failed, ${inapplicable} not applicable (storage=map has no`);
    expect(out.trimEnd().split('\n').pop()).toBe(`conformance: ${cases.length - inapplicable} passed, 0 failed`);
    expect(status).toBe(0);
  });

  it('with --only, runs the matching cases; a store that answers after close() fails the storage cases', () => {
    const { status, out } = run(join(dir, 'node_modules', '.bin', 'sochdb-policy-conformance'), ['--adapters', './forgiving-adapters.mjs', '--only', 'errors/storage-']);
    expect(out).toMatch(/✗ errors\/storage-/);
    expect(out.trimEnd().split('\n').pop()).toMatch(/^conformance: \d+ passed, [1-9]\d* failed$/);
    expect(status).toBe(1);
  });

  it('runConformance is importable and reports the same', async () => {
    writeFileSync(
      join(dir, 'api.mjs'),
      "import { runConformance } from '@sochdb-policy/conformance';\nimport { storage } from './my-adapters.mjs';\nconst r = await runConformance({ storage }, { only: 'hooks/', log: () => {} });\nconsole.log(JSON.stringify({ ok: r.ok, passed: r.passed, failed: r.failed }));\n",
    );
    const { status, out } = run('node', ['api.mjs']);
    expect(status).toBe(0);
    const hooks = loadAllCaseFiles().flatMap((f) => f.cases).filter((c) => c.id.includes('hooks/')).length;
    expect(JSON.parse(out.trim())).toEqual({ ok: true, passed: hooks, failed: 0 });
  });
});
