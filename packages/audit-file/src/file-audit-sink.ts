import type { AuditEntry, AuditQuery, AuditSink } from '@sochdb-policy/core';
import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { AuditFileError, AuditFileErrorCode } from './errors.js';
import { makeHasher } from './hasher.js';
import { acquireLock } from './write/lock.js';
import { ioError, openLog, type RecoveryReport } from './write/open-log.js';
import { resolveOptions, type Durability, type FileAuditSinkOptions, type ResolvedOptions } from './options.js';
import { AuditLogReader, type AuditEntryIterator, type AuditReadOptions, type AuditStreamQuery } from './read/entries.js';
import { queryFiles, type AuditRecordView } from './read/query.js';
import { validateDecisionFields, validateEntry } from './validate-entry.js';
import { verifyFiles, type AuditAnchor, type VerifyResult } from './read/verify.js';
import { LogWriter, type WriterStats } from './write/writer.js';

/** An entry as the engine wrote it: the view without its seq and hash (decision fields kept when recorded). */
function entryOf(r: AuditRecordView): AuditEntry {
  const { seq: _seq, hash: _hash, ...entry } = r;
  return entry;
}

const OPENING = Symbol('FileAuditSink.open');

/**
 * The log's path with its directory resolved: every name of one log (a symlinked or bind-
 * mounted directory, `..`) leads to the same files and the same lock. The last component is
 * not resolved: a symlink there is refused, not followed.
 */
function realPath(path: string): string {
  const abs = resolve(path);
  try {
    return join(realpathSync(dirname(abs)), basename(abs));
  } catch (error) {
    throw ioError(abs, error);
  }
}

/**
 * An {@link AuditSink} that appends every entry to a hash-chained JSON Lines file.
 *
 * ```ts
 * const sink = await FileAuditSink.open('/var/log/agents/audit.log');
 * const policy = new PolicyEngine(db, { auditSink: sink });
 * ```
 */
export class FileAuditSink implements AuditSink {
  /** Capability `stream`: {@link entries}. */
  readonly supports = { stream: true, decisionFields: true } as const;
  /** Absolute path of the active file, its directory resolved (no symlinks). */
  readonly path: string;
  readonly durability: Durability;
  /** What open did to recover from a crash or (with `repair`) from corruption. */
  readonly recovery: RecoveryReport;
  readonly #opts: ResolvedOptions;
  readonly #writer: LogWriter;
  readonly #unlock: () => void;
  #closed = false;

  /** Use {@link FileAuditSink.open}. */
  constructor(token: symbol, path: string, opts: ResolvedOptions, writer: LogWriter, recovery: RecoveryReport, unlock: () => void) {
    if (token !== OPENING) throw new TypeError('use FileAuditSink.open(path, options)');
    this.path = path;
    this.durability = opts.durability;
    this.#opts = opts;
    this.#writer = writer;
    this.recovery = recovery;
    this.#unlock = unlock;
  }

  /**
   * Opens (or creates) the log at `path`: takes the writer lock, recovers from a crash and
   * resumes the chain. Rejects with {@link AuditFileError} (`corrupt`, `locked`, `io`,
   * `key_required`, `wrong_key`).
   */
  static async open(path: string, options: FileAuditSinkOptions = {}): Promise<FileAuditSink> {
    if (typeof path !== 'string' || path === '') throw new TypeError(`path must be a non-empty string, got ${typeof path === 'string' ? '""' : typeof path}`);
    const opts = resolveOptions(options);
    const abs = realPath(path);
    const unlock = acquireLock(abs, opts.fileMode);
    try {
      const hasher = makeHasher(opts.hmacKey);
      const { state, recovery } = await openLog(abs, opts, hasher).catch((error: unknown) => {
        throw ioError(abs, error);
      });
      return new FileAuditSink(OPENING, abs, opts, new LogWriter(abs, opts, hasher, state), recovery, unlock);
    } catch (error) {
      unlock();
      throw error;
    }
  }

  /** Seq of the last entry written. */
  get lastSeq(): number {
    return this.#writer.lastSeq;
  }

  /** Hash of the last record written: with {@link lastSeq}, an anchor worth keeping elsewhere. */
  get lastHash(): string {
    return this.#writer.lastHash;
  }

  /** Entries, writes, fsyncs and rotations since open: with `'always'`, fsyncs well below entries means group commit is working. */
  get stats(): WriterStats {
    return this.#writer.stats;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Appends an entry; resolves once it is as durable as `durability` promises. Rejects (and
   * the entry is not acknowledged) when it cannot be written: the engine then fails the
   * operation with code `audit_unavailable`.
   */
  async append(entry: AuditEntry): Promise<void> {
    await this.write(entry);
  }

  /** {@link append} that resolves with the entry's seq. */
  write(entry: AuditEntry): Promise<number> {
    try {
      validateDecisionFields(validateEntry(entry));
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#writer.append(entry);
  }

  /** The newest `limit` (default 100) entries matching the filters, oldest first (rule A3). */
  async query(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const records = await this.queryRecords(query);
    return records.map(entryOf);
  }

  /** Like {@link query}, with each entry's seq and hash. */
  async queryRecords(query: AuditQuery = {}): Promise<AuditRecordView[]> {
    this.#assertOpen();
    return queryFiles(this.#writer.snapshot(), query);
  }

  /**
   * Every matching entry, lazily, oldest first (or newest first with `order: 'desc'`), in
   * bounded memory (the `AuditSink` capability `stream`). The cursor is the seq of the last
   * entry yielded. See {@link records} for entries with their seq and hash.
   */
  entries(query: AuditStreamQuery = {}): AuditEntryIterator {
    const reader = this.records(query);
    const strip = entryOf;
    return {
      get cursor() {
        return reader.cursor;
      },
      next: async () => {
        const r = await reader.next();
        return r === undefined ? undefined : strip(r);
      },
      nextv: async (size) => (await reader.nextv(size)).map(strip),
      close: () => reader.close(),
      async *[Symbol.asyncIterator]() {
        for await (const r of reader) yield strip(r);
      },
    };
  }

  /**
   * Like {@link entries}, with each entry's seq and hash, and the options of `readAuditLog`
   * (`follow`, `maxBuffered`, `stats`). Reads the log as written when the first entry is
   * pulled; retention waits until the reader is closed (or reaches the end), so `break` or
   * `close()` a reader you stop early.
   */
  records(options: AuditReadOptions = {}): AuditLogReader {
    this.#assertOpen();
    return new AuditLogReader(async () => {
      this.#assertOpen();
      return this.#writer.snapshot();
    }, this.path, options);
  }

  /** Verifies every file of the log up to the last write (see {@link VerifyResult}). */
  async verify(options: { anchor?: AuditAnchor } = {}): Promise<VerifyResult> {
    this.#assertOpen();
    return verifyFiles(this.#writer.snapshot(), { hmacKey: this.#opts.hmacKey, anchor: options.anchor });
  }

  /** Resolves when every entry appended so far is fsync'd (useful with `'interval'` and `'none'`). */
  flush(): Promise<void> {
    return this.#writer.flush();
  }

  /** Flushes, fsyncs and closes the file and releases the lock. Later calls reject with code `closed`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#writer.close();
    } finally {
      this.#unlock();
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new AuditFileError(AuditFileErrorCode.CLOSED, `audit log ${this.path} is closed`, { file: this.path });
  }
}
