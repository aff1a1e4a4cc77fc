/** How long an appended entry may sit before it is on stable storage. */
export type Durability = 'always' | 'interval' | 'none';

export interface FileAuditSinkOptions {
  /**
   * `'always'`: `append` resolves after the entry is fsync'd; concurrent appends share one
   * write and one fsync. `'interval'`: resolves after the write, fsync at most every
   * `intervalMs`. `'none'`: resolves after the write (survives a process crash, not a power
   * loss). @default 'always'
   */
  durability?: Durability;
  /** With `durability: 'interval'`: the longest time written entries wait for an fsync. @default 1000 */
  intervalMs?: number;
  /**
   * Key for HMAC-SHA256 record hashes, so that someone who can rewrite the whole file still
   * cannot forge a chain that verifies. A log keeps the protection it was created with.
   * @default undefined (plain SHA-256)
   */
  hmacKey?: string | Uint8Array;
  /** Rotate before a write would take the active file past this many bytes. @default 67108864 (64 MiB) */
  maxBytes?: number;
  /** Rotated (sealed) files to keep besides the active one; older ones are deleted. @default Infinity */
  maxFiles?: number;
  /**
   * When open finds a bad record before the last line, move it and everything after it into
   * `<path>.corrupt` and continue from the last good record, instead of failing. @default false
   */
  repair?: boolean;
  /**
   * Permissions of every file of the log the sink creates or opens for writing (the log,
   * rotated files, `.corrupt`, `.lock`), set exactly, whatever the umask or the file had.
   * The owner must be able to read and write; group and others may read, never write.
   * @default 0o600
   */
  fileMode?: number;
}

export interface ResolvedOptions {
  durability: Durability;
  intervalMs: number;
  hmacKey: Buffer | undefined;
  maxBytes: number;
  maxFiles: number;
  repair: boolean;
  fileMode: number;
}

export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
/** Small enough to exercise rotation in tests, large enough for a seal, a header and an entry. */
export const MIN_MAX_BYTES = 1024;
const DURABILITIES: readonly Durability[] = ['always', 'interval', 'none'];

function describe(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : v === null || typeof v !== 'object' ? String(v) : 'an object';
}

function positiveInt(name: string, v: unknown, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`options.${name} must be an integer >= ${min}, got ${describe(v)}`);
  }
  return v;
}

/**
 * The sink reads and writes its own files, so the owner needs both; anyone else who may
 * write could rewrite the chain (or, without HMAC, forge it), so group and others may read
 * but never write. Nothing beyond the permission bits (setuid, sticky).
 */
function checkFileMode(v: unknown): number {
  if (v === undefined) return 0o600;
  const accepts = 'an integer permission mode with owner read and write, no write for group or others and no other bits (0o600, 0o640 or 0o644)';
  const got = typeof v === 'number' && Number.isInteger(v) ? `0o${v.toString(8)}` : describe(v);
  if (typeof v !== 'number') throw new TypeError(`options.fileMode must be ${accepts}, got ${got}`);
  if (!Number.isInteger(v) || v < 0 || (v & ~0o777) !== 0 || (v & 0o600) !== 0o600 || (v & 0o022) !== 0) {
    throw new RangeError(`options.fileMode must be ${accepts}, got ${got}`);
  }
  return v;
}

export function resolveOptions(options: unknown): ResolvedOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const o = options as FileAuditSinkOptions;
  const durability = o.durability ?? 'always';
  if (!DURABILITIES.includes(durability)) {
    throw new RangeError(`options.durability must be one of ${DURABILITIES.join(', ')}, got ${describe(durability)}`);
  }
  let hmacKey: Buffer | undefined;
  if (o.hmacKey !== undefined) {
    if (typeof o.hmacKey === 'string') hmacKey = Buffer.from(o.hmacKey, 'utf8');
    else if (o.hmacKey instanceof Uint8Array) hmacKey = Buffer.from(o.hmacKey);
    else throw new TypeError(`options.hmacKey must be a string or Uint8Array, got ${describe(o.hmacKey)}`);
    if (hmacKey.length === 0) throw new RangeError('options.hmacKey must not be empty');
  }
  const maxFiles = o.maxFiles === Infinity ? Infinity : positiveInt('maxFiles', o.maxFiles, Infinity);
  if (o.repair !== undefined && typeof o.repair !== 'boolean') throw new TypeError(`options.repair must be a boolean, got ${describe(o.repair)}`);
  const fileMode = checkFileMode(o.fileMode);
  return {
    durability,
    intervalMs: positiveInt('intervalMs', o.intervalMs, 1000),
    hmacKey,
    maxBytes: positiveInt('maxBytes', o.maxBytes, DEFAULT_MAX_BYTES, MIN_MAX_BYTES),
    maxFiles,
    repair: o.repair ?? false,
    fileMode,
  };
}
