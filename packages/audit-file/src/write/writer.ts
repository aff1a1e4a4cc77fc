import type { AuditEntry } from '@sochdb-policy/core';
import { fstatSync, ftruncateSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { ActiveFile } from './active-file.js';
import { AuditFileError, AuditFileErrorCode, errnoOf } from '../errors.js';
import { fdatasyncP, fsyncDir, writeAll } from './fs-sync.js';
import type { Hasher } from '../hasher.js';
import type { LogFile } from '../read/log-files.js';
import type { LogState } from './log-state.js';
import type { ResolvedOptions } from '../options.js';
import { FORMAT_VERSION, GENESIS_HASH, entryBody, headerBody, lineOf, sealBody } from '../record.js';
import { FLAGS, applyMode, openFileSync } from '../safe-open.js';
import { rotatedPath } from '../segments.js';
import { fdSource } from '../read/source.js';

type EntryItem = { kind: 'entry'; entry: AuditEntry; resolve: (seq: number) => void; reject: (error: unknown) => void };
type BarrierItem = { kind: 'barrier'; resolve: () => void; reject: (error: unknown) => void };
type Item = EntryItem | BarrierItem;

/** Counters since open: how well appends were batched. */
export interface WriterStats {
  /** Entries written. */
  entries: number;
  /** write() calls that carried entries (each one batch). */
  writes: number;
  /** fsyncs of the active file, batches and flushes alike. */
  fsyncs: number;
  rotations: number;
}

/** Entries per write: bounds a batch's memory and how far a batch can overshoot maxBytes. */
const MAX_BATCH = 1024;
/** Room kept for the seal so a sealed file stays within maxBytes: the longest seal line there can be. */
const SEAL_RESERVE = Buffer.byteLength(lineOf(sealBody(Number.MAX_SAFE_INTEGER, GENESIS_HASH), GENESIS_HASH));
/** Without fsyncs to wait on, yield to timers and I/O this often while appends keep coming. */
const BATCHES_PER_YIELD = 64;

/**
 * Appends entries in batches (group commit): entries that arrive while a write or fsync is
 * in progress go out together in the next one. One drain loop does all I/O, so the chain,
 * rotation and fsyncs never interleave.
 */
export class LogWriter {
  readonly #path: string;
  readonly #opts: ResolvedOptions;
  readonly #hasher: Hasher;
  #s: LogState;
  #queue: Item[] = [];
  #scheduled = false;
  #drain: Promise<void> | undefined;
  #failure: AuditFileError | undefined;
  #closing = false;
  /** The descriptor was closed: nothing may touch it any more. */
  #retired = false;
  #readers = 0;
  #closed: Promise<void> | undefined;
  #dirty = false;
  #syncDue = false;
  #syncTimer: NodeJS.Timeout | undefined;
  #lastSync = Date.now();
  readonly #stats: WriterStats = { entries: 0, writes: 0, fsyncs: 0, rotations: 0 };

  constructor(path: string, opts: ResolvedOptions, hasher: Hasher, state: LogState) {
    this.#path = path;
    this.#opts = opts;
    this.#hasher = hasher;
    this.#s = state;
  }

  get lastSeq(): number {
    return this.#s.lastSeq;
  }

  get lastHash(): string {
    return this.#s.lastEntryHash;
  }

  get stats(): WriterStats {
    return { ...this.#stats };
  }

  /** The error that made the writer unusable, if any. */
  get failure(): AuditFileError | undefined {
    return this.#failure;
  }

  append(entry: AuditEntry): Promise<number> {
    const refused = this.#refusal();
    if (refused) return Promise.reject(refused);
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ kind: 'entry', entry, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves when everything appended so far is written and fsync'd. */
  flush(): Promise<void> {
    const refused = this.#refusal();
    if (refused) return Promise.reject(refused);
    return this.#barrier();
  }

  /** Files as they stand now, the active one lent by descriptor and cut at the last complete write. */
  snapshot(): LogFile[] {
    const files: LogFile[] = this.#s.rotated.map((f) => ({ path: f.path, active: false }));
    const active = this.#s.active;
    const giveBack = active.borrow();
    // Retention waits while a reader has the list: it must not delete a file the reader still needs.
    this.#readers++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#readers--;
      giveBack();
    };
    files.push({ path: this.#path, active: true, end: this.#s.size, source: fdSource(active.fd, release) });
    return files;
  }

  /** Flushes, then closes the file; later appends reject with code `closed`. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      let error: unknown;
      if (this.#failure === undefined) await this.#barrier().catch((e: unknown) => (error = e));
      clearTimeout(this.#syncTimer);
      await this.#drain;
      this.#retired = true;
      this.#s.active.retire();
      if (error !== undefined) throw error;
    })();
    return this.#closed;
  }

  #refusal(): AuditFileError | undefined {
    if (this.#closing) return new AuditFileError(AuditFileErrorCode.CLOSED, `audit log ${this.#path} is closed`, { file: this.#path });
    if (this.#failure) return this.#failedError();
    return undefined;
  }

  #failedError(): AuditFileError {
    return new AuditFileError(AuditFileErrorCode.FAILED, `audit log ${this.#path} is unavailable after an earlier failure (${this.#failure!.message}); reopen it`, {
      cause: this.#failure,
      file: this.#path,
    });
  }

  #barrier(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ kind: 'barrier', resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#drain !== undefined || this.#scheduled) return;
    this.#scheduled = true;
    // A microtask, not a timer: the appends of every caller resumed by the last batch get
    // queued before the drain starts, so they share the next write.
    queueMicrotask(() => {
      this.#scheduled = false;
      if (this.#drain !== undefined) return;
      this.#drain = this.#run()
        .catch((error: unknown) => this.#fail(new AuditFileError(AuditFileErrorCode.IO, `audit writer failed: ${errnoOf(error)}`, { cause: error })))
        .finally(() => {
          this.#drain = undefined;
          if (this.#queue.length > 0 || this.#syncDue) this.#schedule();
        });
    });
  }

  async #run(): Promise<void> {
    let batches = 0;
    for (;;) {
      if (this.#retired) {
        const error = this.#refusal()!;
        for (const item of this.#queue.splice(0)) item.reject(error);
        return;
      }
      if (this.#failure) {
        const error = this.#failedError();
        for (const item of this.#queue.splice(0)) item.reject(error);
        return;
      }
      const first = this.#queue[0];
      if (first === undefined) {
        if (!this.#syncDue) return;
        this.#syncDue = false;
        await this.#sync();
        continue;
      }
      if (first.kind === 'barrier') {
        this.#queue.shift();
        await this.#sync();
        if (this.#failure) first.reject(this.#failedError());
        else first.resolve();
        continue;
      }
      let end = 1;
      while (end < this.#queue.length && end < MAX_BATCH && this.#queue[end]!.kind === 'entry') end++;
      await this.#commit(this.#queue.splice(0, end) as EntryItem[]);
      if (this.#opts.durability !== 'always' && ++batches % BATCHES_PER_YIELD === 0) await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Lines for the entries of `batch` that fit in `budget` bytes (at least one), chained on
   * from the last record.
   */
  #serialize(batch: EntryItem[], budget: number): { buf: Buffer; seq: number; hash: string; taken: number } {
    let seq = this.#s.lastSeq;
    let hash = this.#s.lastHash;
    let text = '';
    let bytes = 0;
    let taken = 0;
    for (const item of batch) {
      const body = entryBody(seq + 1, item.entry, hash, FORMAT_VERSION);
      const h = this.#hasher.text(body);
      const line = lineOf(body, h);
      bytes += Buffer.byteLength(line);
      if (bytes > budget && taken > 0) break;
      text += line;
      seq++;
      hash = h;
      taken++;
    }
    return { buf: Buffer.from(text, 'utf8'), seq, hash, taken };
  }

  async #commit(batch: EntryItem[]): Promise<void> {
    let seq: number;
    try {
      const budget = () => this.#opts.maxBytes - SEAL_RESERVE - this.#s.size;
      let out = this.#serialize(batch, budget());
      if (this.#s.entriesInFile > 0 && out.buf.length > budget()) {
        await this.#rotate();
        out = this.#serialize(batch, budget());
      }
      if (out.taken < batch.length) this.#queue.unshift(...batch.splice(out.taken));
      this.#write(out.buf);
      this.#stats.writes++;
      this.#stats.entries += batch.length;
      this.#s.lastSeq = seq = out.seq;
      this.#s.lastHash = this.#s.lastEntryHash = out.hash;
      this.#s.entriesInFile += batch.length;
      if (this.#opts.durability === 'always') await this.#sync();
      else if (this.#opts.durability === 'interval') this.#armSyncTimer();
      if (this.#failure) throw this.#failure;
      this.#checkFile();
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    const first = seq - batch.length + 1;
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(first + i);
  }

  /** Appends bytes; a failed write is cut back off so the file still ends with a whole line. */
  #write(buf: Buffer): void {
    const fd = this.#s.active.fd;
    try {
      writeAll(fd, buf);
    } catch (error) {
      const failure = new AuditFileError(AuditFileErrorCode.IO, `cannot write to audit log ${this.#path}: ${errnoOf(error)}`, { cause: error, file: this.#path });
      try {
        ftruncateSync(fd, this.#s.size);
      } catch {
        this.#fail(failure); // the file may end in a torn line: only a reopen can recover it
      }
      throw failure;
    }
    this.#s.size += buf.length;
    this.#dirty = true;
  }

  async #sync(): Promise<void> {
    if (!this.#dirty || this.#failure || this.#retired) return;
    try {
      this.#stats.fsyncs++;
      await fdatasyncP(this.#s.active.fd);
      this.#dirty = false;
      this.#lastSync = Date.now();
    } catch (error) {
      // After a failed fsync the kernel may have dropped the dirty pages and cleared the
      // error, so a retry could "succeed" without the data: never trust this file again.
      this.#fail(new AuditFileError(AuditFileErrorCode.IO, `cannot fsync audit log ${this.#path}: ${errnoOf(error)}`, { cause: error, file: this.#path }));
    }
  }

  #armSyncTimer(): void {
    if (this.#syncTimer !== undefined) return;
    const wait = Math.max(0, this.#lastSync + this.#opts.intervalMs - Date.now());
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      this.#syncDue = true;
      this.#schedule();
    }, wait);
    this.#syncTimer.unref();
  }

  /** Writes to a file that is no longer at `path` would be lost with it. */
  #checkFile(): void {
    const st = statSync(this.#path, { throwIfNoEntry: false });
    if (st === undefined || st.ino !== this.#s.ino || st.dev !== this.#s.dev) {
      this.#fail(new AuditFileError(AuditFileErrorCode.FILE_REMOVED, `audit log ${this.#path} was removed or replaced while open`, { file: this.#path }));
      throw this.#failure;
    }
  }

  #fail(error: AuditFileError): void {
    this.#failure ??= error;
  }

  /**
   * Seals the active file (its last seq and hash), renames it to `path.N` and starts a new
   * file whose header links to the seal. A crash at any step is finished by the next open.
   */
  async #rotate(): Promise<void> {
    const s = this.#s;
    const sealB = sealBody(s.lastSeq, s.lastHash);
    const sealHash = this.#hasher.text(sealB);
    this.#write(Buffer.from(lineOf(sealB, sealHash)));
    s.lastHash = sealHash;
    const step = (what: string, error: unknown) =>
      new AuditFileError(AuditFileErrorCode.IO, `cannot rotate audit log ${this.#path} (${what}): ${errnoOf(error)}`, { cause: error, file: this.#path });
    // From here the file ends with a seal: a failure leaves the rest of the rotation to the next open.
    try {
      await fdatasyncP(s.active.fd);
    } catch (error) {
      this.#fail(step('fsync', error));
      throw this.#failure;
    }
    const n = (s.rotated.at(-1)?.n ?? 0) + 1;
    const to = rotatedPath(this.#path, n);
    const headerB = headerBody(this.#hasher.alg, s.lastSeq, sealHash, FORMAT_VERSION);
    const headerHash = this.#hasher.text(headerB);
    try {
      // One synchronous step, so readers see either the old file or the new one.
      renameSync(this.#path, to);
      const fd = openFileSync(this.#path, FLAGS.create, this.#opts.fileMode);
      const next = new ActiveFile(fd);
      const header = Buffer.from(lineOf(headerB, headerHash));
      try {
        applyMode(fd, this.#opts.fileMode);
        writeAll(fd, header);
      } catch (error) {
        next.retire();
        throw error;
      }
      const st = fstatSync(fd);
      s.active.retire();
      s.rotated.push({ path: to, n });
      Object.assign(s, { active: next, ino: st.ino, dev: st.dev, size: header.length, entriesInFile: 0, lastHash: headerHash });
      this.#dirty = true;
      await fdatasyncP(fd);
      this.#dirty = false;
      fsyncDir(dirname(this.#path));
    } catch (error) {
      this.#fail(step('new file', error));
      throw this.#failure;
    }
    this.#stats.rotations++;
    this.#retain();
  }

  /** Deletes the oldest rotated files beyond maxFiles; best effort, the chain does not depend on them. */
  #retain(): void {
    const rotated = this.#s.rotated;
    while (rotated.length > this.#opts.maxFiles && this.#readers === 0) {
      try {
        unlinkSync(rotated[0]!.path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return;
      }
      rotated.shift();
    }
  }
}
