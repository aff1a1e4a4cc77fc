import { IteratorError, matchesAuditQuery, normalizeAuditQuery, type AuditQuery, type AuditSink } from '@sochdb-policy/core';
import { stat } from 'node:fs/promises';
import { parseEntryFast } from '../record.js';
import { linesBackward, SCAN_BLOCK_SIZE } from './line-reader.js';
import { logFiles, releaseAll, sourceOf, type LogFile } from './log-files.js';
import { recordView, type AuditRecordView } from './query.js';
import { offsetAbove, seekAbove } from './seek.js';
import type { Source } from './source.js';

/** The contract's streaming types, until `@sochdb-policy/core` exports them by name. */
export type AuditStreamQuery = NonNullable<Parameters<NonNullable<AuditSink['entries']>>[0]>;
export type AuditEntryIterator = ReturnType<NonNullable<AuditSink['entries']>>;

const NL = 0x0a;

/** Options of {@link readAuditLog}: the filters of `query`, an order, a cursor, and follow mode. */
export interface AuditReadOptions extends Omit<AuditQuery, 'limit'> {
  /** Most entries to yield, the first ones in iteration order. @default Infinity */
  limit?: number;
  /** `'asc'`: oldest first (exports, and the only order `follow` has); `'desc'`: newest first. @default 'asc' */
  order?: 'asc' | 'desc';
  /**
   * Resume after this seq, in iteration order: oldest first yields seqs above it, newest
   * first seqs below it. A reader's `cursor` (the seq of the last entry it yielded) fits here.
   */
  after?: number | string;
  /** Oldest first only: at the end of the log, wait for new entries (as `tail -f` does) until closed or aborted. */
  follow?: boolean;
  /** How often `follow` looks for new entries, in milliseconds. @default 200 */
  pollMs?: number;
  /** Most entries read from disk and held for the consumer at once. @default 1024 */
  maxBuffered?: number;
  /** Aborting ends the iteration: the pending or next call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What a reader did so far. */
export interface AuditReadStats {
  /** Entries handed to the consumer. */
  entries: number;
  /** Bytes read from the log's files. */
  bytesRead: number;
  /** Files opened. */
  files: number;
  /**
   * Entries the reader never saw although they were in its range: their file was removed
   * (retention, `maxFiles`) before the reader got to it, seen as a gap in the seqs. A slow
   * consumer alone never drops anything: the file is the buffer, and the reader reads only
   * when pulled.
   */
  dropped: number;
  /** The `maxBuffered` in force. */
  maxBuffered: number;
}

interface Plan {
  q: ReturnType<typeof normalizeAuditQuery>;
  asc: boolean;
  after: number | undefined;
  follow: boolean;
  pollMs: number;
  maxBuffered: number;
  signal: AbortSignal | undefined;
}

function plan(options: AuditReadOptions): Plan {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const { order = 'asc', after, follow = false, pollMs = 200, maxBuffered = 1024, signal, limit, ...filters } = options;
  if (order !== 'asc' && order !== 'desc') throw new RangeError(`order must be 'asc' or 'desc', got ${JSON.stringify(order)}`);
  if (limit !== undefined && limit !== Infinity && (!Number.isSafeInteger(limit) || limit < 0)) throw new RangeError(`limit must be a non-negative integer or Infinity, got ${String(limit)}`);
  const q = normalizeAuditQuery({ ...filters, limit: limit === undefined || limit === Infinity ? Number.MAX_SAFE_INTEGER : limit });
  let seq: number | undefined;
  if (after !== undefined) {
    seq = typeof after === 'string' && /^(0|[1-9][0-9]{0,15})$/.test(after) ? Number(after) : typeof after === 'number' ? after : NaN;
    if (!Number.isSafeInteger(seq) || seq < 0) throw new TypeError(`after must be a seq (a non-negative integer, or a cursor string from a reader), got ${JSON.stringify(after)}`);
  }
  if (follow && order !== 'asc') throw new RangeError("follow reads oldest first: order must be 'asc'");
  if (!Number.isSafeInteger(pollMs) || pollMs < 1) throw new RangeError(`pollMs must be a positive integer, got ${String(pollMs)}`);
  if (!Number.isSafeInteger(maxBuffered) || maxBuffered < 1) throw new RangeError(`maxBuffered must be a positive integer, got ${String(maxBuffered)}`);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  return { q, asc: order === 'asc', after: seq, follow, pollMs, maxBuffered, signal };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}

/**
 * The batches a reader hands out, oldest first. Reads each file forward in blocks from where
 * the cursor is (found by bisection), one block in memory at a time; with `follow`, keeps the
 * active file open and polls it, and on rotation drains the old file and moves on.
 */
async function* ascending(files: () => Promise<LogFile[]>, path: string, p: Plan, stats: AuditReadStats): AsyncGenerator<AuditRecordView[]> {
  let last = p.after ?? 0;
  let anchored = p.after !== undefined;
  let remaining = p.q.limit;
  let batch: AuditRecordView[] = [];
  const buf = Buffer.allocUnsafe(SCAN_BLOCK_SIZE);
  let carry: Buffer | undefined;

  /** Complete lines of `src` in `[pos, end)`; returns where the next unread line starts. */
  async function* read(src: Source, pos: number, end: number): AsyncGenerator<AuditRecordView[], number> {
    carry = undefined;
    let carryStart = pos;
    while (pos < end && remaining > 0) {
      if (p.signal?.aborted) throw p.signal.reason;
      const n = await src.readAt(buf, 0, Math.min(buf.length, end - pos), pos);
      if (n === 0) break;
      stats.bytesRead += n;
      let start = 0;
      for (let nl = buf.indexOf(NL); nl !== -1 && nl < n; nl = buf.indexOf(NL, start)) {
        let line: Buffer;
        if (carry !== undefined) {
          line = Buffer.concat([carry, buf.subarray(0, nl)]);
          carry = undefined;
        } else line = buf.subarray(start, nl);
        start = nl + 1;
        const r = parseEntryFast(line);
        if (r === undefined || r.seq <= last) continue;
        if (anchored && r.seq > last + 1) stats.dropped += r.seq - last - 1;
        last = r.seq;
        anchored = true;
        const view = recordView(r);
        if (!matchesAuditQuery(view, p.q)) continue;
        batch.push(view);
        if (--remaining === 0) break;
        if (batch.length >= p.maxBuffered) {
          yield batch;
          batch = [];
        }
      }
      if (remaining === 0) return pos + start;
      if (start < n) {
        if (carry === undefined) carryStart = pos + start;
        // Copy: `buf` is reused for the next block.
        carry = carry === undefined ? Buffer.from(buf.subarray(start, n)) : Buffer.concat([carry, buf.subarray(start, n)]);
      }
      pos += n;
    }
    return carry === undefined ? pos : carryStart;
  }

  /** Reads the files listed (releasing lent descriptors); keeps the active one open for `follow`. */
  async function* readFiles(list: LogFile[]): AsyncGenerator<AuditRecordView[], { src: Source; ino: number; pos: number } | undefined> {
    let keep: { src: Source; ino: number; pos: number } | undefined;
    try {
      for (let i = 0; i < list.length && remaining > 0; i++) {
        const file = list[i]!;
        list[i] = { ...file, source: undefined };
        const src = await sourceOf(file);
        if (src === undefined) continue; // removed meanwhile: `dropped` counts what it held
        let kept = false;
        try {
          stats.files++;
          const end = file.end ?? (await src.size());
          const start = last > 0 ? await seekAbove(src, end, last) : 0;
          const pos = yield* read(src, start, end);
          if (p.follow && file.active && i === list.length - 1) {
            keep = { src, ino: await src.ino(), pos };
            kept = true;
          }
        } finally {
          if (!kept) await src.close();
        }
      }
    } finally {
      await releaseAll(list);
    }
    return keep;
  }

  let active: { src: Source; ino: number; pos: number } | undefined;
  try {
    active = yield* readFiles(await files());
    if (batch.length > 0) {
      yield batch;
      batch = [];
    }
    while (p.follow && remaining > 0) {
      await sleep(p.pollMs, p.signal);
      const st = await stat(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (active !== undefined) {
        // Still the active file: read what was appended. Rotated away: drain it (it is final), then re-list.
        active.pos = yield* read(active.src, active.pos, await active.src.size());
        if (st?.ino !== active.ino) {
          const old = active;
          active = undefined;
          await old.src.close();
        }
      }
      if (active === undefined && st !== undefined) active = yield* readFiles(await logFiles(path));
      if (batch.length > 0) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  } finally {
    await active?.src.close();
  }
}

/** Newest first: each file read backwards in blocks from where the cursor is. */
async function* descending(files: () => Promise<LogFile[]>, p: Plan, stats: AuditReadStats): AsyncGenerator<AuditRecordView[]> {
  let last = p.after ?? Infinity;
  let remaining = p.q.limit;
  let batch: AuditRecordView[] = [];
  const list = await files();
  try {
    for (let i = list.length - 1; i >= 0 && remaining > 0; i--) {
      const file = list[i]!;
      list[i] = { ...file, source: undefined };
      const src = await sourceOf(file);
      if (src === undefined) continue;
      try {
        stats.files++;
        let end = file.end ?? (await src.size());
        if (last !== Infinity) end = await offsetAbove(src, end, last - 1);
        const counting: Source = { ...src, readAt: async (b, o, l, pos) => ((stats.bytesRead += l), src.readAt(b, o, l, pos)) };
        for await (const line of linesBackward(counting, end)) {
          if (p.signal?.aborted) throw p.signal.reason;
          const r = parseEntryFast(line.bytes);
          if (r === undefined || r.seq >= last) continue;
          last = r.seq;
          const view = recordView(r);
          if (!matchesAuditQuery(view, p.q)) continue;
          batch.push(view);
          if (--remaining === 0) break;
          if (batch.length >= p.maxBuffered) {
            yield batch;
            batch = [];
          }
        }
      } finally {
        await src.close();
      }
    }
    if (batch.length > 0) yield batch;
  } finally {
    await releaseAll(list);
  }
}

/**
 * A lazy reader over the entries of an audit log: every matching entry, in either order,
 * resumable from a seq, in bounded memory (one block of the file plus at most `maxBuffered`
 * entries) whatever the size of the log or the number of matches.
 *
 * One call at a time (a second pending call rejects with code `iterator_busy`; after close,
 * `iterator_closed`). `break` out of `for await`, `close()` and an aborted signal close the
 * files it holds. With a sink's snapshot, the sink's retention waits until then.
 */
export class AuditLogReader implements AsyncIterable<AuditRecordView> {
  readonly #gen: AsyncGenerator<AuditRecordView[]>;
  readonly #signal: AbortSignal | undefined;
  readonly #stats: AuditReadStats;
  #buf: AuditRecordView[] = [];
  #i = 0;
  #busy = false;
  #closed = false;
  #closing: Promise<void> | undefined = undefined;
  #done = false;
  #cursor: string | undefined;

  /** Use {@link readAuditLog} or `FileAuditSink.entries`. */
  constructor(files: () => Promise<LogFile[]>, path: string, options: AuditReadOptions = {}) {
    const p = plan(options);
    this.#signal = p.signal;
    this.#cursor = p.after === undefined ? undefined : String(p.after);
    this.#stats = { entries: 0, bytesRead: 0, files: 0, dropped: 0, maxBuffered: p.maxBuffered };
    this.#gen = p.asc ? ascending(files, path, p, this.#stats) : descending(files, p, this.#stats);
  }

  /** The seq of the last entry yielded, as text (pass it back as `after` to resume); the `after` given until then. */
  get cursor(): string | undefined {
    return this.#cursor;
  }

  get stats(): AuditReadStats {
    return { ...this.#stats };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The next entry, or undefined at the end. */
  async next(): Promise<AuditRecordView | undefined> {
    this.#enter('next');
    try {
      if (this.#i >= this.#buf.length && !(await this.#fill())) return undefined;
      return this.#take(1)[0];
    } finally {
      this.#busy = false;
    }
  }

  /** Up to `size` further entries (fewer when fewer are buffered); an empty array at the end. */
  async nextv(size: number): Promise<AuditRecordView[]> {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) throw new RangeError(`size must be a positive integer, got ${String(size)}`);
    this.#enter('nextv');
    try {
      if (this.#i >= this.#buf.length && !(await this.#fill())) return [];
      return this.#take(size);
    } finally {
      this.#busy = false;
    }
  }

  /** Closes the files it holds; later calls reject with `iterator_closed`. Closing twice is fine. */
  close(): Promise<void> {
    // Every call waits for the same closing, so a close() that follows an abort (which starts
    // closing on its own) resolves only once the files are closed.
    if (this.#closing === undefined) {
      this.#closed = true;
      this.#buf = [];
      this.#closing = this.#gen.return(undefined).then(() => undefined);
    }
    return this.#closing;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<AuditRecordView, void, undefined> {
    try {
      for (;;) {
        const r = await this.next();
        if (r === undefined) return;
        yield r;
      }
    } finally {
      await this.close();
    }
  }

  #take(size: number): AuditRecordView[] {
    const out = size === 1 ? [this.#buf[this.#i]!] : this.#buf.slice(this.#i, this.#i + size);
    this.#i += out.length;
    this.#stats.entries += out.length;
    this.#cursor = String(out[out.length - 1]!.seq);
    return out;
  }

  async #fill(): Promise<boolean> {
    while (!this.#done) {
      let r: IteratorResult<AuditRecordView[]>;
      try {
        r = await this.#gen.next();
      } catch (error) {
        this.#done = true;
        this.#closed = true;
        throw error;
      }
      if (r.done) {
        this.#done = true;
        break;
      }
      this.#buf = r.value;
      this.#i = 0;
      if (this.#buf.length > 0) return true;
    }
    this.#buf = [];
    return false;
  }

  #enter(call: string): void {
    if (this.#closed) throw new IteratorError('iterator_closed', `${call}() on a closed reader`);
    if (this.#busy) throw new IteratorError('iterator_busy', `${call}() while another call on this reader is pending; await it first`);
    if (this.#signal?.aborted) {
      // The caller gets the reason now; close() (or the rejection's own close) awaits the files.
      this.close().catch(() => {});
      throw this.#signal.reason;
    }
    this.#busy = true;
  }
}

/**
 * Every entry of the log at `path` matching the filters, lazily, as it is on disk when the
 * first entry is pulled (with `follow`, and everything appended after). No sink needed.
 *
 * ```ts
 * for await (const r of readAuditLog('/var/log/agents/audit.log', { agentId: 'agent_7', since })) {
 *   out.write(JSON.stringify(r) + '\n');
 * }
 * ```
 */
export function readAuditLog(path: string, options: AuditReadOptions = {}): AuditLogReader {
  if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
  return new AuditLogReader(() => logFiles(path), path, options);
}
