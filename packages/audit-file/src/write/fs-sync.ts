import { closeSync, fdatasync, fsync, fsyncSync, openSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';

export const fdatasyncP = promisify(fdatasync);
export const fsyncP = promisify(fsync);

/** writeSync until every byte is written: a regular file may take a write in pieces (ENOSPC). */
export function writeAll(fd: number, buf: Uint8Array): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done);
}

/** Makes a rename or a new file in `dir` durable: the entry lives in the directory, not the file. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
