import { isUtf8 } from 'node:buffer';
import type { ChainRecord } from './chain.js';
import { hashLineAt, type HashAlg, type Hasher } from '../hasher.js';
import { HASH_SUFFIX_LENGTH, parseLine, type LineProblem } from '../record.js';

/**
 * The verifier's fast path: checks that a line is a canonical record by matching its bytes
 * against the grammar of docs/audit-file-format.md (members in order, no whitespace,
 * canonical numbers and string escapes), instead of parsing it and writing it back. A line
 * that is canonical is exactly the bytes of its body plus the hash member, so its hash is
 * computed over the line's own bytes: nothing is re-serialised.
 *
 * The scan accepts only what {@link parseLine} accepts (a property test checks it on random
 * and mutated lines); whatever it does not accept goes to `parseLine`, which has the final
 * word and the messages. Only the chain fields are extracted: verify needs nothing else.
 */
export type CheckedLine = { ok: true; record: ChainRecord; hashOk: boolean } | { ok: false; problem: LineProblem; detail: string };

// The grammar as regular expressions over the line's bytes read as Latin-1 (one character
// per byte; UTF-8 validity is checked separately): V8 compiles them to machine code, which
// beats a loop over the bytes in JavaScript by about 2x.

/** A backslash escape as JSON.stringify writes it: short forms, `\u00XX` for other controls, lone surrogates. */
const ESC = String.raw`\\(?:["\\bfnrt]|u00(?:0[0-7bef]|1[0-9a-f])|ud[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})|ud[c-f][0-9a-f]{2})`;
/** A canonical JSON string (the unrolled loop: runs of plain characters between escapes). */
const STR = String.raw`"[^"\\\x00-\x1f]*(?:${ESC}[^"\\\x00-\x1f]*)*"`;
const ID = `(?:${STR}|null)`;
const SEQ = String.raw`(0|[1-9]\d{0,15})`;
const END = String.raw`"prev":"([0-9a-f]{64})","hash":"([0-9a-f]{64})"\}`;
/**
 * An entry: timestamps as integers of up to 15 digits (what the engine's clock gives; any
 * other number is left to parseLine), then the version 2 members in their order.
 */
const ENTRY_SOURCE =
  String.raw`\{"seq":${SEQ},"timestamp":(?:0|-?[1-9]\d{0,14}),"operation":"(?:read|write|delete)","key":${STR},"agent_id":${ID},"session_id":${ID},` +
  String.raw`"result":"(?:allowed|denied|rate_limited|redacted|error)"((?:,"decision_id":${STR})?(?:,"rule_id":${ID})?(?:,"applied_rules":\[(?:${STR}(?:,${STR})*)?\])?` +
  String.raw`(?:,"shadow_rule_id":${STR})?(?:,"shadow_action":"(?:deny|modify|error)")?(?:,"batch_id":${STR})?),${END}`;
const ENTRY = new RegExp(`^${ENTRY_SOURCE}$`);
/**
 * For a block of lines: an entry up to and including `,"prev":"`, matched where `lastIndex`
 * says in the text of the whole block (sticky), so no string per line. What follows is at
 * fixed offsets and is checked without the expression: `prev` must equal a hash already
 * known (so it is 64 hex digits), `hash` must equal the hash computed over the line.
 * Version 1 files allow no decision members. Nothing in an entry's grammar matches a
 * newline, so a match never runs into the next line.
 */
const SEED = String.raw`\{"seq":(?:0|[1-9]\d{0,15}),"timestamp":(?:0|-?[1-9]\d{0,14}),"operation":"(?:read|write|delete)","key":${STR},"agent_id":${ID},"session_id":${ID},"result":"(?:allowed|denied|rate_limited|redacted|error)"`;
const V2_MEMBERS = String.raw`(?:,"decision_id":${STR})?(?:,"rule_id":${ID})?(?:,"applied_rules":\[(?:${STR}(?:,${STR})*)?\])?(?:,"shadow_rule_id":${STR})?(?:,"shadow_action":"(?:deny|modify|error)")?(?:,"batch_id":${STR})?`;
const RUN_ENTRY_V1 = new RegExp(`${SEED},"prev":"`, 'y');
const RUN_ENTRY_V2 = new RegExp(`${SEED}${V2_MEMBERS},"prev":"`, 'y');
/** From just after `,"prev":"`: 64 digits, `","hash":"`, 64 digits, `"}`, then the newline. */
const PREV_TO_HASH = 64 + 10;
const PREV_TO_NEWLINE = PREV_TO_HASH + 64 + 2;
const HASH_HEAD = '","hash":"';
const HEADER = new RegExp(String.raw`^\{"type":"header","version":([12]),"alg":"(sha256|hmac-sha256)","seq":${SEQ},${END}$`);
const SEAL = new RegExp(String.raw`^\{"type":"seal","seq":${SEQ},${END}$`);

/** The chain fields of a canonical record, or undefined when the line is anything else (or a form the scan leaves to parseLine). */
export function scanRecord(b: Buffer): ChainRecord | undefined {
  const text = b.toString('latin1');
  if (b[2] === 0x73) {
    const m = ENTRY.exec(text);
    if (m === null) return undefined;
    const seq = Number(m[1]);
    if (seq < 1 || !Number.isSafeInteger(seq)) return undefined;
    return { type: 'entry', seq, prev: m[3]!, hash: m[4]!, v2: m[2] !== '' };
  }
  const h = HEADER.exec(text);
  if (h !== null) {
    const seq = Number(h[3]);
    return Number.isSafeInteger(seq) ? { type: 'header', version: Number(h[1]), alg: h[2] as HashAlg, seq, prev: h[4]!, hash: h[5]! } : undefined;
  }
  const s = SEAL.exec(text);
  if (s === null) return undefined;
  const seq = Number(s[1]);
  return Number.isSafeInteger(seq) ? { type: 'seal', seq, prev: s[2]!, hash: s[3]! } : undefined;
}

/**
 * {@link parseLine}'s answer for `line`, faster: a canonical record is recognised by its
 * bytes and hashed as it is on disk; anything else is left to `parseLine`.
 */
export function checkLine(line: Buffer, hasher: Hasher | undefined): CheckedLine {
  // scanRecord checks the hash member itself (`tail`): no separate suffix check.
  const record = line.length > HASH_SUFFIX_LENGTH && isUtf8(line) ? scanRecord(line) : undefined;
  if (record === undefined) return parseLine(line, hasher);
  return { ok: true, record, hashOk: hasher === undefined || hasher.line(line) === record.hash };
}

/** A run of consecutive entries that {@link scanRun} checked: from `first` to `last`, `count` of them. */
export interface EntryRun {
  count: number;
  first: ChainRecord;
  last: ChainRecord;
  /** Index in the block just after the run's last newline. */
  next: number;
}

/**
 * The longest run of lines from `from` in a block of whole lines (`text` is the block read
 * as Latin-1, `buf` its bytes, already checked to be valid UTF-8) that are canonical entries
 * ({@link checkLine} would accept each with `hashOk`), whose hashes match, and that form a
 * chain among themselves: each one's `prev` is the hash before it and its seq the next.
 * Stops before anything else (a header, a seal, a line the scan leaves to `parseLine`, a bad
 * hash or link, version 2 members when `v2` is false, the seq `stopSeq`): the caller takes
 * that line the long way. Undefined when the first line already stops it. Whether the first
 * entry fits the chain so far is the caller's to check (ChainCursor.accept).
 */
export function scanRun(buf: Buffer, text: string, from: number, to: number, hasher: Hasher, v2: boolean, stopSeq: number): EntryRun | undefined {
  const re = v2 ? RUN_ENTRY_V2 : RUN_ENTRY_V1;
  let pos = from;
  let count = 0;
  let first: ChainRecord | undefined;
  let seq = 0;
  let hash = '';
  let prev = '';
  while (pos < to) {
    re.lastIndex = pos;
    if (!re.test(text)) break;
    const p = re.lastIndex;
    const nl = p + PREV_TO_NEWLINE;
    if (nl >= to || text.charCodeAt(nl) !== 0x0a || text.charCodeAt(nl - 1) !== 0x7d || text.charCodeAt(nl - 2) !== 0x22 || !text.startsWith(HASH_HEAD, p + 64)) break;
    // The seq's digits (the expression checked their form): `{"seq":` is 7 characters.
    let s = 0;
    for (let i = pos + 7, c = text.charCodeAt(i); c !== 0x2c; c = text.charCodeAt(++i)) s = s * 10 + (c - 0x30);
    if (s < 1 || !Number.isSafeInteger(s) || s === stopSeq) break;
    if (count > 0 && (s !== seq + 1 || !text.startsWith(hash, p))) break;
    const h = hashLineAt(hasher, buf, pos, nl);
    if (!text.startsWith(h, p + PREV_TO_HASH)) break;
    prev = count === 0 ? text.slice(p, p + 64) : hash;
    seq = s;
    hash = h;
    // The first entry's prev is the cursor's to check; `v2`: the file allows the members (whether this entry has them does not matter there).
    if (count === 0) first = { type: 'entry', seq, prev, hash, v2 };
    count++;
    pos = nl + 1;
  }
  if (first === undefined) return undefined;
  return { count, first, last: count === 1 ? first : { type: 'entry', seq, prev, hash, v2 }, next: pos };
}
