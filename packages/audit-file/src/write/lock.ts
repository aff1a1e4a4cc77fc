import { closeSync, fstatSync, ftruncateSync, lstatSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { AuditFileError, AuditFileErrorCode, errnoOf } from '../errors.js';
import { tryLockExclusive } from '../flock.js';
import { FLAGS, applyMode, openFileSync } from '../safe-open.js';
import { lockPath } from '../segments.js';

/**
 * Lock files this process holds, by real path. flock(2) already refuses a second open
 * description in this process; the set only gives that case its own message.
 */
const held = new Set<string>();

function holderOf(fd: number): string {
  const buf = Buffer.alloc(32);
  try {
    const text = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8').trim();
    return /^\d+$/.test(text) ? `process ${text} (as that process sees its pid)` : 'another process';
  } catch {
    return 'another process';
  }
}

/**
 * One writer per log: two would interleave two chains. The writer holds an exclusive
 * flock(2) on `<path>.lock`, where `path` is the log's real path (its directory resolved), so
 * every name of the log reaches the same lock file. The kernel decides who holds it, drops it
 * when the holder dies, and knows nothing of pids, so neither a race, a crash, a stale file
 * nor two PID namespaces (two containers, each writer pid 1) can give a log two writers. The
 * pid written into the file is for people only.
 *
 * The file is removed on release while still locked. Whoever opened it just before then
 * gets the lock on a file no longer at the name; checking after locking that the name still
 * is the locked file, and starting over when not, keeps that from making two holders.
 */
export function acquireLock(path: string, mode: number): () => void {
  const file = lockPath(path);
  if (held.has(file)) throw new AuditFileError(AuditFileErrorCode.LOCKED, `${path} is already open for writing in this process`, { file });
  let fd: number;
  for (;;) {
    try {
      fd = openFileSync(file, FLAGS.readAppend, mode);
    } catch (error) {
      if (error instanceof AuditFileError) throw error;
      throw new AuditFileError(AuditFileErrorCode.IO, `cannot open lock file ${file}: ${errnoOf(error)}`, { cause: error, file });
    }
    let locked: boolean;
    try {
      locked = tryLockExclusive(fd);
    } catch (error) {
      closeSync(fd);
      throw new AuditFileError(AuditFileErrorCode.IO, `cannot lock ${file}: ${errnoOf(error)}`, { cause: error, file });
    }
    if (!locked) {
      const who = holderOf(fd);
      closeSync(fd);
      throw new AuditFileError(AuditFileErrorCode.LOCKED, `${path} is open for writing by ${who} (it holds the lock on ${file})`, { file });
    }
    const mine = fstatSync(fd);
    const named = lstatSync(file, { throwIfNoEntry: false });
    if (named !== undefined && named.ino === mine.ino && named.dev === mine.dev) break;
    closeSync(fd); // released and removed by its holder meanwhile: try the file now at the name
  }
  try {
    applyMode(fd, mode);
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`);
  } catch (error) {
    closeSync(fd);
    throw new AuditFileError(AuditFileErrorCode.IO, `cannot write lock file ${file}: ${errnoOf(error)}`, { cause: error, file });
  }
  held.add(file);
  return () => {
    if (!held.delete(file)) return;
    try {
      unlinkSync(file);
    } catch {
      // Already gone; the lock goes with the descriptor below.
    }
    closeSync(fd);
  };
}
