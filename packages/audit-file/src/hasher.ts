import { createHmac, hash as oneShotHash } from 'node:crypto';

/** Hash algorithms a log may use; named in every file's header record. */
export type HashAlg = 'sha256' | 'hmac-sha256';

/** `,"hash":"` + 64 hex + `"}`: the hash member that ends every line. */
const HASH_MEMBER = 75;
const CLOSE = 0x7d;

/** Computes record hashes: SHA-256, or HMAC-SHA256 when the log has a key. Lowercase hex. */
export interface Hasher {
  readonly alg: HashAlg;
  /** Hash of a record body given as text (encoded as UTF-8). */
  text(body: string): string;
  /**
   * Hash of the body of a canonical line (without its newline): the line's bytes minus its
   * hash member, plus `}`. Only for lines known to be canonical, whose bytes are their body's.
   */
  line(line: Buffer): string;
}

/**
 * Internal: {@link Hasher.line} of the line `buf[start, end)` without making a view of the
 * line first (verify hashes every line of a block: one view less per line counts).
 */
export const HASH_RANGE = Symbol('hashRange');
type RangeHasher = Hasher & { [HASH_RANGE](buf: Buffer, start: number, end: number): string };

/** The hash of the canonical line `buf[start, end)` (without its newline): `hasher.line` of it. */
export function hashLineAt(hasher: Hasher, buf: Buffer, start: number, end: number): string {
  const fast = (hasher as Partial<RangeHasher>)[HASH_RANGE];
  return fast === undefined ? hasher.line(buf.subarray(start, end)) : fast(buf, start, end);
}

export function makeHasher(key: Buffer | undefined): Hasher {
  if (key === undefined) {
    const sha: RangeHasher = {
      alg: 'sha256',
      // crypto.hash is a one-shot digest without a Hash object: the append path's hot spot.
      text: (body) => oneShotHash('sha256', body, 'hex'),
      line: (line) => {
        // The body is the line up to its hash member with `}` in place of that member's comma:
        // put it there for the one-shot digest, then put the comma back.
        const at = line.length - HASH_MEMBER;
        const saved = line[at]!;
        line[at] = CLOSE;
        try {
          return oneShotHash('sha256', line.subarray(0, at + 1), 'hex');
        } finally {
          line[at] = saved;
        }
      },
      [HASH_RANGE]: (buf, start, end) => {
        const at = end - HASH_MEMBER;
        const saved = buf[at]!;
        buf[at] = CLOSE;
        try {
          return oneShotHash('sha256', buf.subarray(start, at + 1), 'hex');
        } finally {
          buf[at] = saved;
        }
      },
    };
    return sha;
  }
  return {
    alg: 'hmac-sha256',
    text: (body) => createHmac('sha256', key).update(body).digest('hex'),
    line: (line) => createHmac('sha256', key).update(line.subarray(0, line.length - HASH_MEMBER)).update('}').digest('hex'),
  };
}
