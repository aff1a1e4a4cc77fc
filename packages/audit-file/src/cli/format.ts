import type { AuditRecordView } from '../read/query.js';

const COLUMNS = ['SEQ', 'TIME', 'OPERATION', 'RESULT', 'AGENT', 'SESSION', 'RULE', 'DECISION', 'BATCH', 'KEY'] as const;
/** Follow mode prints rows before it knows them all: these widths keep columns mostly aligned (decision and batch ids are 36 characters). */
const MIN_WIDTHS = [6, 24, 9, 12, 12, 12, 12, 36, 36, 0];

/**
 * Characters that change how a terminal (or an editor, or a pager) shows text rather than
 * showing themselves: C0 and C1 controls and DEL (escape sequences; U+009B is a one-byte
 * CSI), format characters (bidi overrides and isolates U+202A–202E and U+2066–2069, marks,
 * zero-width space and joiners, BOM, tags), everything else Unicode calls default-ignorable
 * (invisible), line and paragraph separators, and lone surrogates.
 */
const INVISIBLE = String.raw`\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}`;
/** In a table the backslash is escaped too, so that `\u202e` in the output always means an escaped character, never text that looks like one. */
const TABLE_UNSAFE = new RegExp(`[\\\\${INVISIBLE}]`, 'gu');
const JSON_UNSAFE = new RegExp(`[${INVISIBLE}]`, 'gu');

/** Printable ASCII without a backslash: nothing to escape, in a table or in JSON (the common case, tested first). */
const PLAIN = /^[\x20-\x5b\x5d-\x7e]*$/;

const hex4 = (unit: number) => `\\u${unit.toString(16).padStart(4, '0')}`;

/** Keys and ids come from agents: never let them drive the terminal or hide or reorder text. */
export function safe(text: string): string {
  if (PLAIN.test(text)) return text;
  return text.replace(TABLE_UNSAFE, (c) => {
    if (c === '\\') return '\\\\';
    const cp = c.codePointAt(0)!;
    return cp > 0xffff ? `\\u{${cp.toString(16)}}` : hex4(cp);
  });
}

/**
 * JSON that shows the same characters as escapes: JSON.stringify escapes only C0, quotes
 * and lone surrogates, and leaves C1 controls, bidi controls and U+2028/2029 raw. The
 * escaped form parses back to the same string.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(JSON_UNSAFE, (c) => Array.from({ length: c.length }, (_, i) => hex4(c.charCodeAt(i))).join(''));
}

export function timeText(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

/** Every cell is escaped: readers trust the file, and an edited file can put anything in any field. */
function cells(r: AuditRecordView): string[] {
  return [String(r.seq), timeText(r.timestamp), r.operation, r.result, r.agentId ?? '-', r.sessionId ?? '-', ruleCell(r), r.decisionId ?? '-', r.batchId ?? '-', r.key].map(safe);
}

/** The deciding rule; a shadow rule's verdict after it (`-` when no rule decided; empty history: a version 1 entry). */
function ruleCell(r: AuditRecordView): string {
  const rule = r.ruleId ?? '-';
  return r.shadowRuleId === undefined ? rule : `${rule} (shadow ${r.shadowAction ?? '?'}: ${r.shadowRuleId})`;
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

const STREAM_WIDTHS = COLUMNS.map((c, i) => Math.max(MIN_WIDTHS[i]!, c.length));

/** A row of a table printed as it is read (follow mode, query): fixed widths. */
export function tableRow(r: AuditRecordView): string {
  return line(cells(r), STREAM_WIDTHS) + '\n';
}

/** The header of a table printed with {@link tableRow}. */
export function tableHeader(): string {
  return line(COLUMNS, STREAM_WIDTHS) + '\n';
}

/** `--json`: one object per entry with the on-disk (seed) field names. */
export function jsonRow(r: AuditRecordView): string {
  // The same text as safeJson of the object, built field by field: only the strings that came from agents need the escaping pass.
  return `{"seq":${JSON.stringify(r.seq)},"timestamp":${JSON.stringify(r.timestamp)},"operation":${word(r.operation)},"key":${jsonText(r.key)},"agent_id":${jsonText(r.agentId)},"session_id":${jsonText(r.sessionId)},"result":${word(r.result)}${decisionJson(r)},"hash":${word(r.hash)}}\n`;
}

/** The decision members an entry recorded (format 2), on-disk names and order; nothing for a version 1 entry. */
function decisionJson(r: AuditRecordView): string {
  let out = '';
  if (r.decisionId !== undefined) out += `,"decision_id":${jsonText(r.decisionId)}`;
  if (r.ruleId !== undefined) out += `,"rule_id":${jsonText(r.ruleId)}`;
  if (r.appliedRules !== undefined) out += `,"applied_rules":[${r.appliedRules.map((id) => jsonText(id)).join(',')}]`;
  if (r.shadowRuleId !== undefined) out += `,"shadow_rule_id":${jsonText(r.shadowRuleId)}`;
  if (r.shadowAction !== undefined) out += `,"shadow_action":${word(r.shadowAction)}`;
  if (r.batchId !== undefined) out += `,"batch_id":${jsonText(r.batchId)}`;
  return out;
}

/** Operation, result and hash: a reader validated them as a known word or hex, so they need no escaping; anything else takes the long way. */
function word(v: string): string {
  return WORD.test(v) ? `"${v}"` : jsonText(v);
}
const WORD = /^[a-z0-9_]{1,64}$/;

/** Printable ASCII without a quote or a backslash: its JSON string is itself in quotes. */
const BARE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function jsonText(v: string | null): string {
  if (v === null) return 'null';
  return BARE.test(v) ? `"${v}"` : safeJson(v);
}
