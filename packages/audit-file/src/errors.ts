/** Stable codes of {@link AuditFileError}; assert on these, not on messages. */
export const AuditFileErrorCode = {
  /** The sink was closed; nothing more can be appended or read through it. */
  CLOSED: 'closed',
  /** A write, fsync, open or rename failed; the fs error is the `cause`. */
  IO: 'io',
  /** The active file was removed or replaced under the sink, so entries would be lost. */
  FILE_REMOVED: 'file_removed',
  /** An earlier failure left the file in an unknown state; reopen the sink. */
  FAILED: 'failed',
  /** Open found a record that does not verify before the last line (see `offset`). */
  CORRUPT: 'corrupt',
  /** A file of the log is a symlink, FIFO, directory or device where a regular file belongs. */
  NOT_A_FILE: 'not_a_file',
  /** Another process (or this one) holds the log's writer lock. */
  LOCKED: 'locked',
  /** The log is HMAC-protected and no `hmacKey` was given. */
  KEY_REQUIRED: 'key_required',
  /** The given `hmacKey` does not verify the log, or the log has no HMAC and a key was given. */
  WRONG_KEY: 'wrong_key',
} as const;
export type AuditFileErrorCode = (typeof AuditFileErrorCode)[keyof typeof AuditFileErrorCode];

export interface AuditFileErrorOptions {
  cause?: unknown;
  /** The file the error is about. */
  file?: string;
  /** Byte offset in `file` of the first bad record. */
  offset?: number;
}

/** Raised (or rejected with) by the file sink; `code` is stable, the original error is `cause`. */
export class AuditFileError extends Error {
  override readonly name = 'AuditFileError';
  readonly code: AuditFileErrorCode;
  readonly file: string | undefined;
  readonly offset: number | undefined;

  constructor(code: AuditFileErrorCode, message: string, options: AuditFileErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.file = options.file;
    this.offset = options.offset;
  }
}

/** `fs` errors carry an errno code such as ENOSPC; show it in our messages. */
export function errnoOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}
