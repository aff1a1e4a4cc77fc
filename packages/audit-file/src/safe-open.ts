import { closeSync, constants, fchmodSync, fstatSync, openSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { AuditFileError, AuditFileErrorCode } from './errors.js';

/**
 * Every file of a log is a regular file at its own name. A symlink there would let whoever
 * planted it choose where entries, a torn tail or a lock go (and with `O_CREAT`, create the
 * target); a FIFO or device would hang or feed a reader. So every open refuses a symlink as
 * the last component (`O_NOFOLLOW`) and anything that is not a regular file, and opens with
 * `O_NONBLOCK` so that the check is reached at all: opening a FIFO would otherwise wait for a
 * peer. (`O_NONBLOCK` does nothing to reads and writes of a regular file.)
 */
const { O_NOFOLLOW, O_NONBLOCK } = constants;

export const FLAGS = {
  read: constants.O_RDONLY,
  readWrite: constants.O_RDWR,
  append: constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND,
  readAppend: constants.O_RDWR | constants.O_CREAT | constants.O_APPEND,
  /** A new file: fails when anything (a symlink included) is at the name. */
  create: constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND,
} as const;

function notAFile(path: string, what: string, cause?: unknown): AuditFileError {
  return new AuditFileError(AuditFileErrorCode.NOT_A_FILE, `${path} is ${what}; an audit log's files must be regular files, not symlinks, FIFOs or devices`, { file: path, cause });
}

function kind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function openFailed(path: string, error: unknown): never {
  if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw notAFile(path, 'a symlink', error);
  throw error;
}

/** open(2) that refuses symlinks and anything but a regular file; throws fs errors (ENOENT, ...) as they are. */
export function openFileSync(path: string, flags: number, mode = 0o600): number {
  let fd: number;
  try {
    fd = openSync(path, flags | O_NOFOLLOW | O_NONBLOCK, mode);
  } catch (error) {
    openFailed(path, error);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw notAFile(path, kind(st));
  }
  return fd;
}

/** {@link openFileSync} for readers that use a FileHandle. */
export async function openFile(path: string, flags: number = FLAGS.read): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, flags | O_NOFOLLOW | O_NONBLOCK);
  } catch (error) {
    openFailed(path, error);
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw notAFile(path, kind(st));
  }
  return fh;
}

/**
 * Gives a file the sink created or took over exactly `mode`: the mode given to open(2) is
 * cut by the umask, and an existing file keeps whatever it had (a 0644 log would stay
 * world-readable, and so would every file it rotates into).
 */
export function applyMode(fd: number, mode: number): void {
  if ((fstatSync(fd).mode & 0o7777) !== mode) fchmodSync(fd, mode);
}
