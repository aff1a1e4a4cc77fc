import { isUtf8 } from 'node:buffer';
import { ChainCursor, type ChainFailure, type ChainInput, type ChainProblem, type ChainRecord } from './chain.js';
import { checkLine, scanRun } from './scan-line.js';
import { makeHasher, type HashAlg } from '../hasher.js';
import type { Block } from './line-reader.js';
import { logBlocks, logFiles, releaseAll, type LogBlockItem, type LogFile, type LogItem } from './log-files.js';
import { isTornHeader, type FormatVersion } from '../record.js';

/** A seq and hash recorded earlier (for example from a previous verify) that the log must still contain. */
export interface AuditAnchor {
  seq: number;
  hash: string;
}

export interface VerifyOptions {
  /** Needed for HMAC-protected logs. @default undefined */
  hmacKey?: string | Uint8Array;
  /**
   * A chain alone cannot show that entries were cut off its end; an anchor kept elsewhere
   * can: the entry with `anchor.seq` must exist and have `anchor.hash`. @default undefined
   */
  anchor?: AuditAnchor;
}

export type VerifyReason = ChainProblem;

export interface VerifyProblem {
  /** First seq that is missing, altered or out of place (or before which a foreign line sits). */
  seq: number;
  reason: VerifyReason;
  /** The file and byte offset of the line where verification stopped. */
  file: string;
  offset: number;
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Files read. */
  files: number;
  /** Entries that verified. */
  entries: number;
  /** Seq of the first entry present (null when the log has none). */
  firstSeq: number | null;
  /** Seq and hash of the last entry that verified: keep them elsewhere as an anchor. */
  lastSeq: number;
  lastHash: string;
  /** True when the log still starts at its genesis; false when older files were rotated away. */
  genesis: boolean;
  alg: HashAlg | null;
  /** Bytes after the last newline of the active file: an append in progress or a crash, moved aside on the next open. */
  tornTail?: { file: string; offset: number; bytes: number };
  /** The first problem, when `ok` is false. */
  problem?: VerifyProblem;
}

/** Verifies every file of the log at `path`, oldest first, streaming (flat memory). */
export async function verifyAuditLog(path: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
  return verifyFiles(await logFiles(path), options);
}

function checkAnchor(anchor: unknown): AuditAnchor | undefined {
  if (anchor === undefined) return undefined;
  const a = anchor as AuditAnchor;
  if (a === null || typeof a !== 'object' || !Number.isSafeInteger(a.seq) || a.seq < 1 || typeof a.hash !== 'string' || !/^[0-9a-f]{64}$/.test(a.hash)) {
    throw new TypeError('options.anchor must be { seq: positive integer, hash: 64 lowercase hex digits }');
  }
  return a;
}

/** Internal knobs, for the tests that hold the fast path to the line-by-line one and for the benchmark. */
export interface VerifyTuning {
  /** Bytes read at a time. @default VERIFY_BLOCK_SIZE */
  blockSize?: number;
  /** false: every line the long way (checkLine, one line at a time), as verify did before runs. @default true */
  runs?: boolean;
}

export async function verifyFiles(files: LogFile[], options: VerifyOptions = {}, tuning: VerifyTuning = {}): Promise<VerifyResult> {
  try {
    return await verifyChain(files, options, tuning);
  } finally {
    await releaseAll(files);
  }
}

async function verifyChain(files: LogFile[], options: VerifyOptions, tuning: VerifyTuning): Promise<VerifyResult> {
  const anchor = checkAnchor(options.anchor);
  const hmacKey = options.hmacKey === undefined ? undefined : Buffer.from(options.hmacKey as string);
  if (hmacKey !== undefined && hmacKey.length === 0) throw new RangeError('options.hmacKey must not be empty');
  const cursor = new ChainCursor(makeHasher(hmacKey));
  const result: VerifyResult = { ok: true, files: 0, entries: 0, firstSeq: null, lastSeq: 0, lastHash: cursor.lastHash, genesis: false, alg: null };
  const items = logBlocks(files, tuning.blockSize);
  const runs = tuning.runs ?? true;
  let tornTail: VerifyResult['tornTail'];
  let anchorFound = false;

  /** One line the long way (what verify once did for every line): checkLine, the cursor, and on failure classify. */
  const takeLine = async (item: LineItem, rest: () => AsyncGenerator<LogItem>): Promise<VerifyResult | undefined> => {
    const parsed = checkLine(item.line.bytes, cursor.hasher);
    const failure = cursor.accept(parsed);
    if (failure !== undefined) return fail(result, await classify(cursor, failure, parsed, rest()), item);
    const r = (parsed as { record: ChainRecord }).record;
    if (r.type === 'header') result.alg ??= r.alg!;
    if (r.type === 'entry') {
      result.entries++;
      result.firstSeq ??= r.seq;
      if (anchor !== undefined && r.seq === anchor.seq) {
        if (r.hash !== anchor.hash) return fail(result, { problem: 'edited', seq: r.seq, detail: `its hash differs from the anchor's: the chain was rewritten at or before seq ${r.seq}` }, item);
        anchorFound = true;
      }
    }
    result.lastSeq = cursor.lastEntrySeq;
    result.lastHash = cursor.lastEntryHash;
    return undefined;
  };

  try {
    for (let next = await items.next(); !next.done; next = await items.next()) {
      const item = next.value;
      if (item.kind === 'start') {
        cursor.startFile();
        result.files++;
        continue;
      }
      if (tornTail !== undefined) {
        // Only the active file may end mid-line, and it is the last file.
        const at = item.kind === 'block' ? lineAt(item.file, item.block, 0) : item;
        return fail(result, { problem: 'malformed', seq: cursor.expected, detail: 'data after a torn line' }, at);
      }
      if (item.kind === 'tail') {
        if (cursor.inFile === 0) {
          // No record in the file at all. Only a new active file whose header a crash cut
          // short may look like this, right after a rotated file's seal; anything else
          // (zeros, random bytes, a log overwritten in place) has lost its header and
          // whatever followed it.
          // (The header a writer of either version would have written.)
          const rotationCrash =
            item.file.active &&
            cursor.last?.type === 'seal' &&
            ([1, 2] as FormatVersion[]).some((v) => isTornHeader(item.line.bytes, cursor.hasher, cursor.lastEntrySeq, cursor.lastHash, v));
          if (!rotationCrash) return fail(result, { problem: 'malformed', seq: cursor.expected, detail: `the file does not start with a header record: it holds ${item.line.bytes.length} bytes and no complete line` }, item);
        }
        if (item.file.active) {
          tornTail = { file: item.file.path, offset: item.line.offset, bytes: item.line.bytes.length };
          continue;
        }
        return fail(result, { problem: 'truncated', seq: cursor.expected, detail: 'the sealed file ends in the middle of a line' }, item);
      }
      // A block of whole lines. Runs of entries that are canonical, hash right and chain
      // among themselves are checked in one pass over the block's text (scanRun), the first
      // of each run taken by the cursor like any record; every other line (headers, seals,
      // anything the scan does not recognise, whatever breaks a run) goes the long way, and
      // so does the whole block if it is not valid UTF-8. The outcome is the same as taking
      // every line the long way: a run holds only lines the long way would accept.
      const { file, block } = item;
      const { buf, end } = block;
      const text = runs && isUtf8(buf.subarray(0, end)) ? buf.toString('latin1', 0, end) : undefined;
      for (let pos = 0; pos < end; ) {
        if (text !== undefined) {
          const run = scanRun(buf, text, pos, end, cursor.hasher, cursor.version !== 1, anchor?.seq ?? -1);
          if (run !== undefined && cursor.accept({ ok: true, record: run.first, hashOk: true }) === undefined) {
            cursor.advanceRun(run.last, run.count - 1);
            result.entries += run.count;
            result.firstSeq ??= run.first.seq;
            result.lastSeq = cursor.lastEntrySeq;
            result.lastHash = cursor.lastEntryHash;
            pos = run.next;
            continue;
          }
        }
        const line = lineAt(file, block, pos);
        const next = pos + line.line.bytes.length + 1;
        const failed = await takeLine(line, () => restOf(file, block, next, items));
        if (failed !== undefined) return failed;
        pos = next;
      }
    }
  } finally {
    await items.return(undefined);
  }
  result.genesis = cursor.startSeq === 0;
  if (tornTail !== undefined) result.tornTail = tornTail;
  const file = files.at(-1)?.path ?? '(no file)';
  if (cursor.last === undefined) {
    // Not one record: no header says what the log is, so nothing about it can be vouched for.
    return failAtEnd(result, file, { problem: 'deleted', seq: cursor.expected, detail: 'the log holds no record, not even a header' });
  }
  if (anchor !== undefined && anchor.seq > cursor.lastEntrySeq) {
    return failAtEnd(result, file, { problem: 'truncated', seq: cursor.expected, detail: `the log ends at seq ${cursor.lastEntrySeq} but the anchor says seq ${anchor.seq} existed` });
  }
  if (anchor !== undefined && !anchorFound) {
    // The anchor vouches for its own entry; a log that no longer has it cannot be checked against it.
    const start = result.firstSeq === null ? `holds no entry up to seq ${cursor.lastEntrySeq}` : `starts at seq ${result.firstSeq}`;
    return failAtEnd(result, file, { problem: 'deleted', seq: anchor.seq, detail: `the anchor's entry is not in the log, which ${start} (rotated away or deleted); check against a newer anchor` });
  }
  return result;
}

type LineItem = Extract<LogItem, { kind: 'line' }>;

/** The line of `block` that starts at `pos`, as a reader item. */
function lineAt(file: LogFile, block: Block, pos: number): LineItem {
  const nl = block.buf.indexOf(0x0a, pos);
  return { kind: 'line', file, line: { bytes: block.buf.subarray(pos, nl), offset: block.offset + pos } };
}

/** The lines after `from` in `block`, then every later item, a line at a time (for classify). */
async function* restOf(file: LogFile, block: Block, from: number, items: AsyncGenerator<LogBlockItem>): AsyncGenerator<LogItem> {
  yield* linesOf(file, block, from);
  for (let next = await items.next(); !next.done; next = await items.next()) {
    const item = next.value;
    if (item.kind === 'block') yield* linesOf(item.file, item.block, 0);
    else yield item;
  }
}

function* linesOf(file: LogFile, block: Block, from: number): Generator<LineItem> {
  for (let pos = from; pos < block.end; ) {
    const line = lineAt(file, block, pos);
    yield line;
    pos += line.line.bytes.length + 1;
  }
}

/** A problem found only once every file was read; `offset` -1: no line to point at. */
function failAtEnd(result: VerifyResult, file: string, f: ChainFailure): VerifyResult {
  result.ok = false;
  result.problem = { seq: f.seq, reason: f.problem, file, offset: -1, message: `seq ${f.seq}: ${f.problem}: ${f.detail}` };
  return result;
}

function fail(result: VerifyResult, f: ChainFailure, at: LogItem): VerifyResult {
  result.ok = false;
  const offset = at.kind === 'start' ? 0 : at.line.offset;
  result.problem = { seq: f.seq, reason: f.problem, file: at.file.path, offset, message: `seq ${f.seq}: ${f.problem}: ${f.detail} (${at.file.path}, byte ${offset})` };
  return result;
}

/**
 * Tells tampering apart by looking past the first bad line. A bad line followed by one that
 * continues the chain from the last good record is an insertion. A genuine entry ahead of
 * its place (seq jumps) is a reordering when the seqs it skipped turn up later, an insertion
 * of a copy when it also turns up again at its own place, and a deletion otherwise.
 */
async function classify(cursor: ChainCursor, failure: ChainFailure, parsed: ChainInput, items: AsyncGenerator<LogItem>): Promise<ChainFailure> {
  if (failure.problem === 'key_required' || failure.problem === 'wrong_key') return failure;
  const nextLine = async (): Promise<ChainInput | undefined> => {
    for (let next = await items.next(); !next.done; next = await items.next()) {
      if (next.value.kind === 'line') return checkLine(next.value.line.bytes, cursor.hasher);
    }
    return undefined;
  };
  const expected = cursor.expected;
  const inserted: ChainFailure = { problem: 'inserted', seq: expected, detail: `a line that is not part of the chain sits before seq ${expected}` };
  const jumped = parsed.ok && parsed.hashOk && parsed.record.type === 'entry' && parsed.record.seq > expected ? parsed.record.seq : undefined;
  if (jumped === undefined) {
    const y = await nextLine();
    return y !== undefined && cursor.clone().accept(y) === undefined ? inserted : failure;
  }
  let skippedLater: number | undefined;
  let againLater = false;
  for (let later = await nextLine(); later !== undefined; later = await nextLine()) {
    if (!later.ok || later.record.type !== 'entry') continue;
    if (later.record.seq >= expected && later.record.seq < jumped) skippedLater ??= later.record.seq;
    if (later.record.seq === jumped) againLater = true;
  }
  if (skippedLater === undefined) return failure;
  if (againLater) return { ...inserted, detail: `a copy of seq ${jumped} sits before seq ${expected}` };
  return { problem: 'reordered', seq: expected, detail: `seq ${jumped} comes before seq ${skippedLater}` };
}
