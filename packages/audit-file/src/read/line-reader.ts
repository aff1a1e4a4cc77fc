import type { Source } from './source.js';

/** Big enough that a read costs little per line, small enough to keep memory flat. */
export const BLOCK_SIZE = 64 * 1024;
/** Forward scans (open, verify) read everything anyway: fewer, larger reads. */
export const SCAN_BLOCK_SIZE = 256 * 1024;
const NL = 0x0a;

export interface Line {
  /** The line without its newline. */
  bytes: Buffer;
  /** Byte offset of the line's first byte in the file. */
  offset: number;
}

async function readFully(src: Source, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const bytesRead = await src.readAt(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at offset ${position + done}`);
    done += bytesRead;
  }
}

/**
 * Lines of `[0, end)` from the last to the first, reading `blockSize` bytes at a time from
 * the end, so reading the newest entries of a large file costs only the blocks they are in.
 * Bytes after the last newline (a torn or in-progress line) are skipped.
 */
export async function* linesBackward(src: Source, end: number, blockSize = BLOCK_SIZE): AsyncGenerator<Line> {
  let pos = end;
  // Pieces of the line being assembled, latest piece first; its start is in an earlier block.
  let pieces: Buffer[] = [];
  let seenNewline = false;
  while (pos > 0) {
    const size = Math.min(blockSize, pos);
    pos -= size;
    const buf = Buffer.allocUnsafe(size);
    await readFully(src, buf, pos);
    let stop = size;
    if (!seenNewline) {
      const last = buf.lastIndexOf(NL);
      if (last === -1) continue; // still inside the partial tail
      seenNewline = true;
      stop = last;
    }
    for (;;) {
      const nl = stop === 0 ? -1 : buf.lastIndexOf(NL, stop - 1);
      if (nl === -1) {
        if (stop > 0) pieces.push(buf.subarray(0, stop));
        break;
      }
      const head = buf.subarray(nl + 1, stop);
      yield { bytes: pieces.length === 0 ? head : Buffer.concat([head, ...pieces.reverse()]), offset: pos + nl + 1 };
      pieces = [];
      stop = nl;
    }
  }
  if (seenNewline) yield { bytes: pieces.length <= 1 ? (pieces[0] ?? Buffer.alloc(0)) : Buffer.concat(pieces.reverse()), offset: 0 };
}

export interface ForwardResult {
  /** Bytes after the last newline (a torn last line), with their offset; empty when none. */
  tail: Line;
}

/**
 * Lines of `[start, end)` (`start` at a line's first byte) from the first to the last, block by block. Bytes after the last
 * newline are not a line: they come back in the result as the torn tail.
 */
export async function* linesForward(src: Source, end: number, blockSize = SCAN_BLOCK_SIZE, start = 0): AsyncGenerator<Line, ForwardResult> {
  let pos = start;
  let carry: Buffer[] = [];
  let carryStart = 0;
  while (pos < end) {
    const size = Math.min(blockSize, end - pos);
    const buf = Buffer.allocUnsafe(size);
    await readFully(src, buf, pos);
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(NL, start);
      if (nl === -1) break;
      const piece = buf.subarray(start, nl);
      if (carry.length > 0) {
        yield { bytes: Buffer.concat([...carry, piece]), offset: carryStart };
        carry = [];
      } else {
        yield { bytes: piece, offset: pos + start };
      }
      start = nl + 1;
    }
    if (start < size) {
      if (carry.length === 0) carryStart = pos + start;
      carry.push(buf.subarray(start));
    }
    pos += size;
  }
  return { tail: { bytes: carry.length === 0 ? Buffer.alloc(0) : Buffer.concat(carry), offset: carry.length === 0 ? end : carryStart } };
}

/** verify reads everything, and checks whole blocks of lines at once: larger blocks still. */
export const VERIFY_BLOCK_SIZE = 1024 * 1024;

/** Whole lines of a file: `buf[0, end)` is one or more lines, each with its newline; `offset` is the file offset of `buf[0]`. */
export interface Block {
  buf: Buffer;
  end: number;
  offset: number;
}

/**
 * The lines of `[start, end)` a block at a time (about `blockSize` bytes, whole lines only),
 * for a caller that walks the lines itself: no object or promise per line. The next block
 * is read while the caller works on the current one. Bytes after the last newline come back
 * in the result as the torn tail, as from {@link linesForward}.
 *
 * Two buffers take turns (fresh memory for every block cost page faults): a block's bytes
 * are valid until the caller asks for the block after it. Copy what you keep.
 */
export async function* blocksForward(src: Source, end: number, blockSize = VERIFY_BLOCK_SIZE, start = 0): AsyncGenerator<Block, ForwardResult> {
  let pos = start;
  /** The buffer of the block the caller has finished with: the next read may fill it. */
  let spare: Buffer | undefined;
  /** A block: the carried start of a line, then the next `blockSize` bytes of the file; with the buffer it lives in. */
  const read = (carry: Buffer): Promise<[Buffer, Buffer]> => {
    const size = Math.min(blockSize, end - pos);
    const need = carry.length + size;
    const pool = spare !== undefined && spare.length >= need ? spare : Buffer.allocUnsafeSlow(Math.max(need, blockSize));
    spare = undefined;
    const buf = pool.subarray(0, need);
    carry.copy(buf, 0);
    const done = readFully(src, buf.subarray(carry.length), pos).then((): [Buffer, Buffer] => [buf, pool]);
    pos += size;
    done.catch(() => {}); // awaited below; an early return must not leave it unhandled
    return done;
  };
  let bufStart = start;
  let pending: Promise<[Buffer, Buffer]> | undefined = pos < end ? read(Buffer.alloc(0)) : undefined;
  try {
    while (pending !== undefined) {
      const [buf, pool] = await pending;
      pending = undefined;
      const last = buf.lastIndexOf(NL);
      const offset = bufStart;
      bufStart = offset + last + 1;
      // The partial line at the end starts the next block (copied there before this one is handed out).
      if (pos < end) pending = read(buf.subarray(last + 1));
      else if (last + 1 < buf.length) {
        if (last >= 0) yield { buf, end: last + 1, offset };
        return { tail: { bytes: Buffer.from(buf.subarray(last + 1)), offset: offset + last + 1 } };
      }
      if (last >= 0) yield { buf, end: last + 1, offset };
      spare = pool;
    }
    return { tail: { bytes: Buffer.alloc(0), offset: end } };
  } finally {
    // Never close the file under a read still in flight.
    if (pending !== undefined) await pending.catch(() => undefined);
  }
}
