import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { AuditFileError, AuditFileErrorCode } from './errors.js';
import { lockPath } from './segments.js';

/** Paths this process holds, so a second open in the same process is refused too. */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One writer per log: two would interleave two chains. `<path>.lock` holds the writer's pid;
 * a lock whose process is gone (a crash) is taken over.
 */
export function acquireLock(path: string): () => void {
  const file = lockPath(path);
  if (held.has(file)) throw new AuditFileError(AuditFileErrorCode.LOCKED, `${path} is already open for writing in this process`, { file });
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && attempt > 0) {
        throw new AuditFileError(AuditFileErrorCode.LOCKED, `${path} is being opened for writing by another process (lock file ${file})`, { file });
      }
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new AuditFileError(AuditFileErrorCode.IO, `cannot create ${file}: ${(error as Error).message}`, { cause: error, file });
      }
      let pid = NaN;
      try {
        pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
      } catch {
        // Vanished or unreadable: treat as stale.
      }
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new AuditFileError(AuditFileErrorCode.LOCKED, `${path} is open for writing by process ${pid} (lock file ${file})`, { file });
      }
      try {
        unlinkSync(file);
      } catch {
        // Someone else removed it first; the retry settles who wins.
      }
    }
  }
  held.add(file);
  return () => {
    held.delete(file);
    try {
      unlinkSync(file);
    } catch {
      // Already gone; nothing to release.
    }
  };
}
