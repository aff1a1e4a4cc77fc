/**
 * Why a call to Redis failed. `consume` rejects with it (or answers from `insurance`); the
 * engine reports it as the `cause` of a PolicyViolation with code `limiter_unavailable`.
 * - `timeout`: no answer within `timeoutMs`.
 * - `unavailable`: the client is disconnected and reconnecting, so the call was not sent.
 * - `redis_error`: Redis or the connection answered with an error.
 * - `bad_reply`: the script answered something it never sends (another script under its SHA?).
 * - `closed`: `close()` was called on this store.
 */
export type RedisRateLimitErrorCode = 'timeout' | 'unavailable' | 'redis_error' | 'bad_reply' | 'closed';

export class RedisRateLimitError extends Error {
  override readonly name = 'RedisRateLimitError';
  readonly code: RedisRateLimitErrorCode;
  constructor(code: RedisRateLimitErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}
