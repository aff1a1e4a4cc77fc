import type { Source } from './source.js';

const NL = 0x0a;
/** Below this many bytes a linear scan is cheaper than more probes. */
const LINEAR = 64 * 1024;
/** The seq of an entry (`{"seq":N,`), a header or a seal (`{"type":...,"seq":N,`), from a line's first bytes. */
const SEQ = /^\{(?:"seq":|"type":"(?:header|seal)",[^\n]{0,80}?"seq":)(\d{1,16})[,}]/;

/** The seq at the start of the line that starts at `start`, or undefined (damage: the caller scans instead). */
async function seqAt(src: Source, start: number, end: number): Promise<number | undefined> {
  const buf = Buffer.allocUnsafe(Math.min(160, end - start));
  const n = await src.readAt(buf, 0, buf.length, start);
  const m = SEQ.exec(buf.toString('latin1', 0, n));
  return m === null ? undefined : Number(m[1]);
}

/** The first line start at or after `pos`: `pos` itself when a line starts there. */
async function lineStartFrom(src: Source, pos: number, end: number): Promise<number> {
  if (pos === 0) return 0;
  const buf = Buffer.allocUnsafe(4096);
  for (let p = pos - 1; p < end; ) {
    const n = await src.readAt(buf, 0, Math.min(buf.length, end - p), p);
    if (n === 0) break;
    const i = buf.subarray(0, n).indexOf(NL);
    if (i !== -1) return p + i + 1;
    p += n;
  }
  return end;
}

/**
 * A line start in `[0, end)` at or before the first line whose seq is above `seq`, found by
 * bisection (seqs never go down within a file: header, entries, seal), so that a reader
 * resuming from a cursor reads a few blocks instead of the whole file. Lines before the
 * returned offset all have seq <= `seq`; a few after it may too, and the reader skips them.
 * A line that does not look like a record stops the search early: the reader then scans
 * more, never less.
 */
export async function seekAbove(src: Source, end: number, seq: number): Promise<number> {
  let lo = 0;
  let hi = end;
  while (hi - lo > LINEAR) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const start = await lineStartFrom(src, mid, hi);
    if (start >= hi) break;
    const s = await seqAt(src, start, end);
    if (s === undefined) break;
    if (s <= seq) lo = start;
    else hi = mid;
  }
  return lo;
}

/** The exact start of the first line of `[0, end)` whose seq is above `seq`, or `end`. */
export async function offsetAbove(src: Source, end: number, seq: number): Promise<number> {
  let pos = await seekAbove(src, end, seq);
  const buf = Buffer.allocUnsafe(64 * 1024);
  let carryStart = -1;
  while (pos < end) {
    const n = await src.readAt(buf, 0, Math.min(buf.length, end - pos), pos);
    if (n === 0) break;
    let start = 0;
    for (let nl = buf.indexOf(NL, 0); nl !== -1 && nl < n; nl = buf.indexOf(NL, start)) {
      const lineStart = carryStart >= 0 ? carryStart : pos + start;
      carryStart = -1;
      const s = await seqAt(src, lineStart, end);
      if (s !== undefined && s > seq) return lineStart;
      start = nl + 1;
    }
    if (start < n && carryStart < 0) carryStart = pos + start;
    pos += n;
  }
  return end;
}
