import { stat } from 'node:fs/promises';
import { blocksForward, linesForward, type Block, type ForwardResult, type Line } from './line-reader.js';
import { listRotated } from '../segments.js';
import { openSource, type Source } from './source.js';

/** One file of a log as a reader sees it: where to stop reading, and whether it is the active file. */
export interface LogFile {
  path: string;
  /** Read up to this offset; undefined: the size when opened. */
  end?: number;
  active: boolean;
  /** Already open (the sink lends its descriptor so a rotation cannot swap the file under a reader). */
  source?: Source;
}

/**
 * The files of the log at `path`, oldest first: rotated files, then the active one if it
 * exists. The active file is opened before the directory is listed, so a rotation by a live
 * writer in between shows up as the same file twice, and is read once.
 */
export async function logFiles(path: string): Promise<LogFile[]> {
  const active = await openSource(path);
  const rotated = (await listRotated(path)).map((f): LogFile => ({ path: f.path, active: false }));
  if (active === undefined) return rotated;
  try {
    const ino = await active.ino();
    for (const f of rotated.slice(-16).reverse()) {
      if ((await stat(f.path).catch(() => undefined))?.ino === ino) {
        await active.close();
        return rotated;
      }
    }
    return [...rotated, { path, active: true, end: await active.size(), source: active }];
  } catch (error) {
    await active.close();
    throw error;
  }
}

/** The file's source: the lent one, or opened by name (undefined when it no longer exists). */
export async function sourceOf(file: LogFile): Promise<Source | undefined> {
  return file.source ?? openSource(file.path);
}

/** Closes the lent sources of files a reader did not get to. */
export async function releaseAll(files: LogFile[]): Promise<void> {
  for (const f of files) await f.source?.close();
}

export type LogItem =
  | { kind: 'start'; file: LogFile }
  | { kind: 'line'; file: LogFile; line: Line }
  /** Bytes after the last newline of a file. */
  | { kind: 'tail'; file: LogFile; line: Line };

/** Every line of every file in order, with a marker at the start of each file. Missing files are skipped. */
export function logItems(files: LogFile[]): AsyncGenerator<LogItem> {
  return forward(files, (src, end) => linesForward(src, end), (file, line: Line): LogItem => ({ kind: 'line', file, line }));
}

export type LogBlockItem =
  | { kind: 'start'; file: LogFile }
  /** Whole lines of the file (see {@link Block}). */
  | { kind: 'block'; file: LogFile; block: Block }
  /** Bytes after the last newline of a file. */
  | { kind: 'tail'; file: LogFile; line: Line };

/** {@link logItems} a block of lines at a time (verify walks the lines of a block itself). */
export function logBlocks(files: LogFile[], blockSize?: number): AsyncGenerator<LogBlockItem> {
  return forward(files, (src, end) => blocksForward(src, end, blockSize), (file, block: Block): LogBlockItem => ({ kind: 'block', file, block }));
}

type FileMark = { kind: 'start'; file: LogFile } | { kind: 'tail'; file: LogFile; line: Line };

/**
 * The files in order, each read forward by `read` from its start to its end (its recorded end
 * or its size now): a start marker, `wrap` of each thing read, then the bytes after its last
 * newline, if any. Each file's source is closed (and its lent descriptor released) as it ends,
 * also when the caller stops early.
 */
async function* forward<T, I>(
  files: LogFile[],
  read: (src: Source, end: number) => AsyncGenerator<T, ForwardResult>,
  wrap: (file: LogFile, value: T) => I,
): AsyncGenerator<I | FileMark> {
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    let src: Source | undefined;
    try {
      src = await sourceOf(file);
      if (src === undefined) continue;
      const end = file.end ?? (await src.size());
      yield { kind: 'start', file };
      const items = read(src, end);
      try {
        for (;;) {
          const next = await items.next();
          if (next.done) {
            if (next.value.tail.bytes.length > 0) yield { kind: 'tail', file, line: next.value.tail };
            break;
          }
          yield wrap(file, next.value);
        }
      } finally {
        await items.return({ tail: { bytes: Buffer.alloc(0), offset: end } });
      }
    } finally {
      files[i] = { ...file, source: undefined };
      await src?.close();
    }
  }
}
