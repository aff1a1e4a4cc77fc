import { closeSync, fstatSync, readSync, statSync } from 'node:fs';
import type { AuditRecordView } from '../read/query.js';
import { parseEntryFast, toAuditEntry } from '../record.js';
import { FLAGS, openFileSync } from '../safe-open.js';
import { listRotatedSync } from '../segments.js';

const NL = 0x0a;

/** The `seq` of a file's header: the last entry seq before the file. */
function headerSeq(path: string): number | undefined {
  let fd: number;
  try {
    fd = openFileSync(path, FLAGS.read);
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const nl = buf.subarray(0, n).indexOf(NL);
    const seq = nl === -1 ? undefined : (JSON.parse(buf.subarray(0, nl).toString('utf8')) as { seq?: unknown }).seq;
    return typeof seq === 'number' ? seq : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Prints entries as they are appended (`tail -f`): polls the active file for new complete
 * lines. When the file was rotated away it drains the old file, then every rotated file that
 * may hold newer entries (several rotations can happen between two polls), then moves on to
 * the new active file. Seqs at or below the last one printed are skipped.
 */
export function follow(path: string, afterSeq: number, print: (r: AuditRecordView) => void, onError: (error: unknown) => void, intervalMs = 200): { stop: () => void } {
  let active: { fd: number; ino: number; pos: number; carry: Buffer } | undefined;
  let last = afterSeq;
  const buf = Buffer.allocUnsafe(64 * 1024);

  /** Reads complete lines from `pos` on; the bytes of an unfinished line wait in `carry`. */
  const drain = (f: { fd: number; pos: number; carry: Buffer }) => {
    for (;;) {
      const n = readSync(f.fd, buf, 0, buf.length, f.pos);
      if (n === 0) return;
      f.pos += n;
      const chunk = f.carry.length > 0 ? Buffer.concat([f.carry, buf.subarray(0, n)]) : buf.subarray(0, n);
      let start = 0;
      for (let nl = chunk.indexOf(NL); nl !== -1; nl = chunk.indexOf(NL, start)) {
        const r = parseEntryFast(chunk.subarray(start, nl));
        if (r !== undefined && r.seq > last) {
          last = r.seq;
          print({ seq: r.seq, ...toAuditEntry(r), hash: r.hash });
        }
        start = nl + 1;
      }
      f.carry = Buffer.from(chunk.subarray(start));
    }
  };

  const drainPath = (file: string) => {
    let fd: number;
    try {
      fd = openFileSync(file, FLAGS.read);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // removed by retention meanwhile
      throw error;
    }
    try {
      drain({ fd, pos: 0, carry: Buffer.alloc(0) });
    } finally {
      closeSync(fd);
    }
  };

  const poll = () => {
    const st = statSync(path, { throwIfNoEntry: false });
    if (active !== undefined && st?.ino === active.ino) return drain(active);
    if (active !== undefined) {
      drain(active);
      closeSync(active.fd);
      active = undefined;
    }
    // Rotated files that may hold entries after `last`: newest first until one starts before it.
    const pending: string[] = [];
    const activeStart = st === undefined ? undefined : headerSeq(path);
    // Nothing to catch up on when the active file starts at or before the last printed seq.
    if (activeStart === undefined || activeStart > last) {
      for (const f of listRotatedSync(path).reverse()) {
        pending.unshift(f.path);
        const h = headerSeq(f.path);
        if (h === undefined || h < last) break;
      }
    }
    for (const f of pending) drainPath(f);
    if (st === undefined) return;
    // Never follows a symlink or waits on a FIFO put at the log's name meanwhile.
    const fd = openFileSync(path, FLAGS.read);
    active = { fd, ino: fstatSync(fd).ino, pos: 0, carry: Buffer.alloc(0) };
    drain(active);
  };

  let timer: NodeJS.Timeout | undefined;
  const stop = () => {
    clearInterval(timer);
    if (active !== undefined) closeSync(active.fd);
    active = undefined;
  };
  const safePoll = () => {
    try {
      poll();
    } catch (error) {
      stop();
      onError(error);
    }
  };
  timer = setInterval(safePoll, intervalMs);
  safePoll();
  return { stop };
}
