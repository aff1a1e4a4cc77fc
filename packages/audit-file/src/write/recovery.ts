import { closeSync, fdatasyncSync, ftruncateSync, lstatSync, readSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fsyncDir } from './fs-sync.js';
import { FLAGS, applyMode, openFileSync } from '../safe-open.js';
import { corruptPath } from '../segments.js';

export type MovedAsideReason = 'torn_tail' | 'repair';

/** Bytes that open took out of the log and kept in `<path>.corrupt`. */
export interface MovedAside {
  file: string;
  offset: number;
  bytes: number;
  reason: MovedAsideReason;
  detail: string;
}

/** Large regions go out in parts so recovery never holds a big file in memory. */
const PART = 1024 * 1024;

/**
 * Copies `[from, end)` of `file` into `<path>.corrupt` (JSON Lines, base64 bytes; fsync'd),
 * then cuts the file at `from`. In that order a crash in between leaves the bytes in both
 * places, never in neither.
 */
export function moveAside(path: string, file: string, from: number, end: number, reason: MovedAsideReason, detail: string, mode: number): MovedAside {
  const target = corruptPath(path);
  const existed = lstatSync(target, { throwIfNoEntry: false }) !== undefined;
  const src = openFileSync(file, FLAGS.readWrite);
  try {
    const out = openFileSync(target, FLAGS.append, mode);
    try {
      applyMode(out, mode);
      const buf = Buffer.allocUnsafe(Math.min(PART, Math.max(1, end - from)));
      for (let pos = from; pos < end; ) {
        const n = readSync(src, buf, 0, Math.min(buf.length, end - pos), pos);
        if (n === 0) break;
        const record = { time: Date.now(), file: basename(file), offset: pos, reason, detail, bytes: n, base64: buf.subarray(0, n).toString('base64') };
        writeSync(out, `${JSON.stringify(record)}\n`);
        pos += n;
      }
      fdatasyncSync(out);
    } finally {
      closeSync(out);
    }
    if (!existed) fsyncDir(dirname(target));
    ftruncateSync(src, from);
    fdatasyncSync(src);
  } finally {
    closeSync(src);
  }
  return { file, offset: from, bytes: end - from, reason, detail };
}
