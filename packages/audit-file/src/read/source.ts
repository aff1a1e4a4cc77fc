import { close, fstat, read } from 'node:fs';
import { promisify } from 'node:util';
import { openFile } from '../safe-open.js';

const readP = promisify(read);
const fstatP = promisify(fstat);
const closeP = promisify(close);

/** Positional reads from a file, whether opened by name or lent by the sink as a descriptor. */
export interface Source {
  readAt(buf: Buffer, offset: number, length: number, position: number): Promise<number>;
  size(): Promise<number>;
  /** Inode number, to tell whether two names are the same file. */
  ino(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Opens `path` for reading; undefined when it does not exist (a rotated file already removed).
 * A symlink, FIFO or device there is refused (code `not_a_file`) rather than followed or
 * waited on.
 */
export async function openSource(path: string): Promise<Source | undefined> {
  try {
    const fh = await openFile(path);
    return {
      readAt: async (buf, offset, length, position) => (await fh.read(buf, offset, length, position)).bytesRead,
      size: async () => (await fh.stat()).size,
      ino: async () => (await fh.stat()).ino,
      close: () => fh.close(),
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Reads through a descriptor someone else owns; `release` hands it back instead of closing. */
export function fdSource(fd: number, release?: () => void): Source {
  return {
    readAt: async (buf, offset, length, position) => (await readP(fd, buf, offset, length, position)).bytesRead,
    size: async () => (await fstatP(fd)).size,
    ino: async () => (await fstatP(fd)).ino,
    close: async () => {
      if (release) release();
      else await closeP(fd);
    },
  };
}
