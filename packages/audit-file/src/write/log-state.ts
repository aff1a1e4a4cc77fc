import type { ActiveFile } from './active-file.js';
import type { RotatedFile } from '../segments.js';

/** Where the chain stands after open; the writer carries it on. */
export interface LogState {
  active: ActiveFile;
  /** Inode and device of the active file, to notice it being removed or replaced. */
  ino: number;
  dev: number;
  /** Bytes in the active file, all of them complete lines. */
  size: number;
  lastSeq: number;
  /** Hash of the last record (the next record's prev). */
  lastHash: string;
  /** Hash of the entry `lastSeq`. */
  lastEntryHash: string;
  entriesInFile: number;
  /** Rotated files, oldest first. */
  rotated: RotatedFile[];
}
