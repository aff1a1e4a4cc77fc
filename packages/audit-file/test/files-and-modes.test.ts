import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileAuditSink, verifyAuditLog } from '../src/index.js';
import { entry, tmpLog, makeLog, openError } from './helpers.js';

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe('symlinks and non-files where the format expects files are refused', () => {
  it('a dangling symlink at the log path: refused, its target not created', async () => {
    const { dir, path } = tmpLog();
    const target = join(dir, 'target.log');
    symlinkSync(target, path);
    const error = await openError(path);
    expect(error.code).toBe('not_a_file');
    expect(error.message).toContain('symlink');
    expect(existsSync(target)).toBe(false);
  });

  it('a symlink to a real log at the log path: refused (open and verify)', async () => {
    const real = await makeLog(2);
    const { path } = tmpLog();
    symlinkSync(real, path);
    expect((await openError(path)).code).toBe('not_a_file');
    await expect(verifyAuditLog(path)).rejects.toMatchObject({ code: 'not_a_file' });
  });

  it('a symlink at <path>.corrupt: the torn tail is not written through it, and the log is left as it was', async () => {
    const path = await makeLog(3);
    appendFileSync(path, '{"seq":4,"key":"secret/agent-key"');
    const size = statSync(path).size;
    const { dir } = tmpLog();
    const target = join(dir, 'stolen');
    symlinkSync(target, `${path}.corrupt`);
    expect((await openError(path)).code).toBe('not_a_file');
    expect(existsSync(target)).toBe(false);
    expect(statSync(path).size).toBe(size);
  });

  it('a symlink as a rotated file, and a FIFO at the log path, are refused without hanging', async () => {
    const path = await makeLog(30, { maxBytes: 1024 });
    // The rotated file moved elsewhere and linked back: same bytes, but not a file of the log.
    const { path: other } = tmpLog();
    const rotated = `${path}.2`;
    writeFileSync(other, readFileSync(rotated));
    rmSync(rotated);
    symlinkSync(other, rotated);
    expect((await openError(path, { maxBytes: 1024 })).code).toBe('not_a_file');

    const { path: fifo } = tmpLog();
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect((await openError(fifo)).code).toBe('not_a_file');
    await expect(verifyAuditLog(fifo)).rejects.toMatchObject({ code: 'not_a_file' });
  });
});

describe('fileMode applies to every file the sink creates or takes over', () => {
  it('an existing 0644 log, its rotated files and .corrupt get the mode; new rotated files and the lock have it too', async () => {
    const path = await makeLog(20, { maxBytes: 1024 });
    appendFileSync(path, '{"seq":'); // a torn tail: open moves it into .corrupt
    writeFileSync(`${path}.corrupt`, '');
    for (const f of [path, `${path}.1`, `${path}.corrupt`]) chmodSync(f, 0o644);
    chmodSync(`${path}.2`, 0o666);
    const sink = await FileAuditSink.open(path, { maxBytes: 1024 });
    for (const f of [path, `${path}.1`, `${path}.2`, `${path}.corrupt`, `${path}.lock`]) expect(modeOf(f), f).toBe(0o600);
    const before = sink.stats.rotations;
    for (let i = 21; i <= 40; i++) await sink.append(entry(i));
    expect(sink.stats.rotations).toBeGreaterThan(before);
    await sink.close();
    for (let n = 1; existsSync(`${path}.${n}`); n++) expect(modeOf(`${path}.${n}`), `${path}.${n}`).toBe(0o600);
    expect(modeOf(path)).toBe(0o600);
  });

  it('sets the mode exactly, whatever the umask cut from it (0o640)', async () => {
    const { path } = tmpLog();
    // A process with umask 0o077 would create 0600 files; the sink must still give 0640.
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', `
      process.umask(0o077);
      const { FileAuditSink } = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)});
      const sink = await FileAuditSink.open(${JSON.stringify(path)}, { fileMode: 0o640, maxBytes: 1024 });
      for (let i = 0; i < 20; i++) await sink.append({ timestamp: i, operation: 'write', key: 'k' + i, agentId: null, sessionId: null, result: 'allowed' });
      await sink.close();
    `], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(modeOf(path)).toBe(0o640);
    expect(modeOf(`${path}.1`)).toBe(0o640);
  });

  it('rejects a fileMode that is not a permission mode the sink can use, naming the option, the value and what it accepts', async () => {
    const { path } = tmpLog();
    for (const bad of [0, 0o400, 0o200, 0o666, 0o660, 0o777, 0o1600, 0o4600, -1, 1.5, 2 ** 40]) {
      await expect(FileAuditSink.open(path, { fileMode: bad }), String(bad)).rejects.toThrow(RangeError);
      await expect(FileAuditSink.open(path, { fileMode: bad })).rejects.toThrow(/options\.fileMode must be .*owner read and write.*got /);
    }
    await expect(FileAuditSink.open(path, { fileMode: '600' as never })).rejects.toThrow(TypeError);
    await expect(FileAuditSink.open(path, { fileMode: 0 })).rejects.toThrow(/got 0o0/);
    expect(existsSync(path)).toBe(false);
    for (const good of [0o600, 0o640, 0o644]) {
      const sink = await FileAuditSink.open(path, { fileMode: good });
      expect(modeOf(path)).toBe(good);
      await sink.close();
    }
  });
});
