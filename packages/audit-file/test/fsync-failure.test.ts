import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileAuditSink, verifyAuditLog } from '../src/index.js';
import { FIXTURES, PKG_DIR, requireBuilt, tmpLog } from './helpers.js';

/** A C compiler builds the LD_PRELOAD shim; `.ci/run` installs one where it is missing. */
const cc = spawnSync('cc', ['--version'], { encoding: 'utf8' });
const hasCompiler = cc.status === 0;
const required = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
if (!hasCompiler && required) throw new Error('fsync-failure.test.ts needs a C compiler (cc) on CI: install gcc (.ci/run does)');

interface Op {
  phase: 'healthy' | 'failing' | 'recovered';
  key: string;
  ok: boolean;
  code?: string;
  causeCode?: string;
  errno?: string;
}

describe.skipIf(!hasCompiler)(`when fsync fails with EIO${hasCompiler ? '' : ' (skipped: no C compiler to build the LD_PRELOAD shim)'}`, () => {
  it('operations fail with audit_unavailable, the sink stays failed after the disk recovers, and every acknowledged entry is in the log', async () => {
    requireBuilt();
    const { dir, path } = tmpLog();
    const shim = join(dir, 'failing-fsync.so');
    const built = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', shim, join(FIXTURES, 'failing-fsync.c'), '-ldl'], { encoding: 'utf8' });
    expect(built.stderr).toBe('');
    expect(built.status).toBe(0);
    const trigger = join(dir, 'fail-fsync-now');
    const run = spawnSync(process.execPath, [join(FIXTURES, 'failing-fsync.mjs'), path, trigger], {
      encoding: 'utf8',
      cwd: PKG_DIR,
      timeout: 30_000,
      env: { ...process.env, LD_PRELOAD: shim, FAILING_FSYNC_TRIGGER: trigger },
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const ops = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Op);
    expect(ops.map((o) => o.phase)).toEqual([...Array(5).fill('healthy'), ...Array(4).fill('failing'), ...Array(2).fill('recovered')]);
    for (const o of ops.filter((o) => o.phase === 'healthy')) expect(o.ok).toBe(true);
    const failed = ops.filter((o) => o.phase !== 'healthy');
    for (const o of failed) expect(o).toMatchObject({ ok: false, code: 'audit_unavailable' });
    // The three that shared the failing fdatasync see the EIO itself; every later one is
    // refused because the sink failed, also once fsync works again.
    for (const o of failed.slice(0, 3)) expect(o).toMatchObject({ causeCode: 'io', errno: 'EIO' });
    for (const o of failed.slice(3)) expect(o.causeCode).toBe('failed');

    // Reopened without the shim: the chain is whole, every acknowledged entry is there, and of
    // the rest at most the batch whose fsync failed (written, never acknowledged).
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true });
    const sink = await FileAuditSink.open(path);
    const keys = (await sink.query({ limit: 1000 })).map((e) => e.key);
    await sink.close();
    const acknowledged = ops.filter((o) => o.ok).map((o) => o.key);
    expect(keys.slice(0, acknowledged.length)).toEqual(acknowledged);
    expect(keys.slice(acknowledged.length).every((k) => failed.slice(0, 3).some((o) => o.key === k))).toBe(true);
  });
});
