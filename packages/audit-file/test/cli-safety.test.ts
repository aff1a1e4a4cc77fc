import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileAuditSink } from '../src/index.js';
import { CLI, entry, requireBuilt, runCli, tmpLog, type Run } from './helpers.js';

beforeAll(() => requireBuilt());

async function makeLog(n: number, hmacKey?: string): Promise<string> {
  const { path } = tmpLog();
  const sink = await FileAuditSink.open(path, { hmacKey });
  for (let i = 1; i <= n; i++) await sink.append(entry(i));
  await sink.close();
  return path;
}

function mkfifo(): string {
  const { path } = tmpLog('fifo');
  expect(spawnSync('mkfifo', [path]).status).toBe(0);
  return path;
}

/** runCli that fails the test instead of hanging: SIGKILL after `ms`. */
async function runWithin(args: string[], ms: number): Promise<Run & { killed: boolean }> {
  let killed = false;
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, ms);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  clearTimeout(timer);
  return { code, stdout, stderr, killed };
}

describe('signals: only tail -f catches Ctrl-C and SIGTERM', () => {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`${sig} ends a verify that is blocked reading (here: a key from a pipe no one writes)`, async () => {
      const path = await makeLog(3, 'k');
      const keyPipe = mkfifo();
      const child = spawn(process.execPath, [CLI, 'verify', '--hmac-key-file', keyPipe, path], { stdio: ['ignore', 'pipe', 'pipe'] });
      const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
      // Opening the write end succeeds only once the CLI has the pipe open for reading: it is
      // then inside its read, long after start-up.
      let writer: number | undefined;
      for (let i = 0; i < 400 && writer === undefined; i++) {
        try {
          writer = openSync(keyPipe, constants.O_WRONLY | constants.O_NONBLOCK);
        } catch {
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      expect(writer).toBeDefined();
      await new Promise((r) => setTimeout(r, 100));
      child.kill(sig);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const end = await closed;
      clearTimeout(timer);
      closeSync(writer!);
      expect(end.signal).toBe(sig);
    });
  }
});

describe('a FIFO at the log path is refused, not waited on', () => {
  for (const args of [['verify'], ['tail'], ['query'], ['tail', '-f']]) {
    it(`${args.join(' ')}: exit 2 at once`, async () => {
      const fifo = mkfifo();
      const r = await runWithin([...args, fifo], 10_000);
      expect(r.killed).toBe(false);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/FIFO/);
    });
  }
});

describe('text from the log is escaped: C0, C1, bidi, zero-width, separators', () => {
  const nasty = [
    'bidi\u202Eevil\u202C',
    'iso\u2066\u2067\u2068x\u2069',
    'zw\u200B\u200C\u200D\u2060\uFEFF',
    'c1\u009B31m\u0085',
    'sep\u2028\u2029',
    'marks\u200E\u200F\u061C\u00AD',
    'tag\u{E0041}',
    'esc\u001b[2J\u007f',
  ];
  // Newlines end rows and lines; nothing else of these may reach the terminal raw.
  const INVISIBLE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060-\u2069\ufeff]|\u{E0041}/u;

  it('in the table, every such character is a \\u escape (and a backslash is doubled)', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    for (const [i, key] of nasty.entries()) await sink.append(entry(i, { key, agentId: key, sessionId: key }));
    await sink.append(entry(99, { key: 'back\\u202eslash' }));
    await sink.close();
    for (const args of [['query'], ['tail', '-n', '20']]) {
      const r = await runCli([...args, path]);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(INVISIBLE);
      for (const escaped of ['\\u202e', '\\u2066', '\\u2069', '\\u200b', '\\ufeff', '\\u009b', '\\u0085', '\\u2028', '\\u2029', '\\u061c', '\\u00ad', '\\u{e0041}', '\\u001b', '\\u007f']) {
        expect(r.stdout).toContain(escaped);
      }
      expect(r.stdout).toContain('back\\\\u202eslash');
    }
  });

  it('with --json, the same characters are escaped and parse back to the key as written', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    for (const [i, key] of nasty.entries()) await sink.append(entry(i, { key }));
    await sink.close();
    const r = await runCli(['query', '--json', path]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(INVISIBLE);
    const lines = r.stdout.trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { key: string }).key)).toEqual(nasty);
    const v = await runCli(['verify', '--json', path]);
    expect(v.stdout).not.toMatch(INVISIBLE);
  });
});

describe('a key that does not match', () => {
  it('a wrong HMAC key: "WRONG KEY", not TAMPERED, exit 3 (table and --json)', async () => {
    const path = await makeLog(5, 'right');
    for (const json of [[], ['--json']]) {
      const r = await runCli(['verify', ...json, path], { SOCHDB_AUDIT_HMAC_KEY: 'wrong' });
      expect(r.code).toBe(3);
      expect(r.stdout).not.toContain('TAMPERED');
      expect(r.stdout).toMatch(json.length ? /"reason":"wrong_key"/ : /WRONG KEY.*does not match/);
    }
    expect((await runCli(['verify', path], { SOCHDB_AUDIT_HMAC_KEY: 'right' })).code).toBe(0);
  });

  it('a key given for a plain log: exit 3', async () => {
    const path = await makeLog(5);
    const r = await runCli(['verify', path], { SOCHDB_AUDIT_HMAC_KEY: 'some-key' });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('WRONG KEY');
  });

  it('an edited entry in an HMAC log, with the right key, is still TAMPERED, exit 1', async () => {
    const path = await makeLog(5, 'right');
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(path, readFileSync(path, 'utf8').replace('users/u3/doc', 'users/u3/DOC'));
    const r = await runCli(['verify', path], { SOCHDB_AUDIT_HMAC_KEY: 'right' });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('TAMPERED');
  });
});
