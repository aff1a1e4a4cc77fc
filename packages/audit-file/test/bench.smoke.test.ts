import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { PKG_DIR, requireBuilt } from './helpers.js';

// Benchmarks are not tests: this only runs the benchmark for a few milliseconds per case so
// that it cannot rot. No figure is asserted.
it('the benchmark runs every case and prints its ratios (smoke)', () => {
  requireBuilt();
  const run = spawnSync(process.execPath, [join(PKG_DIR, 'bench', 'bench.mjs'), '--smoke', '--seconds', '0.02'], { encoding: 'utf8', timeout: 60_000 });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  for (const name of ['naive fsync per entry', 'pino, sync destination', 'pino, async destination', "'always' x1", "'always' x64", "'interval' x1", "'interval' x64", "'none' x1", "'none' x64"]) {
    expect(run.stdout).toMatch(new RegExp(`${name}\\s+[\\d,]+\\s+[\\d.]+x`));
  }
  expect(run.stdout).toContain("'always' x64 / naive fsync-per-entry");
  expect(run.stdout).toContain("best pino / 'none' x64");
});

it('the engine benchmark commits the entries of a batch and of a nextv call together (smoke)', () => {
  requireBuilt();
  const run = spawnSync(process.execPath, [join(PKG_DIR, 'bench', 'engine.mjs'), '--smoke', '--keys', '2000'], { encoding: 'utf8', timeout: 60_000 });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  // One fsync per batch of 1,000 entries; a few per nextv call (one per chunk read), not one per key.
  for (const name of ['batch of 1,000 puts', 'scan, nextv\\(1000\\)']) {
    const fsyncs = Number(new RegExp(`${name}\\s+[\\d,]+\\s+[\\d,]+\\s+([\\d.]+)`).exec(run.stdout)?.[1]);
    expect(fsyncs).toBeGreaterThan(0);
    expect(fsyncs).toBeLessThan(0.01);
  }
  expect(run.stdout).toContain('PASS');
});

it('the export benchmark exports every entry through the CLI and the API (smoke)', () => {
  requireBuilt();
  const run = spawnSync(process.execPath, [join(PKG_DIR, 'bench', 'export.mjs'), '--smoke', '--entries', '5000'], { encoding: 'utf8', timeout: 60_000 });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.stdout).toMatch(/CLI query --json --limit all\s+5,000\s+[\d.]+\s+[\d,]+\s+\d+/);
  expect(run.stdout).toMatch(/API readAuditLog \(nextv\)\s+5,000\s+[\d.]+\s+[\d,]+\s+\d+/);
  expect(run.stdout).toContain('PASS  CLI query --json --limit all: every entry exported (5,000 of 5,000)');
});

it('the open and verify benchmark measures both and prints the split and the floors (smoke)', () => {
  requireBuilt();
  const run = spawnSync(process.execPath, [join(PKG_DIR, 'bench', 'open-verify.mjs'), '--smoke'], { encoding: 'utf8', timeout: 120_000 });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.stdout).toMatch(/open \+ close, [\d.]+ MB log\s+[\d.]+ ms/);
  expect(run.stdout).toMatch(/before:\s+\d+ ms\s+\d+ MB\/s\s+reading line by line \d+%/);
  expect(run.stdout).toMatch(/previous:\s+\d+ ms\s+\d+ MB\/s\s+reading line by line \d+%, matching each line \d+%/);
  expect(run.stdout).toMatch(/now:\s+\d+ ms\s+\d+ MB\/s\s+reading blocks \d+%, hashing \d+%, scanning runs \+ chain \d+%/);
  expect(run.stdout).toMatch(/now \/ previous: [\d.]+x/);
  expect(run.stdout).toContain('skipped  open');
  expect(run.stdout).toContain('skipped  verify now / before');
});
