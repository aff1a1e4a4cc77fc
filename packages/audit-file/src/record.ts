import { isUtf8 } from 'node:buffer';
import { AUDIT_RESULTS, OPERATIONS, type AuditEntry, type AuditResult, type Operation } from '@sochdb-policy/core';
import type { HashAlg, Hasher } from './hasher.js';

/**
 * The on-disk records (docs/audit-file-format.md). Each line is the canonical JSON of a
 * record's body with `"hash":"<hex>"` added as the last member; the hash covers the body,
 * which holds `prev`, the previous record's hash, so the records form one chain.
 */
export const FORMAT_VERSION = 2;
/** Versions this package reads: 1 (the seed fields) and 2 (plus the engine's decision fields). */
export const FORMAT_VERSIONS: readonly number[] = [1, 2];
export type FormatVersion = 1 | 2;
/** What the engine's decision fields may say a shadow rule would have done. */
export const SHADOW_ACTIONS = ['deny', 'modify', 'error'] as const;
export type ShadowAction = (typeof SHADOW_ACTIONS)[number];
/** `prev` of the very first record of a log. */
export const GENESIS_HASH = '0'.repeat(64);

export interface EntryRecord {
  type: 'entry';
  seq: number;
  timestamp: number;
  operation: Operation;
  key: string;
  agent_id: string | null;
  session_id: string | null;
  result: AuditResult;
  /** Version 2 only, each present when the entry has it (docs/audit-file-format.md). */
  decision_id?: string;
  rule_id?: string | null;
  applied_rules?: string[];
  shadow_rule_id?: string;
  shadow_action?: ShadowAction;
  /** The engine's batch id: the same on every entry of one `policy.batch` or `policy.scan` call. */
  batch_id?: string;
  prev: string;
  hash: string;
}

/** First record of every file: which algorithm, and where the chain stands (last entry seq). */
export interface HeaderRecord {
  type: 'header';
  version: number;
  alg: HashAlg;
  seq: number;
  prev: string;
  hash: string;
}

/** Last record of a rotated file: its last entry seq; the next file's header links to its hash. */
export interface SealRecord {
  type: 'seal';
  seq: number;
  prev: string;
  hash: string;
}

export type LogRecord = EntryRecord | HeaderRecord | SealRecord;

const str = JSON.stringify;
const nullable = (v: string | null) => (v === null ? 'null' : str(v));

/**
 * The decision members of a version 2 entry, in their order, each only when the entry has
 * the field: an entry without them is byte-identical in versions 1 and 2.
 */
function decisionMembers(e: AuditEntry): string {
  let out = '';
  if (e.decisionId !== undefined) out += `,"decision_id":${str(e.decisionId)}`;
  if (e.ruleId !== undefined) out += `,"rule_id":${nullable(e.ruleId)}`;
  if (e.appliedRules !== undefined) out += `,"applied_rules":${str(e.appliedRules)}`;
  if (e.shadowRuleId !== undefined) out += `,"shadow_rule_id":${str(e.shadowRuleId)}`;
  if (e.shadowAction !== undefined) out += `,"shadow_action":"${e.shadowAction}"`;
  if (e.batchId !== undefined) out += `,"batch_id":${str(e.batchId)}`;
  return out;
}

/**
 * The canonical body of an entry. Version 1 (the default, which `@sochdb-policy/audit-postgres`
 * chains use) has the seed fields only; version 2 adds the decision fields the entry has.
 */
export function entryBody(seq: number, e: AuditEntry, prev: string, version: FormatVersion = 1): string {
  return (
    `{"seq":${seq},"timestamp":${str(e.timestamp)},"operation":"${e.operation}","key":${str(e.key)},` +
    `"agent_id":${nullable(e.agentId)},"session_id":${nullable(e.sessionId)},"result":"${e.result}"${version === 1 ? '' : decisionMembers(e)},"prev":"${prev}"}`
  );
}

/** A file's header; `version` says which entries the file holds (default 1, as `@sochdb-policy/audit-postgres` uses it). */
export function headerBody(alg: HashAlg, seq: number, prev: string, version: FormatVersion = 1): string {
  return `{"type":"header","version":${version},"alg":"${alg}","seq":${seq},"prev":"${prev}"}`;
}

export function sealBody(seq: number, prev: string): string {
  return `{"type":"seal","seq":${seq},"prev":"${prev}"}`;
}

/** The line written for `body` with its hash, newline included. */
export function lineOf(body: string, hash: string): string {
  return `${body.slice(0, -1)},"hash":"${hash}"}\n`;
}

/**
 * Whether `bytes` (a first line without its newline) can be a header cut short by a crash:
 * a new file's header is fully determined by the algorithm and where the chain stands, so a
 * torn one is a prefix of that exact line, and anything else in its place is damage.
 */
export function isTornHeader(bytes: Uint8Array, hasher: Hasher, seq: number, prev: string, version: FormatVersion = FORMAT_VERSION): boolean {
  const body = headerBody(hasher.alg, seq, prev, version);
  const line = Buffer.from(lineOf(body, hasher.text(body)));
  return bytes.length < line.length && line.subarray(0, bytes.length).equals(bytes);
}

/** Canonical body of a parsed record (what its hash covers). */
export function bodyOf(r: LogRecord): string {
  switch (r.type) {
    case 'header':
      return headerBody(r.alg, r.seq, r.prev, r.version as FormatVersion);
    case 'seal':
      return sealBody(r.seq, r.prev);
    case 'entry':
      // Version 2 bodies of entries without decision members are version 1 bodies.
      return entryBody(r.seq, toAuditEntry(r), r.prev, 2);
  }
}

/** An entry record's members without its place in a log (type, seq, prev, hash): what another sink stores as the body. */
export type EntryFields = Omit<EntryRecord, 'type' | 'seq' | 'prev' | 'hash'>;

/** Whether an entry record carries any version 2 member. */
export function hasDecisionMembers(r: EntryFields): boolean {
  return r.decision_id !== undefined || r.rule_id !== undefined || r.applied_rules !== undefined || r.shadow_rule_id !== undefined || r.shadow_action !== undefined || r.batch_id !== undefined;
}

export function toAuditEntry(r: EntryFields): AuditEntry {
  const e: AuditEntry = { timestamp: r.timestamp, operation: r.operation, key: r.key, agentId: r.agent_id, sessionId: r.session_id, result: r.result };
  return hasDecisionMembers(r) ? withDecision(e, r) : e;
}

function withDecision(e: AuditEntry, r: EntryFields): AuditEntry {
  if (r.decision_id !== undefined) e.decisionId = r.decision_id;
  if (r.rule_id !== undefined) e.ruleId = r.rule_id;
  if (r.applied_rules !== undefined) e.appliedRules = r.applied_rules;
  if (r.shadow_rule_id !== undefined) e.shadowRuleId = r.shadow_rule_id;
  if (r.shadow_action !== undefined) e.shadowAction = r.shadow_action;
  if (r.batch_id !== undefined) e.batchId = r.batch_id;
  return e;
}

// ---- reading a line back ----------------------------------------------------------------

/** `,"hash":"` + 64 hex + `"}`: every line ends with exactly this many bytes of hash member. */
export const HASH_SUFFIX_LENGTH = 9 + 64 + 2;
const SUFFIX_HEAD = Buffer.from(',"hash":"');

export type LineProblem = 'truncated' | 'malformed';

export type ParsedLine =
  | { ok: true; record: LogRecord; hashOk: boolean }
  | { ok: false; problem: LineProblem; detail: string };

export function hasHashSuffix(line: Buffer): boolean {
  const n = line.length;
  if (n < HASH_SUFFIX_LENGTH + 2 || line[0] !== 0x7b || line[n - 1] !== 0x7d || line[n - 2] !== 0x22) return false;
  if (!line.subarray(n - HASH_SUFFIX_LENGTH, n - HASH_SUFFIX_LENGTH + SUFFIX_HEAD.length).equals(SUFFIX_HEAD)) return false;
  for (let i = n - 66; i < n - 2; i++) {
    const c = line[i]!;
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * Parses one line (without its newline) and checks it is a canonical record whose hash
 * matches its bytes. `hashOk` is false when the record is well formed but its content
 * does not hash to the hash it carries (an edit).
 */
export function parseLine(line: Buffer, hasher: Hasher | undefined): ParsedLine {
  if (!hasHashSuffix(line)) {
    let parses = true;
    try {
      JSON.parse(line.toString('utf8'));
    } catch {
      parses = false;
    }
    // A cut-short record no longer parses; a complete one without our ending was rewritten.
    if (!parses && line.length > 1 && line[0] === 0x7b && line[1] === 0x22) {
      return { ok: false, problem: 'truncated', detail: 'the line is cut short: it is not complete JSON' };
    }
    return { ok: false, problem: 'malformed', detail: 'the line does not end with a "hash" member' };
  }
  if (!isUtf8(line)) return { ok: false, problem: 'malformed', detail: 'the line is not valid UTF-8' };
  const text = line.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'malformed', detail: 'the line is not valid JSON' };
  }
  const record = asRecord(value);
  if (record === undefined) return { ok: false, problem: 'malformed', detail: 'the line is not an entry, header or seal record' };
  const body = bodyOf(record);
  if (lineOf(body, record.hash) !== `${text}\n`) {
    return { ok: false, problem: 'malformed', detail: 'the line is not in canonical form' };
  }
  // The line is valid UTF-8 and canonical, so `body` encodes to exactly the bytes on disk.
  const hashOk = hasher === undefined ? true : hasher.text(body) === record.hash;
  return { ok: true, record, hashOk };
}

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
/** 64 lowercase hex digits; a loop, as this runs twice per line read (the regex cost a sixth of an export). */
function isHash(v: unknown): v is string {
  if (typeof v !== 'string' || v.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}
const isId = (v: unknown): v is string | null => v === null || typeof v === 'string';

function asRecord(v: unknown): LogRecord | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (!isSeq(o.seq) || !isHash(o.prev) || !isHash(o.hash)) return undefined;
  if (o.type === 'header') {
    if ((o.version !== 1 && o.version !== 2) || (o.alg !== 'sha256' && o.alg !== 'hmac-sha256')) return undefined;
    return { type: 'header', version: o.version, alg: o.alg, seq: o.seq, prev: o.prev, hash: o.hash };
  }
  if (o.type === 'seal') return { type: 'seal', seq: o.seq, prev: o.prev, hash: o.hash };
  if (o.type !== undefined) return undefined;
  if (o.seq < 1 || typeof o.timestamp !== 'number' || typeof o.key !== 'string' || !isId(o.agent_id) || !isId(o.session_id)) return undefined;
  if (!OPERATIONS.includes(o.operation as Operation) || !AUDIT_RESULTS.includes(o.result as AuditResult)) return undefined;
  const r: EntryRecord = {
    type: 'entry',
    seq: o.seq,
    timestamp: o.timestamp,
    operation: o.operation as Operation,
    key: o.key,
    agent_id: o.agent_id,
    session_id: o.session_id,
    result: o.result as AuditResult,
    prev: o.prev,
    hash: o.hash,
  };
  // Version 2 members: checked only when present (a version 1 entry has none).
  if (o.decision_id !== undefined) {
    if (typeof o.decision_id !== 'string') return undefined;
    r.decision_id = o.decision_id;
  }
  if (o.rule_id !== undefined) {
    if (!isId(o.rule_id)) return undefined;
    r.rule_id = o.rule_id;
  }
  if (o.applied_rules !== undefined) {
    if (!Array.isArray(o.applied_rules) || !o.applied_rules.every((x) => typeof x === 'string')) return undefined;
    r.applied_rules = o.applied_rules as string[];
  }
  if (o.shadow_rule_id !== undefined) {
    if (typeof o.shadow_rule_id !== 'string') return undefined;
    r.shadow_rule_id = o.shadow_rule_id;
  }
  if (o.shadow_action !== undefined) {
    if (!SHADOW_ACTIONS.includes(o.shadow_action as ShadowAction)) return undefined;
    r.shadow_action = o.shadow_action as ShadowAction;
  }
  if (o.batch_id !== undefined) {
    if (typeof o.batch_id !== 'string') return undefined;
    r.batch_id = o.batch_id;
  }
  return r;
}

/**
 * Reads a line for queries: trusts the file (verify() is what checks it) and skips the
 * hash work, so a query costs one JSON.parse per line. Undefined for non-entries.
 */
export function parseEntryFast(line: Buffer): EntryRecord | undefined {
  // Entries start with {"seq": while headers and seals start with {"type":.
  if (line.length < 8 || line[2] !== 0x73) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line.toString('utf8'));
  } catch {
    return undefined;
  }
  const r = asRecord(v);
  return r?.type === 'entry' ? r : undefined;
}
