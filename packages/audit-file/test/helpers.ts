import type { AuditEntry } from '@sochdb-policy/core';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';
import { AuditFileError, FileAuditSink, type FileAuditSinkOptions } from '../src/index.js';
import { openSource, type Source } from '../src/read/source.js';

export const PKG_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(PKG_DIR, 'package.json'), 'utf8')) as { bin: Record<string, string> };
/** The CLI as installed: the package's `bin` entry (built by `pnpm build`). */
export const CLI = join(PKG_DIR, pkg.bin['sochdb-policy-audit']!);
export const FIXTURES = join(PKG_DIR, 'test', 'fixtures');

/** Child processes run the built package, as a user would; fail loudly when it was not built. */
export function requireBuilt(): void {
  if (!existsSync(CLI) || !existsSync(join(PKG_DIR, 'dist', 'index.js'))) {
    throw new Error('packages/audit-file/dist is missing: run `pnpm build` first (the root `pnpm test` does)');
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh directory (removed after the file's tests) and a log path in it. */
export function tmpLog(name = 'audit.log'): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'audit-file-'));
  dirs.push(dir);
  return { dir, path: join(dir, name) };
}

export function entry(i: number, over: Partial<AuditEntry> = {}): AuditEntry {
  return {
    timestamp: 1_700_000_000_000 + i,
    operation: (['write', 'read', 'delete'] as const)[i % 3]!,
    key: `users/u${i}/doc`,
    agentId: `agent_${i % 2}`,
    sessionId: i % 4 === 0 ? null : `s${i % 4}`,
    result: i % 5 === 0 ? 'denied' : 'allowed',
    ...over,
  };
}

/** The file's lines, without the trailing empty string. */
export function readLines(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  return text.split('\n').slice(0, text.endsWith('\n') ? -1 : undefined);
}

export function writeLines(path: string, lines: string[]): void {
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
}

/** Recomputes a line's SHA-256 hash after an edit: what an attacker without the HMAC key can do. */
export function rehash(line: string): string {
  const body = `${line.slice(0, line.lastIndexOf(',"hash":"'))}}`;
  const hash = createHash('sha256').update(body).digest('hex');
  return `${body.slice(0, -1)},"hash":"${hash}"}`;
}

export function hashOf(line: string): string {
  return (JSON.parse(line) as { hash: string }).hash;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a separate process. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  requireBuilt();
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/**
 * A closed log of `n` entries (`entry(1..n)`), written through a sink opened with `options`;
 * without rotation, line k of the active file is seq k (line 0 is the header).
 */
export async function makeLog(n: number, options: FileAuditSinkOptions = {}): Promise<string> {
  const { path } = tmpLog();
  const sink = await FileAuditSink.open(path, options);
  for (let i = 1; i <= n; i++) await sink.append(entry(i));
  await sink.close();
  return path;
}

/** The AuditFileError that opening `path` rejects with; the test fails if the open succeeds. */
export async function openError(path: string, options: FileAuditSinkOptions = {}): Promise<AuditFileError> {
  const error = await FileAuditSink.open(path, options).then(
    async (s) => {
      await s.close();
      throw new Error('open should have been refused');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuditFileError);
  return error as AuditFileError;
}

/** One case of {@link forAnyLinesFile}: the lines and unterminated tail written, and the block size to read with. */
export interface LinesCase {
  lines: string[];
  tail: string;
  block: number;
  /** The file's whole text and its size in bytes. */
  text: string;
  size: number;
  src: Source;
}

/**
 * A property over files of any lines (no newline inside), an unterminated tail and any block
 * size: each case is written to `path` and `check` gets it opened (closed after).
 */
export async function forAnyLinesFile(path: string, check: (c: LinesCase) => Promise<void>, numRuns?: number): Promise<void> {
  const line = fc.string({ maxLength: 40 }).map((s) => s.replace(/\n/g, ' '));
  const tailText = fc.string({ maxLength: 10 }).map((s) => s.replace(/\n/g, ''));
  await fc.assert(
    fc.asyncProperty(fc.array(line, { maxLength: 30 }), fc.integer({ min: 1, max: 64 }), tailText, async (lines, block, tail) => {
      const text = lines.map((l) => `${l}\n`).join('') + tail;
      writeFileSync(path, text);
      const src = (await openSource(path))!;
      try {
        await check({ lines, tail, block, text, size: Buffer.byteLength(text), src });
      } finally {
        await src.close();
      }
    }),
    numRuns === undefined ? {} : { numRuns },
  );
}
