import type { HashAlg, Hasher } from '../hasher.js';
import { GENESIS_HASH, hasDecisionMembers, type EntryRecord, type LineProblem } from '../record.js';

/**
 * What the chain needs of a record: a parsed {@link LogRecord} is one, and so is what the
 * verifier's byte scan extracts (`v2`: an entry with version 2 members).
 */
export interface ChainRecord {
  type: 'entry' | 'header' | 'seal';
  seq: number;
  prev: string;
  hash: string;
  /** Headers. */
  alg?: HashAlg;
  version?: number;
  /** Entries: whether it has version 2 (decision) members; worked out from the record when absent. */
  v2?: boolean;
}

/** A line as the cursor takes it: a record and whether its hash matched, or why it is not one. */
export type ChainInput = { ok: true; record: ChainRecord; hashOk: boolean } | { ok: false; problem: LineProblem; detail: string };

/** Why verification stopped; the first five are the kinds of tampering verify() names. */
export type ChainProblem = 'edited' | 'deleted' | 'reordered' | 'inserted' | 'truncated' | 'malformed' | 'key_required' | 'wrong_key';

export interface ChainFailure {
  problem: ChainProblem;
  /** The first seq that cannot be trusted (see docs/audit-file-format.md, "Verifying"). */
  seq: number;
  detail: string;
}

/**
 * Walks the chain one record at a time and says whether the next record fits: right hash,
 * linked to the previous record, next seq, header first in each file and seal last.
 */
export class ChainCursor {
  readonly hasher: Hasher;
  /** Last accepted record, or undefined before the first. */
  last: ChainRecord | undefined;
  /** Format version of the current file (its header's), undefined before a header. */
  version: number | undefined;
  lastHash = GENESIS_HASH;
  lastEntrySeq = 0;
  /** Hash of the entry `lastEntrySeq` (the genesis hash before any). */
  lastEntryHash = GENESIS_HASH;
  /** Records accepted in the current file. */
  inFile = 0;
  /** Entries accepted in the current file. */
  entriesInFile = 0;
  /** Seq of the first file's header: 0 when the log starts at its genesis. */
  startSeq: number | undefined;

  constructor(hasher: Hasher) {
    this.hasher = hasher;
  }

  clone(): ChainCursor {
    const c = new ChainCursor(this.hasher);
    Object.assign(c, this);
    return c;
  }

  startFile(): void {
    this.inFile = 0;
    this.entriesInFile = 0;
  }

  /** The seq an entry must have next. */
  get expected(): number {
    return this.lastEntrySeq + 1;
  }

  /** Checks `parsed` as the next record; on success advances, on failure changes nothing. */
  accept(parsed: ChainInput): ChainFailure | undefined {
    const failure = this.#check(parsed);
    if (failure !== undefined) return failure;
    const r = (parsed as { record: ChainRecord }).record;
    if (r.type === 'header') this.version = r.version;
    if (this.last === undefined) this.startSeq = r.seq;
    this.last = r;
    this.lastHash = r.hash;
    // A header's or seal's seq is the last entry seq before it, so it sets the next seq too.
    this.lastEntrySeq = r.seq;
    if (r.type === 'entry') {
      this.entriesInFile++;
      this.lastEntryHash = r.hash;
    }
    this.inFile++;
    return undefined;
  }

  /**
   * After {@link accept} took the first entry of a run that is known to chain on from it
   * (each entry's prev the hash before it, seqs consecutive, hashes right, members allowed
   * in this file: what accept would check of each), moves to its last entry, `more` entries on.
   */
  advanceRun(last: ChainRecord, more: number): void {
    this.last = last;
    this.lastHash = last.hash;
    this.lastEntrySeq = last.seq;
    this.lastEntryHash = last.hash;
    this.entriesInFile += more;
    this.inFile += more;
  }

  #check(parsed: ChainInput): ChainFailure | undefined {
    const expected = this.expected;
    if (!parsed.ok) return { problem: parsed.problem, seq: expected, detail: parsed.detail };
    const r = parsed.record;
    const seqOf = r.type === 'entry' ? r.seq : expected;
    if (r.type === 'header' && r.alg !== this.hasher.alg) {
      return r.alg === 'hmac-sha256'
        ? { problem: 'key_required', seq: seqOf, detail: 'the log is HMAC-protected: an HMAC key is needed to verify it' }
        : { problem: 'wrong_key', seq: seqOf, detail: 'the log has no HMAC but an HMAC key was given' };
    }
    if (!parsed.hashOk) {
      if (this.last === undefined && r.type === 'header' && this.hasher.alg === 'hmac-sha256') {
        return { problem: 'wrong_key', seq: seqOf, detail: 'the header does not verify with this HMAC key' };
      }
      return { problem: 'edited', seq: seqOf, detail: 'its content does not match its hash' };
    }
    if (this.inFile === 0) {
      if (r.type !== 'header') return { problem: 'deleted', seq: seqOf, detail: 'the file does not start with its header record' };
      if (this.last === undefined) {
        if (r.seq === 0 && r.prev !== GENESIS_HASH) return { problem: 'edited', seq: 1, detail: 'the genesis header does not start from the genesis hash' };
        return undefined;
      }
      return this.#link(r, this.last.type === 'seal' ? 'the previous file' : 'the previous file, which has no seal record');
    }
    if (r.type === 'header') return { problem: 'inserted', seq: expected, detail: 'a header record in the middle of a file' };
    if (r.type === 'entry' && this.version === 1 && (r.v2 ?? hasDecisionMembers(r as EntryRecord))) {
      return { problem: 'malformed', seq: seqOf, detail: 'a version 1 file holds an entry with version 2 (decision) members' };
    }
    if (this.last?.type === 'seal') return { problem: 'inserted', seq: seqOf, detail: 'a record after the seal record of its file' };
    return this.#link(r, `seq ${this.lastEntrySeq}`);
  }

  /** prev must be the last hash and seq must follow on; classify what breaks. */
  #link(r: ChainRecord, previous: string): ChainFailure | undefined {
    const want = r.type === 'entry' ? this.expected : this.lastEntrySeq;
    if (r.prev === this.lastHash && r.seq === want) return undefined;
    if (r.seq > want) {
      return { problem: 'deleted', seq: this.expected, detail: `expected seq ${want}, found seq ${r.seq}: seq ${this.expected}..${r.seq - (r.type === 'entry' ? 1 : 0)} missing` };
    }
    if (r.seq < want) return { problem: 'inserted', seq: r.type === 'entry' ? r.seq : this.expected, detail: `seq ${r.seq} again after seq ${this.lastEntrySeq}` };
    // Right seq, wrong link: the previous record was rewritten (its hash recomputed) or this one was.
    const seq = this.last?.type === 'entry' ? this.lastEntrySeq : r.type === 'entry' ? r.seq : this.expected;
    return { problem: 'edited', seq, detail: `its prev does not match the hash of ${previous}: one of the two was rewritten` };
  }
}
