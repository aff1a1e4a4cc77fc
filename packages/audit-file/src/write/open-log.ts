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
import { GENESIS_HASH, headerBody, isTornHeader, lineOf, parseLine, type SealRecord } from '../record.js';
import { moveAside, type MovedAside } from './recovery.js';
import { FLAGS, applyMode, openFileSync } from '../safe-open.js';
import { corruptPath, listRotated, rotatedPath, type RotatedFile } from '../segments.js';
import { openSource } from '../read/source.js';

/** What open had to do to bring the log back to a clean end. */
export interface RecoveryReport {
  /** Regions moved into `<path>.corrupt`: a torn last line, or (with `repair`) everything from the first bad record. */
  movedAside: MovedAside[];
  /** A crash interrupted a rotation and open finished it. */
  completedRotation: boolean;
  /** Open created a new active file (a new log, or after a rotation). */
  createdFile: boolean;
}

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
  const body = headerBody(hasher.alg, seq, prev);
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
      const lines = linesForward(src, size);
      for (;;) {
        const next = await lines.next();
        if (next.done) {
          tail = next.value.tail;
          break;
        }
        const f = cursor.accept(parseLine(next.value.bytes, hasher));
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
    const tornHeader = !failure && tail !== undefined && tail.offset === 0 && isTornHeader(tail.bytes, hasher, cursor.lastEntrySeq, cursor.lastHash);
    if (cursor.inFile === 0 && size > 0 && !tornHeader && !(failure && keyError(failure.f, path)) && !(opts.repair && seal !== undefined)) {
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
    } else if (tail !== undefined && tail.bytes.length > 0) {
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
    const to = rotatedPath(path, (lastRotated?.n ?? 0) + 1);
    renameSync(path, to);
    fsyncDir(dirname(path));
    rotated.push({ path: to, n: (lastRotated?.n ?? 0) + 1 });
    const hash = writeHeader(path, hasher, cursor.lastEntrySeq, cursor.lastHash, opts.fileMode);
    Object.assign(recovery, { completedRotation: true, createdFile: true });
    return finish(path, opts, rotated, recovery, { lastSeq: cursor.lastEntrySeq, lastHash: hash, lastEntryHash: cursor.lastEntryHash, entriesInFile: 0 });
  }
  const { lastEntrySeq: lastSeq, lastHash, lastEntryHash, entriesInFile } = cursor;
  return finish(path, opts, rotated, recovery, { lastSeq, lastHash, lastEntryHash, entriesInFile });
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
