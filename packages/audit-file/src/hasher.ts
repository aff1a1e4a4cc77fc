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

export function makeHasher(key: Buffer | undefined): Hasher {
  if (key === undefined) {
    return {
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
    };
  }
  return {
    alg: 'hmac-sha256',
    text: (body) => createHmac('sha256', key).update(body).digest('hex'),
    line: (line) => createHmac('sha256', key).update(line.subarray(0, line.length - HASH_MEMBER)).update('}').digest('hex'),
  };
}
