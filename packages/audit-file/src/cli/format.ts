import type { AuditRecordView } from '../query.js';

const COLUMNS = ['SEQ', 'TIME', 'OPERATION', 'RESULT', 'AGENT', 'SESSION', 'KEY'] as const;
/** Follow mode prints rows before it knows them all: these widths keep columns mostly aligned. */
const MIN_WIDTHS = [6, 24, 9, 12, 12, 12, 0];

/** Keys and ids come from agents: never let them drive the terminal (escape sequences, newlines). */
export function safe(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function timeText(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function cells(r: AuditRecordView): string[] {
  return [String(r.seq), timeText(r.timestamp), r.operation, r.result, safe(r.agentId ?? '-'), safe(r.sessionId ?? '-'), safe(r.key)];
}

function line(values: readonly string[], widths: number[]): string {
  return values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
}

/** A table with a header row, columns as wide as their widest cell. */
export function table(records: AuditRecordView[]): string {
  const rows = records.map(cells);
  const widths = COLUMNS.map((c, i) => Math.max(MIN_WIDTHS[i]!, c.length, ...rows.map((r) => r[i]!.length)));
  return [line(COLUMNS, widths), ...rows.map((r) => line(r, widths))].join('\n') + '\n';
}

export function tableRow(r: AuditRecordView): string {
  return line(cells(r), COLUMNS.map((c, i) => Math.max(MIN_WIDTHS[i]!, c.length))) + '\n';
}

/** `--json`: one object per entry with the on-disk (seed) field names. */
export function jsonRow(r: AuditRecordView): string {
  return `${JSON.stringify({ seq: r.seq, timestamp: r.timestamp, operation: r.operation, key: r.key, agent_id: r.agentId, session_id: r.sessionId, result: r.result, hash: r.hash })}\n`;
}
