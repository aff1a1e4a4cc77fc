#!/usr/bin/env node
/**
 * Installs the packages the way users do and runs them: `pnpm test:packed` (CI runs it after
 * `pnpm test`, see .ci/run).
 *
 * 1. packs every publishable package (pnpm pack: `workspace:^` becomes `^<version>`);
 * 2. runs publint and are-the-types-wrong on each tarball;
 * 3. in fresh folders under the system's temporary folder, outside the workspace, with npm:
 *    - only the facade: the seed's quick start (docs/examples/quick-start.ts) as ESM and as
 *      CommonJS, and require() of every entry point;
 *    - core + storage-rocksdb, core + audit-file (and its `sochdb-policy-audit` bin),
 *      core + ratelimit-redis with ioredis 5 and with ioredis 6 against a real redis-server;
 *      core + audit-file + audit-postgres against a real PostgreSQL (the API from CommonJS,
 *      and `sochdb-policy-audit verify|query postgres://…` from the installed bin);
 *    - every package with TypeScript: a consumer typechecked with `skipLibCheck: false`
 *      under moduleResolution node16, nodenext and bundler (and a .cts consumer, compiled and
 *      run), then every ```ts block of README.md, docs/*.md and the packages' READMEs:
 *      typechecked and run, except those marked ```ts no-run (typechecked only) and
 *      ```ts fragment (excerpts, neither).
 *
 * The packages must be built (`pnpm build`; `pnpm test` builds them). Needs the npm registry
 * (third-party dependencies, typescript, ioredis 5) and redis-server on PATH.
 * Options: --keep leaves the temporary folder for a look; --only <step> runs one step
 * (pack is always run): lint, facade, rocksdb, audit, postgres, redis, types, snippets.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * Every publishable package: packages/* and conformance/ less the private ones, and less those
 * at version 0.0.0: a package still being written, which a changeset first takes to 0.1.0
 * (RELEASING.md); the release refuses to publish a 0.0.0.
 */
const UNRELEASED = [];
const PACKAGES = [...readdirSync(join(REPO, 'packages')).map((d) => `packages/${d}`), 'conformance'].filter((dir) => {
  const file = join(REPO, dir, 'package.json');
  if (!existsSync(file)) return false;
  const pkg = JSON.parse(readFileSync(file, 'utf8'));
  if (pkg.private === true) return false;
  if (pkg.version === '0.0.0') UNRELEASED.push(pkg.name);
  return pkg.version !== '0.0.0';
});
const rootPkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
/** Third-party versions the consumers install: the repository's own, and ioredis 5 as well as 6. */
const TYPESCRIPT = rootPkg.devDependencies.typescript;
const TYPES_NODE = rootPkg.devDependencies['@types/node'];
const IOREDIS = { 5: '5.9.3', 6: '6.0.0' };

const args = process.argv.slice(2);
const keep = args.includes('--keep');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const want = (step) => only === undefined || only === step;

const work = mkdtempSync(join(tmpdir(), 'sochdb-policy-packed-'));
const packs = join(work, 'packs');
const env = { ...process.env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0', npm_config_update_notifier: 'false' };
// npm run from a pnpm script inherits pnpm's npm_config_* settings; the consumers are plain npm projects.
for (const k of Object.keys(env)) if (k.startsWith('npm_config_') && k !== 'npm_config_update_notifier' && k !== 'npm_config_cache') delete env[k];

let failures = 0;
const started = Date.now();

function log(line) {
  process.stdout.write(`${line}\n`);
}

/** Runs a command; returns { status, out } and never throws for a non-zero exit. */
function run(cmd, argv, { cwd, timeout = 120_000, extraEnv = {} } = {}) {
  const r = spawnSync(cmd, argv, { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) return { status: null, out: `${r.error.message}\n${r.stdout ?? ''}${r.stderr ?? ''}` };
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

async function check(name, fn) {
  const t = Date.now();
  try {
    await fn();
    log(`ok     ${name} (${((Date.now() - t) / 1000).toFixed(1)}s)`);
  } catch (error) {
    failures++;
    log(`FAILED ${name}\n${String(error?.message ?? error).replace(/^/gm, '       ')}`);
  }
}

function expectOk(r, what) {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.out}`);
  return r.out;
}

function expectIncludes(out, needles, what) {
  for (const n of needles) if (!out.includes(n)) throw new Error(`${what}: expected output to contain ${JSON.stringify(n)}, got:\n${out}`);
}

const tarballs = {};

/** A fresh npm project with `deps` (names of our packages and third-party specs) installed. */
function project(name, ours, thirdParty = [], pkgJson = {}) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const dependencies = {};
  for (const p of ours) dependencies[p] = `file:${tarballs[p]}`;
  for (const spec of thirdParty) {
    const at = spec.lastIndexOf('@');
    dependencies[spec.slice(0, at)] = spec.slice(at + 1);
  }
  // Our packages the installed ones depend on come from the tarballs too, as if from the registry.
  const overrides = Object.fromEntries(Object.entries(tarballs).map(([n, t]) => [n, `file:${t}`]));
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true, ...pkgJson, dependencies, overrides }, null, 2)}\n`);
  expectOk(run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, timeout: 400_000 }), `npm install in ${name}`);
  return dir;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const which = run('sh', ['-c', 'command -v redis-server']);
  if (which.status !== 0) throw new Error('redis-server is not on PATH: install it (Debian: apt-get install redis-server); .ci/run does');
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (run('redis-cli', ['-p', String(port), 'ping']).out.trim() === 'PONG') return { url, stop: () => child.kill() };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`redis-server did not answer on port ${port}`);
}

/** TypeScript → JavaScript, no type check (the types step checks). `cjs` wraps top-level await. */
function transpile(source, { cjs = false } = {}) {
  let text = source;
  if (cjs) {
    const lines = source.split('\n');
    const imports = lines.filter((l) => /^import\b/.test(l));
    const body = lines.filter((l) => !/^import\b/.test(l));
    text = `${imports.join('\n')}\n(async () => {\n${body.join('\n')}\n})().catch((error) => { console.error(error); process.exitCode = 1; });\n`;
  }
  return ts.transpileModule(text, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: cjs ? ts.ModuleKind.CommonJS : ts.ModuleKind.ESNext, esModuleInterop: true, verbatimModuleSyntax: false },
  }).outputText;
}

/** The ```ts blocks of the docs: { file, line, code, fragment }. */
function docSnippets() {
  const files = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  for (const dir of PACKAGES) if (existsSync(join(REPO, dir, 'README.md'))) files.push(`${dir}/README.md`);
  const out = [];
  for (const file of files) {
    const text = readFileSync(join(REPO, file), 'utf8');
    const re = /^```(ts|typescript)([^\n]*)\n([\s\S]*?)^```/gm;
    for (let m; (m = re.exec(text)); ) {
      const info = m[2].trim().split(/\s+/).filter(Boolean);
      out.push({ file, line: text.slice(0, m.index).split('\n').length, code: m[3], fragment: info.includes('fragment'), noRun: info.includes('no-run') });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

log(`packed install in ${work}`);
if (UNRELEASED.length > 0) log(`       not packed, at 0.0.0 (not released yet): ${UNRELEASED.join(', ')}`);

await check('pack every publishable package', () => {
  for (const dir of PACKAGES) {
    const pkg = JSON.parse(readFileSync(join(REPO, dir, 'package.json'), 'utf8'));
    if (!existsSync(join(REPO, dir, 'dist'))) throw new Error(`${dir} is not built: run \`pnpm build\` first`);
    const before = new Set(existsSync(packs) ? readdirSync(packs) : []);
    execFileSync('pnpm', ['pack', '--pack-destination', packs], { cwd: join(REPO, dir), stdio: 'pipe', env });
    const made = readdirSync(packs).filter((f) => !before.has(f));
    if (made.length !== 1) throw new Error(`pnpm pack in ${dir} made ${made.join(', ') || 'nothing'}`);
    tarballs[pkg.name] = join(packs, made[0]);
    // What users get: no workspace protocol, no sources without their maps' targets.
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarballs[pkg.name], 'package/package.json'], { encoding: 'utf8' }));
    for (const section of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
      for (const [n, v] of Object.entries(manifest[section] ?? {})) if (String(v).startsWith('workspace:')) throw new Error(`${pkg.name}: ${section}.${n} is ${v} in the tarball`);
    }
    const files = execFileSync('tar', ['-tzf', tarballs[pkg.name]], { encoding: 'utf8' }).split('\n');
    for (const required of ['package/README.md', 'package/LICENSE', 'package/package.json']) {
      if (!files.includes(required)) throw new Error(`${pkg.name}: the tarball has no ${required.slice(8)}`);
    }
    const maps = files.filter((f) => f.endsWith('.map'));
    for (const map of maps) {
      const { sources } = JSON.parse(execFileSync('tar', ['-xzOf', tarballs[pkg.name], map], { encoding: 'utf8' }));
      for (const s of sources) {
        const target = join(dirname(map), s);
        if (!files.includes(target)) throw new Error(`${pkg.name}: ${map} points to ${s}, which is not in the tarball`);
      }
    }
  }
});
if (Object.keys(tarballs).length !== PACKAGES.length) {
  log('packing failed; nothing else can run');
  process.exit(1);
}

if (want('lint')) {
  for (const [name, tgz] of Object.entries(tarballs)) {
    await check(`publint ${name}`, () => {
      const r = run(join(REPO, 'node_modules', '.bin', 'publint'), ['run', tgz, '--strict'], { cwd: work });
      const out = expectOk(r, 'publint');
      if (!out.includes('All good!')) throw new Error(out);
    });
    // ESM-only packages: CommonJS loads them with require() on Node 20.19+ / 22.12+, which
    // attw's CommonJS check predates; node10 resolution (TypeScript's moduleResolution
    // "node"/"node10") does not read exports maps. The esm-only profile leaves those two out.
    await check(`are-the-types-wrong ${name}`, () => {
      expectOk(run(join(REPO, 'node_modules', '.bin', 'attw'), [tgz, '--profile', 'esm-only', '--format', 'ascii', '--no-emoji', '--no-color'], { cwd: work }), 'attw');
    });
  }
}

const QUICK_START = readFileSync(join(REPO, 'docs', 'examples', 'quick-start.ts'), 'utf8');
const QUICK_START_LINES = [
  'allowed       put users/alice -> ok',
  'denied        put system/config by agent -> Write blocked by policy',
  'denied        delete system/config by agent -> Delete blocked by policy',
  'redacted      get users/alice/email, redact_pii -> "[REDACTED]"',
  'rate_limited  put users/bob (4th write of agent_001) -> Rate limit exceeded',
  'agent_001 entries: 5',
];

if (want('facade')) {
  let dir;
  await check('npm install sochdb-policy (only the facade)', () => {
    dir = project('facade', ['sochdb-policy']);
    writeFileSync(join(dir, 'quick-start.mjs'), transpile(QUICK_START));
    writeFileSync(join(dir, 'quick-start.cjs'), transpile(QUICK_START, { cjs: true }));
  });
  if (dir) {
    await check('facade: the quick start as ESM', () => {
      rmSync(join(dir, 'agent_data'), { recursive: true, force: true });
      expectIncludes(expectOk(run('node', ['quick-start.mjs'], { cwd: dir }), 'node quick-start.mjs'), QUICK_START_LINES, 'ESM quick start');
    });
    await check('facade: the quick start as CommonJS', () => {
      rmSync(join(dir, 'agent_data'), { recursive: true, force: true });
      expectIncludes(expectOk(run('node', ['quick-start.cjs'], { cwd: dir }), 'node quick-start.cjs'), QUICK_START_LINES, 'CommonJS quick start');
    });
    await check('facade: require() of every entry point, PolicyViolation across ESM and CommonJS', () => {
      writeFileSync(
        join(dir, 'require.cjs'),
        `const assert = require('node:assert');
const facade = require('sochdb-policy');
const policy = require('sochdb-policy/policy');
assert.equal(typeof facade.Database.open, 'function');
assert.equal(typeof facade.PolicyEngine, 'function');
assert.equal(typeof policy.redactValue, 'function');
assert.equal(require('sochdb-policy/package.json').name, 'sochdb-policy');
import('sochdb-policy').then(async (esm) => {
  assert.equal(esm.PolicyEngine, facade.PolicyEngine, 'one module instance for require and import');
  const engine = new facade.PolicyEngine(new facade.MemoryStore());
  engine.beforeWrite('**', policy.denyAll);
  const error = await engine.put('k', 'v').catch((e) => e);
  assert.ok(error instanceof esm.PolicyViolation && facade.PolicyViolation.isPolicyViolation(error));
  console.log('require ok');
});
`,
      );
      expectIncludes(expectOk(run('node', ['require.cjs'], { cwd: dir }), 'node require.cjs'), ['require ok'], 'require.cjs');
    });
  }
}

if (want('rocksdb')) {
  await check('core + storage-rocksdb: a store under policy, reopened, a locked folder', () => {
    const dir = project('rocksdb', ['@sochdb-policy/core', '@sochdb-policy/storage-rocksdb']);
    writeFileSync(
      join(dir, 'main.mjs'),
      `import assert from 'node:assert';
import { PolicyAction, PolicyEngine, PolicyViolation } from '@sochdb-policy/core';
import { RocksDBStore } from '@sochdb-policy/storage-rocksdb';
const db = await RocksDBStore.open('./data');
const policy = new PolicyEngine(db);
policy.beforeWrite('system/*', (ctx) => (ctx.agentId ? PolicyAction.DENY : PolicyAction.ALLOW));
await policy.put('users/alice', 'data', { agent_id: 'a1' });
await assert.rejects(policy.put('system/x', 'v', { agent_id: 'a1' }), (e) => e instanceof PolicyViolation && e.code === 'denied');
const locked = await RocksDBStore.open('./data').catch((e) => e);
assert.equal(locked.code, 'LEVEL_LOCKED');
assert.match(locked.message, /is in use/);
await db.close();
const again = await RocksDBStore.open('./data');
assert.equal((await again.get(Buffer.from('users/alice'))).toString(), 'data');
await again.close();
console.log('rocksdb ok');
`,
    );
    writeFileSync(
      join(dir, 'main.cjs'),
      `const { MemoryStore, PolicyEngine } = require('@sochdb-policy/core');
const { RocksDBStore } = require('@sochdb-policy/storage-rocksdb');
RocksDBStore.open('./data-cjs').then(async (db) => { await new PolicyEngine(db).put('k', 'v'); await db.close(); console.log('rocksdb cjs ok', typeof MemoryStore); });
`,
    );
    expectIncludes(expectOk(run('node', ['main.mjs'], { cwd: dir }), 'node main.mjs'), ['rocksdb ok'], 'main.mjs');
    expectIncludes(expectOk(run('node', ['main.cjs'], { cwd: dir }), 'node main.cjs'), ['rocksdb cjs ok'], 'main.cjs');
    // No test runner in an engine user's tree (the contract suites are @sochdb-policy/testing's).
    const tree = run('npm', ['ls', '--all'], { cwd: dir }).out;
    if (/vitest|UNMET/.test(tree)) throw new Error(`npm ls shows a test runner or an unmet dependency:\n${tree}`);
  });
}

if (want('audit')) {
  let dir;
  await check('core + audit-file: a file audit log written under policy and verified', () => {
    dir = project('audit', ['@sochdb-policy/core', '@sochdb-policy/audit-file']);
    mkdirSync(join(dir, 'logs'));
    writeFileSync(
      join(dir, 'main.mjs'),
      `import assert from 'node:assert';
import { MemoryStore, PolicyEngine } from '@sochdb-policy/core';
import { FileAuditSink } from '@sochdb-policy/audit-file';
const sink = await FileAuditSink.open('./logs/audit.log');
const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink });
await policy.put('users/alice', 'data', { agent_id: 'agent_001' });
await policy.get('users/alice', { agent_id: 'agent_002' });
assert.equal((await policy.getAuditLog({ limit: 10 })).length, 2);
assert.equal((await sink.verify()).ok, true);
await sink.close();
console.log('audit ok');
`,
    );
    expectIncludes(expectOk(run('node', ['main.mjs'], { cwd: dir }), 'node main.mjs'), ['audit ok'], 'main.mjs');
  });
  if (dir) {
    const bin = join(dir, 'node_modules', '.bin', 'sochdb-policy-audit');
    const version = JSON.parse(readFileSync(join(REPO, 'packages', 'audit-file', 'package.json'), 'utf8')).version;
    await check('sochdb-policy-audit --version and --help from the installed bin', () => {
      expectIncludes(expectOk(run(bin, ['--version'], { cwd: dir }), 'sochdb-policy-audit --version'), [version], '--version');
      expectIncludes(expectOk(run(bin, ['--help'], { cwd: dir }), 'sochdb-policy-audit --help'), ['Usage: sochdb-policy-audit'], '--help');
    });
    await check('sochdb-policy-audit verify and tail on the log written above', () => {
      expectOk(run(bin, ['verify', 'logs/audit.log'], { cwd: dir }), 'sochdb-policy-audit verify');
      expectIncludes(expectOk(run(bin, ['tail', '-n', '2', 'logs/audit.log'], { cwd: dir }), 'sochdb-policy-audit tail'), ['users/alice'], 'tail');
    });
    await check('sochdb-policy-audit verify postgres://… without @sochdb-policy/audit-postgres: the install hint, exit 2', () => {
      const r = run(bin, ['verify', 'postgres://127.0.0.1:1/none'], { cwd: dir });
      if (r.status !== 2) throw new Error(`exited ${r.status}, expected 2:\n${r.out}`);
      expectIncludes(r.out, ['npm install @sochdb-policy/audit-postgres pg'], 'install hint');
    });
    // core's policy CLI (issue 13): check, test and explain from the installed bin.
    const policyBin = join(dir, 'node_modules', '.bin', 'sochdb-policy');
    await check('sochdb-policy check, test and explain from the installed bin', () => {
      copyFileSync(join(REPO, 'docs', 'examples', 'quick-start.policy.yaml'), join(dir, 'policy.yaml'));
      writeFileSync(
        join(dir, 'policy.tests.yaml'),
        [
          'tests:',
          '  - name: agents cannot write system keys',
          '    steps:',
          '      - { op: put, key: system/config, value: x, context: { agent_id: rogue }, expect: { allowed: false, code: denied, rule: block-system-writes } }',
          '      - { op: put, key: system/config, value: x, expect: { allowed: true } }',
        ].join('\n'),
      );
      expectOk(run(policyBin, ['check', 'policy.yaml'], { cwd: dir }), 'sochdb-policy check');
      expectIncludes(expectOk(run(policyBin, ['test', 'policy.yaml', '--tests', 'policy.tests.yaml'], { cwd: dir }), 'sochdb-policy test'), ['1 passed, 0 failed'], 'test');
      expectIncludes(
        expectOk(run(policyBin, ['explain', 'policy.yaml', '--op', 'write', '--key', 'system/config', '--context', 'agent_id=a'], { cwd: dir }), 'sochdb-policy explain'),
        ['block-system-writes'],
        'explain',
      );
      writeFileSync(join(dir, 'bad.yaml'), 'version: 1\nrules: [ { id: x } ]\n');
      const bad = run(policyBin, ['check', 'bad.yaml'], { cwd: dir });
      if (bad.status !== 1) throw new Error(`sochdb-policy check of an invalid document exited ${bad.status}, expected 1:\n${bad.out}`);
    });
  }
}

if (want('postgres')) {
  // A real PostgreSQL from the repository's test launcher (initdb + postgres on loopback).
  const { postgresAvailability, startPostgresServer } = await import(join(REPO, 'packages', 'audit-postgres', 'dist', 'testing', 'index.js'));
  if (!postgresAvailability().available) {
    log(`skip   core + audit-postgres: ${postgresAvailability().reason}`);
  } else {
    const server = await startPostgresServer();
    try {
      await check('core + audit-postgres + audit-file: entries written under policy, verified and queried by the sochdb-policy-audit bin', () => {
        const dir = project('postgres', ['@sochdb-policy/core', '@sochdb-policy/audit-file', '@sochdb-policy/audit-postgres']);
        writeFileSync(
          join(dir, 'main.cjs'),
          `const assert = require('node:assert');
const { MemoryStore, PolicyEngine } = require('@sochdb-policy/core');
const { PostgresAuditSink, verifyPostgresAudit } = require('@sochdb-policy/audit-postgres');
(async () => {
  const sink = await PostgresAuditSink.open({ connection: process.env.URL, chainId: 'packed-1' });
  const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink });
  await policy.put('users/alice', 'data', { agent_id: 'agent_001' });
  await policy.batch([{ type: 'put', key: 'users/bob', value: 'x' }], { agent_id: 'agent_001' });
  await sink.close();
  assert.equal((await verifyPostgresAudit(process.env.URL)).ok, true);
  console.log('postgres ok');
})().catch((e) => { console.error(e); process.exit(1); });
`,
        );
        expectIncludes(expectOk(run('node', ['main.cjs'], { cwd: dir, extraEnv: { URL: server.url } }), 'node main.cjs'), ['postgres ok'], 'main.cjs');
        const bin = join(dir, 'node_modules', '.bin', 'sochdb-policy-audit');
        expectOk(run(bin, ['verify', server.url], { cwd: dir }), 'sochdb-policy-audit verify postgres://');
        expectIncludes(expectOk(run(bin, ['query', server.url, '--agent-id', 'agent_001'], { cwd: dir }), 'sochdb-policy-audit query postgres://'), ['users/alice', 'users/bob'], 'query');
      });
    } finally {
      await server.stop();
    }
  }
}

if (want('redis')) {
  let redis;
  await check('redis-server for the ratelimit-redis consumers', async () => {
    redis = await startRedis();
  });
  for (const major of [5, 6]) {
    if (!redis) break;
    await check(`core + ratelimit-redis + ioredis ${major} (${IOREDIS[major]}): a client you own and a url, against redis-server`, () => {
      const dir = project(`redis${major}`, ['@sochdb-policy/core', '@sochdb-policy/ratelimit-redis'], [`ioredis@${IOREDIS[major]}`, `typescript@${TYPESCRIPT}`, `@types/node@${TYPES_NODE}`], { type: 'module' });
      const program = `import assert from 'node:assert';
import { Redis } from 'ioredis';
import { MemoryStore, PolicyEngine, PolicyViolation } from '@sochdb-policy/core';
import { RedisRateLimitStore } from '@sochdb-policy/ratelimit-redis';

const url = process.env.REDIS_URL!;
const redis = new Redis(url);
const own = new RedisRateLimitStore({ client: redis, keyPrefix: 'v${major}:own:' });
const policy = new PolicyEngine(new MemoryStore(), { rateLimitStore: own });
policy.addRateLimit('write', { maxPerMinute: 2, scope: 'agent_id' });
await policy.put('a', '1', { agent_id: 'x' });
await policy.put('b', '2', { agent_id: 'x' });
await assert.rejects(policy.put('c', '3', { agent_id: 'x' }), (e) => e instanceof PolicyViolation && e.code === 'rate_limited');
await own.close();
assert.equal(await redis.ping(), 'PONG', 'a client you pass stays open');
await redis.quit();

const fromUrl = new RedisRateLimitStore({ url, keyPrefix: 'v${major}:url:' });
const p2 = new PolicyEngine(new MemoryStore(), { rateLimitStore: fromUrl });
p2.addRateLimit('all', { maxPerMinute: 1 });
await p2.put('a', '1');
await assert.rejects(p2.get('a'), (e) => e instanceof PolicyViolation && e.code === 'rate_limited');
await fromUrl.close();
console.log('ioredis ${major} ok');
`;
      writeFileSync(join(dir, 'main.ts'), program);
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: false, types: ['node'], outDir: 'out' }, files: ['main.ts'] }),
      );
      expectOk(run(join(dir, 'node_modules', '.bin', 'tsc'), ['-p', '.'], { cwd: dir }), `tsc with ioredis ${major}`);
      expectIncludes(expectOk(run('node', ['out/main.js'], { cwd: dir, extraEnv: { REDIS_URL: redis.url } }), 'node out/main.js'), [`ioredis ${major} ok`], `ioredis ${major}`);
    });
  }
  redis?.stop();
}

const ALL = Object.keys(tarballs);
let everything;
if (want('types') || want('snippets')) {
  await check('npm install every package, typescript, @types/node, ioredis', () => {
    everything = project('everything', ALL, [`typescript@${TYPESCRIPT}`, `@types/node@${TYPES_NODE}`, `ioredis@${IOREDIS[6]}`, `vitest@${rootPkg.devDependencies.vitest}`], { type: 'module' });
  });
}

if (want('types') && everything) {
  const consumer = `import { Database, PolicyAction, PolicyEngine, PolicyViolation, type DatabaseOptions } from 'sochdb-policy';
import { denyAll, redactValue, requireAgentId } from 'sochdb-policy/policy';
import { MemoryStore, MemoryAuditSink, MemoryRateLimitStore, ViolationCode, type KeyValueStore, type AuditSink, type RateLimitStore } from '@sochdb-policy/core';
import { allowAll, logAndAllow } from '@sochdb-policy/helpers';
import { RocksDBStore, type RocksDBStoreOptions } from '@sochdb-policy/storage-rocksdb';
import { FileAuditSink } from '@sochdb-policy/audit-file';
import { RedisRateLimitStore } from '@sochdb-policy/ratelimit-redis';
import { runConformance } from '@sochdb-policy/conformance';
import { Redis } from 'ioredis';
export type { KeyValueStoreSuiteOptions, AuditSinkSuiteOptions, RateLimitStoreSuiteOptions } from '@sochdb-policy/testing';

export async function main(): Promise<void> {
  const options: DatabaseOptions & RocksDBStoreOptions = { sync: false };
  const db: KeyValueStore = await Database.open('./agent_data', options);
  const policy = new PolicyEngine(db, { auditSink: new MemoryAuditSink() as AuditSink, rateLimitStore: new MemoryRateLimitStore() as RateLimitStore });
  policy.beforeWrite('system/*', (ctx) => (ctx.agentId ? PolicyAction.DENY : PolicyAction.ALLOW));
  policy.beforeWrite('readonly/*', denyAll);
  policy.beforeWrite('agents/*', requireAgentId);
  policy.afterRead('secrets/*', redactValue());
  policy.beforeRead('**', allowAll);
  policy.beforeDelete('**', logAndAllow({ info: () => {} }));
  try {
    await policy.put('system/x', 'v', { agent_id: 'a' });
  } catch (e) {
    if (e instanceof PolicyViolation && e.code === ViolationCode.DENIED) console.log(e.message);
    if (PolicyViolation.isPolicyViolation(e)) console.log(e.operation);
  }
  await db.close();
  const store = await RocksDBStore.open('./other');
  await store.close();
  const sink = await FileAuditSink.open('./audit.log');
  await sink.close();
  const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
  const limits = new RedisRateLimitStore({ client: redis });
  await limits.close();
  const report = await runConformance({}, { only: 'hooks/', log: () => {} });
  console.log(report.ok, new MemoryStore());
}
`;
  const cts = `import { PolicyAction, PolicyEngine, MemoryStore, PolicyViolation } from '@sochdb-policy/core';
import { Database } from 'sochdb-policy';
import { redactValue } from 'sochdb-policy/policy';
import { RocksDBStore } from '@sochdb-policy/storage-rocksdb';

async function main(): Promise<void> {
  const policy = new PolicyEngine(new MemoryStore());
  policy.afterRead('secrets/*', redactValue());
  await policy.put('secrets/k', 'v');
  const value = await policy.get('secrets/k');
  if (value?.toString() !== '[REDACTED]') throw new Error('not redacted');
  const guarded = new PolicyEngine(new MemoryStore());
  guarded.beforeWrite('system/*', () => PolicyAction.DENY);
  const error = await guarded.put('system/config', 'v').catch((e: unknown) => e);
  console.log('cts ok', typeof Database.open, typeof RocksDBStore.open, error instanceof PolicyViolation && error.code === 'denied');
}
main().catch((e) => { console.error(e); process.exitCode = 1; });
`;
  const modes = [
    { name: 'node16', module: 'node16', moduleResolution: 'node16' },
    { name: 'nodenext', module: 'nodenext', moduleResolution: 'nodenext' },
    { name: 'bundler', module: 'esnext', moduleResolution: 'bundler' },
    { name: 'bundler (module preserve)', module: 'preserve', moduleResolution: 'bundler' },
  ];
  mkdirSync(join(everything, 'types'), { recursive: true });
  writeFileSync(join(everything, 'types', 'consumer.ts'), consumer);
  writeFileSync(join(everything, 'types', 'consumer.cts'), cts);
  for (const m of modes) {
    await check(`TypeScript ${TYPESCRIPT}, skipLibCheck false, strict, moduleResolution ${m.name}: every entry point`, () => {
      const files = ['types/consumer.ts'];
      // require() of an ES module typechecks from TypeScript 5.8 with module nodenext.
      if (m.name === 'nodenext') files.push('types/consumer.cts');
      const config = join(everything, `tsconfig.${m.name.replace(/\W+/g, '-')}.json`);
      writeFileSync(
        config,
        JSON.stringify({
          compilerOptions: { target: 'ES2022', lib: ['ES2022'], module: m.module, moduleResolution: m.moduleResolution, strict: true, skipLibCheck: false, types: ['node'], noEmit: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true },
          files,
        }),
      );
      expectOk(run(join(everything, 'node_modules', '.bin', 'tsc'), ['-p', config], { cwd: everything }), `tsc -p ${basename(config)}`);
    });
  }
  await check('a .cts consumer (CommonJS TypeScript) compiles and runs: require() of the packages', () => {
    const config = join(everything, 'tsconfig.cts.json');
    writeFileSync(config, JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: false, types: ['node'], outDir: 'types-out' }, files: ['types/consumer.cts'] }));
    expectOk(run(join(everything, 'node_modules', '.bin', 'tsc'), ['-p', config], { cwd: everything }), 'tsc -p tsconfig.cts.json');
    const js = readFileSync(join(everything, 'types-out', 'consumer.cjs'), 'utf8');
    if (!js.includes('require("@sochdb-policy/core")')) throw new Error(`expected CommonJS output, got:\n${js}`);
    expectIncludes(expectOk(run('node', ['types-out/consumer.cjs'], { cwd: everything }), 'node types-out/consumer.cjs'), ['cts ok function function true'], 'consumer.cjs');
  });
}

if (want('snippets') && everything) {
  const snippets = docSnippets();
  // ```ts fragment: an excerpt, neither typechecked nor run; ```ts no-run: a whole program
  // that needs what a test cannot have (a host name, a server of yours), typechecked only.
  const runnable = snippets.filter((s) => !s.fragment);
  const dir = join(everything, 'snippets');
  mkdirSync(dir, { recursive: true });
  const names = runnable.map((s) => `${s.file.replace(/[/.]/g, '_')}_L${s.line}`);
  log(`       ${snippets.length} TypeScript blocks in the docs: ${runnable.filter((s) => !s.noRun).length} run, ${runnable.filter((s) => s.noRun).length} only typechecked (no-run), ${snippets.length - runnable.length} fragments`);
  await check(`docs snippets typecheck (${runnable.length})`, () => {
    runnable.forEach((s, i) => writeFileSync(join(dir, `${names[i]}.ts`), s.code.includes('import ') || s.code.includes('export ') ? s.code : `${s.code}\nexport {};\n`));
    writeFileSync(
      join(everything, 'tsconfig.snippets.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', lib: ['ES2022'], module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: false, types: ['node'], noEmit: true }, include: ['snippets/*.ts'] }),
    );
    expectOk(run(join(everything, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.snippets.json'], { cwd: everything }), 'tsc -p tsconfig.snippets.json');
  });
  let redis;
  await check('redis-server for the snippets', async () => {
    redis = await startRedis();
  });
  for (const [i, s] of runnable.entries()) {
    if (s.noRun) continue;
    await check(`docs snippet ${s.file}:${s.line} runs and exits`, () => {
      const cwd = join(work, 'run', names[i]);
      mkdirSync(join(cwd, 'logs'), { recursive: true }); // stands for /var/log/agents, which exists where the examples run
      // Paths and addresses of the examples, pointed at this run's folder and redis-server.
      const code = s.code
        .replaceAll('/var/log/agents/', `${cwd}/logs/`)
        .replaceAll('redis://127.0.0.1:6379', redis?.url ?? 'redis://127.0.0.1:1')
        .replaceAll('redis://localhost:6379', redis?.url ?? 'redis://127.0.0.1:1');
      writeFileSync(join(dir, `${names[i]}.mjs`), transpile(code));
      const r = run('node', [join(dir, `${names[i]}.mjs`)], { cwd, timeout: 30_000, extraEnv: { REDIS_URL: redis?.url ?? '' } });
      if (r.status === null) throw new Error(`did not exit within 30 s (something left open?):\n${r.out}`);
      expectOk(r, `${s.file}:${s.line}`);
    });
  }
  redis?.stop();
}

log(`\n${failures === 0 ? 'packed install: all passed' : `packed install: ${failures} failed`} in ${((Date.now() - started) / 1000).toFixed(0)}s`);
if (keep || failures > 0) log(`left for a look: ${work}${keep ? '' : ' (delete it when done)'}`);
if (!keep && failures === 0) rmSync(work, { recursive: true, force: true });
process.exit(failures === 0 ? 0 : 1);
