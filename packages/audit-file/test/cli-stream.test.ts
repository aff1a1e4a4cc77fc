/**
 * The CLI's streaming query and tail -f (issue 17), as separate processes on real files:
 * `--limit all`, `--from-seq`, `--newest-first`, a reader that stops early, a slow reader
 * (back-pressure), peak memory on a log of a few hundred thousand entries, and tail -f
 * across rotations.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileAuditSink } from '../src/index.js';
import { CLI, PKG_DIR, entry, requireBuilt, runCli, tmpLog } from './helpers.js';

const RSS_AT_EXIT = join(PKG_DIR, 'bench', 'rss-at-exit.cjs');
const BIG = 300_000;
let small: string;
let big: string;

async function makeLog(n: number, maxBytes?: number): Promise<string> {
  const { path } = tmpLog();
  const sink = await FileAuditSink.open(path, { durability: 'none', maxBytes });
  const chunk = 10_000;
  for (let from = 0; from < n; from += chunk) {
    await Promise.all(Array.from({ length: Math.min(chunk, n - from) }, (_, i) => sink.append(entry(from + i))));
  }
  await sink.close();
  return path;
}

beforeAll(async () => {
  requireBuilt();
  small = await makeLog(500, 16 * 1024);
  big = await makeLog(BIG);
}, 120_000);

const jsonSeqs = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { seq: number }).seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * Runs the CLI with its stdout read by this process: `pauseMs` holds reading after the first
 * chunk (a slow reader), `stopAfter` closes the pipe after that many lines (as `head` does).
 */
function pipeCli(args: string[], opts: { pauseMs?: number; stopAfter?: number } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; lines: number; rssKb: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', RSS_AT_EXIT, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let lines = 0;
    let paused = false;
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      if (opts.stopAfter !== undefined && lines >= opts.stopAfter) child.stdout.destroy();
      else if (opts.pauseMs !== undefined && !paused) {
        paused = true;
        child.stdout.pause();
        setTimeout(() => child.stdout.resume(), opts.pauseMs);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const rssKb = Number(/peak-rss-kb=(\d+)/.exec(stderr)?.[1] ?? NaN);
      resolve({ code, signal, stderr: stderr.replace(/peak-rss-kb=\d+\n/, ''), lines, rssKb });
    });
  });
}

describe('sochdb-policy-audit query, streaming', () => {
  it('--limit all prints every entry, oldest first, across rotated files', async () => {
    const r = await runCli(['query', '--json', '--limit', 'all', small]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(jsonSeqs(r.stdout)).toEqual(range(1, 500));
  });

  it('--limit N: the newest N matching, oldest first (as before); --newest-first reverses', async () => {
    const r = await runCli(['query', '--json', '--limit', '4', '--agent-id', 'agent_0', small]);
    expect(jsonSeqs(r.stdout)).toEqual([493, 495, 497, 499]);
    const d = await runCli(['query', '--json', '--limit', '4', '--agent-id', 'agent_0', '--newest-first', small]);
    expect(jsonSeqs(d.stdout)).toEqual([499, 497, 495, 493]);
    const none = await runCli(['query', '--agent-id', 'nobody', small]);
    expect(none.stdout.split('\n').filter(Boolean)).toHaveLength(1); // the table header
  });

  it('--from-seq starts at that seq (inclusive), with filters and a limit, in both orders', async () => {
    expect(jsonSeqs((await runCli(['query', '--json', '--from-seq', '100', '--limit', '3', small])).stdout)).toEqual([100, 101, 102]);
    expect(jsonSeqs((await runCli(['query', '--json', '--from-seq', '100', '--limit', '3', '--result', 'denied', small])).stdout)).toEqual([101, 106, 111]);
    expect(jsonSeqs((await runCli(['query', '--json', '--from-seq', '496', '--limit', 'all', small])).stdout)).toEqual([496, 497, 498, 499, 500]);
    expect(jsonSeqs((await runCli(['query', '--json', '--from-seq', '3', '--newest-first', '--limit', 'all', small])).stdout)).toEqual([3, 2, 1]);
    // Resuming an export page by page: last seq printed + 1.
    const got: number[] = [];
    for (let from = 1; ; ) {
      const page = jsonSeqs((await runCli(['query', '--json', '--from-seq', String(from), '--limit', '150', '--agent-id', 'agent_1', small])).stdout);
      if (page.length === 0) break;
      got.push(...page);
      from = page.at(-1)! + 1;
    }
    expect(got).toEqual(range(1, 500).filter((s) => s % 2 === 0));
  });

  it('rejects a bad --limit or --from-seq with a usage error', async () => {
    for (const args of [['--limit', 'every'], ['--from-seq', '-3'], ['--from-seq', 'x']]) {
      const r = await runCli(['query', ...args, small]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^sochdb-policy-audit: --(limit|from-seq) (must be a non-negative integer|needs a value)/);
    }
  });

  it('the table streams too: a header, then one row per entry', async () => {
    const r = await runCli(['query', '--limit', 'all', '--operation', 'delete', small]);
    const rows = r.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^SEQ\s+TIME\s+OPERATION\s+RESULT\s+AGENT\s+SESSION\s+RULE\s+DECISION\s+BATCH\s+KEY$/);
    expect(rows).toHaveLength(1 + 166);
    expect(rows[1]).toMatch(/^3\s+2023-11-14T\S+\s+delete\s+allowed\s+agent_0\s+s2\s+-\s+-\s+-\s+users\/u2\/doc$/);
  });

  it(`exports ${BIG.toLocaleString('en-US')} entries in bounded memory, and waits for a slow reader`, async () => {
    const r = await pipeCli(['query', '--json', '--limit', 'all', big], { pauseMs: 500 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.lines).toBe(BIG);
    // The log is ~95 MB and the output ~80 MB: the old CLI held both. The process itself is ~45 MB.
    expect(r.rssKb / 1024).toBeLessThan(150);
  }, 60_000);

  it('a reader that stops early (| head) ends a large export quietly with exit 0', async () => {
    const r = await pipeCli(['query', '--json', '--limit', 'all', big], { stopAfter: 10 });
    expect(r.stderr).toBe('');
    expect(r.signal).toBe(null);
    expect(r.code).toBe(0);
    expect(r.lines).toBeLessThan(BIG);
  }, 60_000);
});

describe('sochdb-policy-audit tail -f', () => {
  it('prints entries as they are appended, across rotations, once each; SIGINT ends it with exit 0', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path, { durability: 'none', maxBytes: 4 * 1024 });
    for (let i = 0; i < 10; i++) await sink.append(entry(i));
    requireBuilt();
    const child = spawn(process.execPath, [CLI, 'tail', '-f', '-n', '3', '--json', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const waitFor = async (n: number) => {
      const deadline = Date.now() + 15_000;
      while (jsonSeqs(stdout).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    };
    await waitFor(3);
    for (let burst = 0; burst < 4; burst++) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => sink.append(entry(10 + burst * 50 + i))));
      await sink.flush();
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(203);
    child.kill('SIGINT');
    expect(await closed).toBe(0);
    expect(stderr).toBe('');
    expect(jsonSeqs(stdout)).toEqual(range(8, 210));
    await sink.close();
  }, 60_000);
});
