import { createHmac, hash as oneShotHash } from 'node:crypto';

/** Hash algorithms a log may use; named in every file's header record. */
export type HashAlg = 'sha256' | 'hmac-sha256';

/** Computes record hashes: SHA-256, or HMAC-SHA256 when the log has a key. Lowercase hex. */
export interface Hasher {
  readonly alg: HashAlg;
  /** Hash of a record body given as text (encoded as UTF-8). */
  text(body: string): string;
}

export function makeHasher(key: Buffer | undefined): Hasher {
  if (key === undefined) {
    return {
      alg: 'sha256',
      // crypto.hash is a one-shot digest without a Hash object: the append path's hot spot.
      text: (body) => oneShotHash('sha256', body, 'hex'),
    };
  }
  return {
    alg: 'hmac-sha256',
    text: (body) => createHmac('sha256', key).update(body).digest('hex'),
  };
}
