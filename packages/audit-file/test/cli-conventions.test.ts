/**
 * The CLI's manners (issue 12, item 10): --version, one-line usage errors with a hint, the
 * short flag named as written, and a reader that stops early (`| head`) ending it quietly.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileAuditSink } from '../src/index.js';
import { CLI, PKG_DIR, entry, requireBuilt, runCli, tmpLog } from './helpers.js';

const HINT = "Run 'sochdb-policy-audit --help' for usage.";
let path: string;

beforeAll(async () => {
  requireBuilt();
  path = tmpLog().path;
  const sink = await FileAuditSink.open(path);
  await Promise.all(Array.from({ length: 3000 }, (_, i) => sink.append(entry(i + 1))));
  await sink.close();
});

/** `node cli.js args | <reader that reads `lines` lines and closes the pipe>`. */
function pipeIntoHead(args: string[], lines: number, whileRunning?: () => Promise<void>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; got: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let buffered = '';
    const got: string[] = [];
    // Awaited before answering: a writer still appending when the test ends would find its
    // folder removed by the cleanup, and its rejection would be nobody's.
    let running: Promise<void> | undefined;
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (got.length >= lines) return;
      buffered += d;
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      got.push(...parts.slice(0, lines - got.length));
      if (got.length >= lines) {
        child.stdout.destroy(); // as head does once it has its lines
        running = whileRunning?.();
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      Promise.resolve(running).then(() => resolve({ code, signal, stderr, got }), reject);
    });
  });
}

describe('sochdb-policy-audit conventions', () => {
  it('--version and -V print the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(PKG_DIR, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('--help names the long forms and --version', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--lines N, --follow');
    expect(r.stdout).toContain('--version');
  });

  it('usage errors are one line and a hint, exit 2, no usage dump', async () => {
    const cases: [string[], string][] = [
      [['tail', '--bogus', path], 'sochdb-policy-audit: unknown option --bogus'],
      [['query', '--limit'], 'sochdb-policy-audit: --limit needs a value'],
      [['tail', '-n', 'x', path], 'sochdb-policy-audit: -n must be a non-negative integer, got "x"'],
      [['query', '--limit', 'many', path], 'sochdb-policy-audit: --limit must be a non-negative integer, got "many"'],
      [['frobnicate', path], 'sochdb-policy-audit: unknown command "frobnicate"'],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`${message}\n${HINT}\n`);
    }
  });

  it('query piped into a reader that stops early ends quietly with exit 0', async () => {
    const r = await pipeIntoHead(['query', '--limit', '3000', path], 2);
    expect(r.got).toHaveLength(2);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('tail -f --json piped into a reader that stops early ends quietly at the next entry', async () => {
    const r = await pipeIntoHead(['tail', '-f', '--json', '-n', '5', path], 3, async () => {
      const sink = await FileAuditSink.open(path);
      for (let i = 3001; i <= 3003; i++) {
        await sink.append(entry(i));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await sink.close();
    });
    expect(r.got.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([2996, 2997, 2998]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
