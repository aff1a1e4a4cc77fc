import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { svgChart } from './chart.js';
import { replaceSection, SECTION_END, SECTION_START } from './docs.js';
import { machine, markdownTable, textTable } from './report.js';
import { SHAPES } from './patterns.js';
import { QUICK, runSuite, STEPS } from './suite.js';

// A smoke test: every benchmark runs a few iterations so that it cannot rot. Timings on a
// shared machine say nothing, so nothing here asserts one.
describe('benchmarks (smoke)', () => {
  it('run every benchmark and report a figure for each row', async () => {
    const rows = await runSuite(QUICK);
    const groups = new Set(rows.map((r) => r.group.split('.')[0]));
    expect([...groups].sort()).toEqual(['1', '2', '3', '4', '5', '6']);
    // 4 facade rows, one per pattern count for the mix and for each shape, 1 hook row, 2 limiter rows, 2 memory rows, one per rule count and 1 CEL row, 4 scan/batch rows (scan nextv, scan for await, batch, filterAllowed).
    expect(rows).toHaveLength(4 + QUICK.patterns.sizes.length * (1 + SHAPES.length) + 1 + 2 + 2 + QUICK.rules.sizes.length + 1 + 4);
    for (const row of rows) {
      expect(Number.isFinite(row.figure), `${row.group}: ${row.name}`).toBe(true);
      expect(Number.isFinite(row.baselineNs) && Number.isFinite(row.subjectNs)).toBe(true);
    }
    const m = machine();
    expect(textTable(rows).split('\n')).toHaveLength(rows.length + 1);
    expect(markdownTable(rows)).toContain('| 1. facade vs raw RocksDB: put, sequential |');
    const svg = svgChart(rows, m);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<rect /g)).toHaveLength(1 + rows.filter((r) => r.floor !== undefined).length);
  }, 60_000);
});

describe('read-path.js (the sequential read, split)', () => {
  it('prints hand-over, pool trip and turnaround for each runner', async () => {
    const script = fileURLToPath(new URL('../dist/read-path.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [script, '30', '1']);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/hand-over +pool trip +turnaround/);
    expect(lines.slice(1).map((l) => l.slice(0, 28).trim())).toEqual(['raw get', 'store get', 'engine, nothing configured', 'engine, benchmark 1 policy']);
    // Every read of every runner went through the wrapped binding call: four figures each.
    for (const line of lines.slice(1)) expect(line.match(/\d+\.\d\d µs/g)).toHaveLength(4);
  }, 60_000);
});

describe('one benchmark in a process of its own (pnpm bench)', () => {
  it('step-child.js runs the benchmark it is given and prints its rows as JSON', async () => {
    // The built file, as main.js runs it (pnpm test builds before it tests).
    const child = fileURLToPath(new URL('../dist/step-child.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [child, String(STEPS.findIndex(([name]) => name === '3. hook invocation')), 'quick']);
    const rows = JSON.parse(stdout) as { group: string; figure: number }[];
    expect(rows.map((r) => r.group)).toEqual(['3. hook invocation']);
    expect(Number.isFinite(rows[0]!.figure)).toBe(true);
    await expect(promisify(execFile)(process.execPath, [child, '99', 'quick'])).rejects.toThrow(/usage: step-child.js/);
  }, 60_000);
});

describe('benchmarks.md section', () => {
  it('is appended once, then replaced in place, leaving other sections alone', () => {
    const other = '# Benchmarks\n\n## Audit file\n\ntheirs\n';
    const first = replaceSection(other, '## Engine overhead (pnpm bench)\n\nrun 1');
    expect(first.startsWith(other.trimEnd())).toBe(true);
    const second = replaceSection(`${first}\n## Later section\n\nalso theirs\n`, '## Engine overhead (pnpm bench)\n\nrun 2');
    expect(second).toContain('run 2');
    expect(second).not.toContain('run 1');
    expect(second).toContain('also theirs');
    expect(second.split(SECTION_START)).toHaveLength(2);
    expect(second.split(SECTION_END)).toHaveLength(2);
  });
});
