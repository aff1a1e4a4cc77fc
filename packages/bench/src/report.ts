import { cpus, loadavg } from 'node:os';
import { meetsFloor, type Row } from './row.js';

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  /** ISO date of the run. */
  date: string;
  /** One-minute load average when the run started: others' work on a shared machine. */
  load: number;
}

export function machine(): Machine {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    date: new Date().toISOString().slice(0, 10),
    load: loadavg()[0]!,
  };
}

export function formatFigure(row: Row): string {
  return row.unit === 'ns' ? `${row.figure.toFixed(0)} ns` : `${row.figure.toFixed(3)}×`;
}

export function formatFloor(row: Row): string {
  if (row.floor === undefined) return '—';
  return row.unit === 'ns' ? `≤ ${row.floor} ns` : `≤ ${row.floor}×`;
}

function verdict(row: Row): string {
  const met = meetsFloor(row);
  return met === undefined ? 'baseline' : met ? 'met' : 'MISSED';
}

function cell(value: number): string {
  return value >= 100_000 ? value.toExponential(2) : value.toFixed(0);
}

const HEADER = ['benchmark', 'compared with', 'baseline', 'subject', 'figure', 'floor', ''];

function cells(row: Row): string[] {
  return [`${row.group}: ${row.name}`, row.baseline, cell(row.baselineNs), cell(row.subjectNs), formatFigure(row), formatFloor(row), verdict(row)];
}

/** A plain-text table for the terminal. */
export function textTable(rows: readonly Row[]): string {
  const lines = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)));
  return lines.map((l) => l.map((v, c) => (c >= 2 && c <= 5 ? v.padStart(widths[c]!) : v.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n');
}

/** The same table in Markdown, with the notes under it. */
export function markdownTable(rows: readonly Row[]): string {
  const out = [`| ${HEADER.join(' | ')} |`, `|${HEADER.map((_, c) => (c >= 2 && c <= 5 ? ' ---: ' : ' --- ')).join('|')}|`];
  for (const row of rows) out.push(`| ${cells(row).join(' | ')} |`);
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.group}, ${r.name}: ${r.note}`);
  return [...out, '', ...notes].join('\n');
}

export function machineLine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, Node ${m.node} (${m.platform}), ${m.date}, load average ${m.load.toFixed(2)} at the start`;
}
