import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileAuditSink, verifyAuditLog } from '../src/index.js';
import { FIXTURES, entry, openError, requireBuilt, tmpLog } from './helpers.js';

interface Outcome {
  opened: boolean;
  pid: number;
  seq?: number;
  code?: string;
}

interface Holder {
  child: ChildProcess;
  ready: Promise<void>;
  outcome: Promise<Outcome>;
  /** Ends stdin: the child closes the log (if it has it) and exits. */
  release: () => Promise<number | null>;
}

/** A child process that opens `path` (at once, or when `go()` writes a line) and holds it. */
function holder(path: string, waitForGo: boolean): Holder & { go: () => void } {
  const child = spawn(process.execPath, [join(FIXTURES, 'lock-holder.mjs'), path, waitForGo ? 'go' : 'now'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  let readyResolve!: () => void;
  let outcomeResolve!: (o: Outcome) => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const outcome = new Promise<Outcome>((r) => (outcomeResolve = r));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const line of out.split('\n').slice(0, -1)) {
      if (line === 'ready') readyResolve();
      else if (line.startsWith('{')) outcomeResolve(JSON.parse(line) as Outcome);
    }
  });
  void exited.then((code) => outcomeResolve({ opened: false, pid: child.pid!, code: `exited ${code}: ${stderr}` }));
  return {
    child,
    ready,
    outcome,
    go: () => child.stdin!.write('go\n'),
    release: () => {
      child.stdin!.end();
      return exited;
    },
  };
}

/** A pid that is certainly not running: a child that has exited and been reaped. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}


beforeAll(() => requireBuilt());

describe('exactly one writer per log (flock on the real path)', () => {
  const CHILDREN = 12;
  const ROUNDS = 25;

  it(`${CHILDREN} processes opening a log with a stale lock file at once: exactly one opens, ${ROUNDS} rounds`, { timeout: 180_000 }, async () => {
    const { path } = tmpLog();
    let entries = 0;
    for (let round = 0; round < ROUNDS; round++) {
      writeFileSync(`${path}.lock`, `${deadPid()}\n`); // what a crashed writer leaves
      const holders = Array.from({ length: CHILDREN }, () => holder(path, true));
      await Promise.all(holders.map((h) => h.ready));
      for (const h of holders) h.go();
      const outcomes = await Promise.all(holders.map((h) => h.outcome));
      const opened = outcomes.filter((o) => o.opened);
      expect(opened, `round ${round}: ${JSON.stringify(outcomes)}`).toHaveLength(1);
      for (const o of outcomes.filter((x) => !x.opened)) expect(o.code, JSON.stringify(o)).toBe('locked');
      expect(opened[0]!.seq).toBe(++entries);
      expect((await Promise.all(holders.map((h) => h.release()))).every((c) => c === 0)).toBe(true);
      expect(existsSync(`${path}.lock`)).toBe(false);
    }
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: ROUNDS });
  });

  it('the same log through a symlinked directory is the same log: refused in this process and in another', async () => {
    const { dir } = tmpLog();
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'alias'));
    const real = join(dir, 'real', 'audit.log');
    const alias = join(dir, 'alias', 'audit.log');

    const sink = await FileAuditSink.open(real);
    expect((await openError(alias)).code).toBe('locked');
    const other = holder(alias, false);
    expect(await other.outcome).toMatchObject({ opened: false, code: 'locked' });
    await other.release();
    await sink.append(entry(1));
    await sink.close();

    // And the other way round: a child holds it by the alias, this process is refused by the real name.
    const child = holder(alias, false);
    expect(await child.outcome).toMatchObject({ opened: true });
    expect((await openError(real)).code).toBe('locked');
    await child.release();
    const again = await FileAuditSink.open(alias);
    expect(again.path).toBe(real);
    await again.close();
    expect(await verifyAuditLog(real)).toMatchObject({ ok: true, lastSeq: 2 });
  });

  it('pids mean nothing to the lock: a holder whose lock file names this process (as pid 1 in another PID namespace would) still excludes it', async () => {
    const { path } = tmpLog();
    const child = holder(path, false);
    expect(await child.outcome).toMatchObject({ opened: true });
    // Two containers sharing a volume: each writer sees itself as pid 1, so a pid in the file
    // names the reader's own process, or a live process that is not the writer.
    for (const pid of [process.pid, 1, deadPid()]) {
      writeFileSync(`${path}.lock`, `${pid}\n`);
      expect((await openError(path)).code, `lock file naming pid ${pid}`).toBe('locked');
    }
    expect(await child.release()).toBe(0);
    const sink = await FileAuditSink.open(path);
    await sink.close();
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: 1 });
  });

  it('a crash releases the lock: after SIGKILL of the holder a new writer opens and the chain goes on', async () => {
    const { path } = tmpLog();
    const child = holder(path, false);
    expect(await child.outcome).toMatchObject({ opened: true, seq: 1 });
    expect((await openError(path)).code).toBe('locked');
    const exited = new Promise((r) => child.child.on('close', r));
    child.child.kill('SIGKILL');
    await exited;
    expect(existsSync(`${path}.lock`)).toBe(true); // left behind, as a crash leaves it
    const sink = await FileAuditSink.open(path);
    expect(readFileSync(`${path}.lock`, 'utf8').trim()).toBe(String(process.pid));
    expect(await sink.write(entry(2))).toBe(2);
    await sink.close();
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: 2 });
  });

  it('the lock file gets the log mode and a symlink in its place is refused', async () => {
    const { dir, path } = tmpLog();
    const sink = await FileAuditSink.open(path, { fileMode: 0o640 });
    expect(statSync(`${path}.lock`).mode & 0o777).toBe(0o640);
    await sink.close();
    symlinkSync(join(dir, 'elsewhere'), `${path}.lock`);
    expect((await openError(path)).code).toBe('not_a_file');
    expect(existsSync(join(dir, 'elsewhere'))).toBe(false);
  });
});
