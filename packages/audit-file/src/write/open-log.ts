import { closeSync, fstatSync, lstatSync, renameSync, unlinkSync, fdatasyncSync } from 'node:fs';
import { dirname } from 'node:path';
import { ActiveFile } from './active-file.js';
import { ChainCursor, type ChainFailure } from '../read/chain.js';
import { AuditFileError, AuditFileErrorCode, errnoOf } from '../errors.js';
import { fsyncDir, writeAll } from './fs-sync.js';
import type { Hasher } from '../hasher.js';
import { linesBackward, linesForward, type Line } from '../read/line-reader.js';
import type { LogState } from './log-state.js';
import type { ResolvedOptions } from '../options.js';
import { FORMAT_VERSION, GENESIS_HASH, headerBody, isTornHeader, lineOf, parseLine, sealBody, type FormatVersion, type SealRecord } from '../record.js';
import { checkLine } from '../read/scan-line.js';
import { moveAside, type MovedAside } from './recovery.js';
import { FLAGS, applyMode, openFileSync } from '../safe-open.js';
import { corruptPath, listRotated, rotatedPath, type RotatedFile } from '../segments.js';
import { openSource, type Source } from '../read/source.js';

/** What open had to do to bring the log back to a clean end. */
export interface RecoveryReport {
  /** Regions moved into `<path>.corrupt`: a torn last line, or (with `repair`) everything from the first bad record. */
  movedAside: MovedAside[];
  /** A crash interrupted a rotation and open finished it. */
  completedRotation: boolean;
  /** Open created a new active file (a new log, or after a rotation). */
  createdFile: boolean;
  /**
   * The active file was in an older format version (1): open sealed and rotated it, so that
   * the new active file is in the version this package writes. Each file has one version.
   */
  upgradedFrom?: number;
}

/**
 * How much of the end of the active file open checks record by record (hashes and links):
 * more than a group-commit batch of ordinary entries, which is what a crash can leave half
 * written. Open reads the header, this much of the end and nothing in between, so it takes
 * the same time whatever the size of the file; `verify` checks the rest.
 */
export const OPEN_CHECK_BYTES = 256 * 1024;

function keyError(f: ChainFailure, file: string): AuditFileError | undefined {
  if (f.problem === 'key_required') return new AuditFileError(AuditFileErrorCode.KEY_REQUIRED, `${file}: ${f.detail}; pass options.hmacKey`, { file });
  if (f.problem === 'wrong_key') return new AuditFileError(AuditFileErrorCode.WRONG_KEY, `${file}: ${f.detail}`, { file });
  return undefined;
}

/** The last rotated file must end with its seal: the active file's header links to it. */
async function readSeal(file: RotatedFile, hasher: Hasher): Promise<SealRecord> {
  const src = await openSource(file.path);
  if (src === undefined) throw new AuditFileError(AuditFileErrorCode.IO, `${file.path} vanished while opening the log`, { file: file.path });
  let last: Line | undefined;
  try {
    for await (const line of linesBackward(src, await src.size())) {
      last = line;
      break;
    }
  } finally {
    await src.close();
  }
  const parsed = last && parseLine(last.bytes, hasher);
  if (parsed?.ok && parsed.record.type === 'seal' && parsed.hashOk) return parsed.record;
  if (parsed?.ok && parsed.record.type === 'seal' && hasher.alg === 'hmac-sha256') {
    throw new AuditFileError(AuditFileErrorCode.WRONG_KEY, `${file.path}: the seal record does not verify with this HMAC key`, { file: file.path });
  }
  throw new AuditFileError(AuditFileErrorCode.CORRUPT, `${file.path}: a rotated file must end with a valid seal record (byte ${last?.offset ?? 0}); run verify to see what changed`, {
    file: file.path,
    offset: last?.offset ?? 0,
  });
}

/** Which algorithm the log uses, from the newest header there is; refuses a key mismatch before anything else. */
async function checkAlg(files: string[], hasher: Hasher): Promise<void> {
  for (const path of files) {
    const src = await openSource(path);
    if (src === undefined) continue;
    let first: Line | undefined;
    try {
      const lines = linesForward(src, await src.size());
      const next = await lines.next();
      if (!next.done) first = next.value;
      await lines.return({ tail: { bytes: Buffer.alloc(0), offset: 0 } });
    } finally {
      await src.close();
    }
    if (first === undefined) continue;
    const parsed = parseLine(first.bytes, undefined);
    if (!parsed.ok || parsed.record.type !== 'header') return; // the scan will report it
    const f = new ChainCursor(hasher).accept({ ok: true, record: parsed.record, hashOk: true });
    const error = f && keyError(f, path);
    if (error) throw error;
    return;
  }
}

/**
 * Puts a file holding just a header continuing from `seq`/`prev` at `path` (absent, or
 * empty). The header is written and fsync'd under another name and renamed into place, so
 * `path` never exists without a header: an empty or headerless active file with no rotated
 * file before it then means damage, not a crash, and open refuses it (see `refuseHeadless`).
 */
function writeHeader(path: string, hasher: Hasher, seq: number, prev: string, mode: number): string {
  const tmp = `${path}.new`;
  if (lstatSync(tmp, { throwIfNoEntry: false }) !== undefined) unlinkSync(tmp); // left by a crash
  const fd = openFileSync(tmp, FLAGS.create, mode);
  const body = headerBody(hasher.alg, seq, prev, FORMAT_VERSION);
  const hash = hasher.text(body);
  try {
    applyMode(fd, mode);
    writeAll(fd, Buffer.from(lineOf(body, hash)));
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dirname(path));
  return hash;
}

function refuseHeadless(path: string, what: string): AuditFileError {
  return new AuditFileError(
    AuditFileErrorCode.CORRUPT,
    `audit log ${path} ${what} (byte 0): it may have held entries, and starting a new chain over it would hide their loss; ` +
      `verify it, then move it away to start a new log`,
    { file: path, offset: 0 },
  );
}

/**
 * The files open takes over besides the active one (rotated files, `.corrupt`) must be
 * regular files, and get the log's mode: an existing world-readable file would otherwise stay
 * so.
 */
function takeOver(files: string[], mode: number): void {
  for (const file of files) {
    let fd: number;
    try {
      fd = openFileSync(file, FLAGS.read);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    try {
      applyMode(fd, mode);
    } finally {
      closeSync(fd);
    }
  }
}

/** A torn header may come from a writer of either version. */
const tornHeader = (bytes: Uint8Array, hasher: Hasher, seq: number, prev: string) =>
  ([2, 1] as FormatVersion[]).some((v) => isTornHeader(bytes, hasher, seq, prev, v));

/**
 * Open's fast path: the chain resumes from the end of the active file. Checks the header
 * (linked to the last rotated file's seal) and the records of the last
 * {@link OPEN_CHECK_BYTES} (each hash, each link, the seqs, anchored on the first of them
 * and on the header's seq), and finds the torn tail (bytes after the last newline). Nothing
 * in between is read. Undefined when anything there is not as a clean log leaves it, or the
 * file is small: the full scan then finds, reports or repairs it exactly as before.
 */
async function resumeFromEnd(src: Source, size: number, start: ChainCursor): Promise<{ cursor: ChainCursor; tail: Line } | undefined> {
  if (size <= OPEN_CHECK_BYTES * 2) return undefined;
  const cursor = start.clone();
  cursor.startFile();
  const first = linesForward(src, size, 4096);
  const head = await first.next();
  await first.return({ tail: { bytes: Buffer.alloc(0), offset: 0 } });
  if (head.done) return undefined;
  const header = checkLine(head.value.bytes, cursor.hasher);
  if (!header.ok || header.record.type !== 'header' || cursor.accept(header) !== undefined) return undefined;
  const window: Line[] = [];
  let covered = 0;
  for await (const line of linesBackward(src, size)) {
    window.push(line);
    covered += line.bytes.length + 1;
    if (covered >= OPEN_CHECK_BYTES || line.offset <= head.value.bytes.length + 1) break;
  }
  const newest = window[0];
  const oldest = window.at(-1);
  if (newest === undefined || oldest === undefined || oldest.offset <= head.value.bytes.length + 1) return undefined;
  const anchor = checkLine(oldest.bytes, cursor.hasher);
  if (!anchor.ok || !anchor.hashOk || anchor.record.type !== 'entry' || anchor.record.seq <= header.record.seq) return undefined;
  const r = anchor.record;
  // Everything between the header and the anchor is taken as written (verify checks it).
  Object.assign(cursor, { last: r, lastHash: r.hash, lastEntrySeq: r.seq, lastEntryHash: r.hash, entriesInFile: r.seq - header.record.seq, inFile: 1 + r.seq - header.record.seq });
  for (let i = window.length - 2; i >= 0; i--) {
    if (cursor.accept(checkLine(window[i]!.bytes, cursor.hasher)) !== undefined) return undefined;
  }
  const end = newest.offset + newest.bytes.length + 1;
  return { cursor, tail: { bytes: Buffer.alloc(0), offset: end } };
}

interface ChainHead {
  lastSeq: number;
  lastHash: string;
  lastEntryHash: string;
  entriesInFile: number;
}

/**
 * Opens the log for appending: checks the active file record by record, moves a torn last
 * line aside, refuses (or with `repair` moves aside) corruption before it, and finishes a
 * rotation a crash interrupted. Returns where the chain stands.
 */
export async function openLog(path: string, opts: ResolvedOptions, hasher: Hasher): Promise<{ state: LogState; recovery: RecoveryReport }> {
  const recovery: RecoveryReport = { movedAside: [], completedRotation: false, createdFile: false };
  const rotated = await listRotated(path);
  takeOver([...rotated.map((f) => f.path), corruptPath(path)], opts.fileMode);
  const lastRotated = rotated.at(-1);
  await checkAlg([path, ...(lastRotated ? [lastRotated.path] : [])], hasher);
  const seal = lastRotated && (await readSeal(lastRotated, hasher));
  const cursor = new ChainCursor(hasher);
  if (seal) Object.assign(cursor, { last: seal, lastHash: seal.hash, lastEntrySeq: seal.seq, lastEntryHash: seal.prev, startSeq: seal.seq });

  const src = await openSource(path);
  if (src !== undefined) {
    let failure: { f: ChainFailure; at: number } | undefined;
    let tail: Line | undefined;
    let size = 0;
    try {
      size = await src.size();
      const resumed = await resumeFromEnd(src, size, cursor);
      if (resumed !== undefined) {
        Object.assign(cursor, resumed.cursor);
        tail = resumed.tail;
      }
      const lines = linesForward(src, size);
      for (; resumed === undefined; ) {
        const next = await lines.next();
        if (next.done) {
          tail = next.value.tail;
          break;
        }
        const f = cursor.accept(checkLine(next.value.bytes, hasher));
        if (f !== undefined) {
          failure = { f, at: next.value.offset };
          await lines.return({ tail: { bytes: Buffer.alloc(0), offset: 0 } });
          break;
        }
      }
    } finally {
      await src.close();
    }
    // Nothing in the file verifies: only a crash while writing its header may be dropped
    // (a prefix of the one header it can have); with `repair`, bad bytes after a rotated
    // file's seal too, since the chain then goes on from that seal. Never a new genesis.
    const tornFirst = !failure && tail !== undefined && tail.offset === 0 && tornHeader(tail.bytes, hasher, cursor.lastEntrySeq, cursor.lastHash);
    if (cursor.inFile === 0 && size > 0 && !tornFirst && !(failure && keyError(failure.f, path)) && !(opts.repair && seal !== undefined)) {
      throw refuseHeadless(path, failure ? `does not start with a valid header record (${failure.f.problem}: ${failure.f.detail})` : 'holds no complete record, only bytes that are not a header');
    }
    if (size === 0 && seal === undefined) throw refuseHeadless(path, 'is empty: it has no header record');
    if (failure) {
      const keyErr = keyError(failure.f, path);
      if (keyErr) throw keyErr;
      const what = `seq ${failure.f.seq}: ${failure.f.problem}: ${failure.f.detail}`;
      if (!opts.repair) {
        throw new AuditFileError(
          AuditFileErrorCode.CORRUPT,
          `audit log ${path} is corrupt at byte ${failure.at} (${what}); open with { repair: true } to move it and everything after it into ${path}.corrupt`,
          { file: path, offset: failure.at },
        );
      }
      recovery.movedAside.push(moveAside(path, path, failure.at, size, 'repair', what, opts.fileMode));
    } else if (tail !== undefined && tail.offset < size) {
      // A crash mid-append: these bytes were never acknowledged.
      recovery.movedAside.push(moveAside(path, path, tail.offset, size, 'torn_tail', 'the last line has no newline', opts.fileMode));
    }
  }

  if (src === undefined || cursor.inFile === 0) {
    // No active file, or none left with a header: start one continuing from the last seal.
    recovery.createdFile = true;
    if (seal !== undefined && src === undefined) recovery.completedRotation = true;
    const hash = writeHeader(path, hasher, cursor.lastEntrySeq, seal?.hash ?? GENESIS_HASH, opts.fileMode);
    return finish(path, opts, rotated, recovery, { lastSeq: cursor.lastEntrySeq, lastHash: hash, lastEntryHash: cursor.lastEntryHash, entriesInFile: 0 });
  }
  if (cursor.last?.type === 'seal') {
    // Sealed but not renamed: finish the rotation.
    recovery.completedRotation = true;
    return completeRotation(path, opts, hasher, rotated, lastRotated, recovery, cursor);
  }
  if (cursor.version !== FORMAT_VERSION) {
    // An older version's file: seal it and go on in a new file of this version, so that each
    // file has one version (its header's) and the change is in the chain (the new header
    // links to the seal).
    const sealB = sealBody(cursor.lastEntrySeq, cursor.lastHash);
    const line = Buffer.from(lineOf(sealB, hasher.text(sealB)));
    const fd = openFileSync(path, FLAGS.append, opts.fileMode);
    try {
      writeAll(fd, line);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    cursor.accept({ ok: true, record: { type: 'seal', seq: cursor.lastEntrySeq, prev: cursor.lastHash, hash: hasher.text(sealB) }, hashOk: true });
    recovery.upgradedFrom = cursor.version;
    return completeRotation(path, opts, hasher, rotated, lastRotated, recovery, cursor);
  }
  const { lastEntrySeq: lastSeq, lastHash, lastEntryHash, entriesInFile } = cursor;
  return finish(path, opts, rotated, recovery, { lastSeq, lastHash, lastEntryHash, entriesInFile });
}

/** The active file ends with its seal: rename it to the next number and start a new file after it. */
function completeRotation(path: string, opts: ResolvedOptions, hasher: Hasher, rotated: RotatedFile[], lastRotated: RotatedFile | undefined, recovery: RecoveryReport, cursor: ChainCursor) {
  const to = rotatedPath(path, (lastRotated?.n ?? 0) + 1);
  renameSync(path, to);
  fsyncDir(dirname(path));
  rotated.push({ path: to, n: (lastRotated?.n ?? 0) + 1 });
  const hash = writeHeader(path, hasher, cursor.lastEntrySeq, cursor.lastHash, opts.fileMode);
  recovery.createdFile = true;
  return finish(path, opts, rotated, recovery, { lastSeq: cursor.lastEntrySeq, lastHash: hash, lastEntryHash: cursor.lastEntryHash, entriesInFile: 0 });
}

/** Opens the active file for appending, applies retention and hands over where the chain stands. */
function finish(path: string, opts: ResolvedOptions, rotated: RotatedFile[], recovery: RecoveryReport, head: ChainHead): { state: LogState; recovery: RecoveryReport } {
  const fd = openFileSync(path, FLAGS.readAppend, opts.fileMode);
  try {
    applyMode(fd, opts.fileMode);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  const st = fstatSync(fd);
  while (rotated.length > opts.maxFiles) {
    try {
      unlinkSync(rotated[0]!.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') break;
    }
    rotated.shift();
  }
  return { state: { active: new ActiveFile(fd), ino: st.ino, dev: st.dev, size: st.size, rotated, ...head }, recovery };
}

export function ioError(path: string, error: unknown): AuditFileError {
  if (error instanceof AuditFileError) return error;
  return new AuditFileError(AuditFileErrorCode.IO, `cannot open audit log ${path}: ${errnoOf(error)}`, { cause: error, file: path });
}
