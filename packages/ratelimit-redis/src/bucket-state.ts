/** What a bucket's Redis key holds; an absent key is a full bucket. */
export interface BucketState {
  /** Units left after the last take: tokens × windowMs (so `level / windowMs` whole tokens then). */
  level: number;
  /** Millisecond of the last take: Redis TIME, or the caller's clock with `clock: 'caller'`. */
  last: number;
  /** Millisecond (same clock) the key's TTL ends; never before the bucket is full again. */
  expiresAt: number;
}

/** Reads the 24 bytes the script stores: three little-endian doubles, level, last, expiresAt. */
export function decodeBucketState(value: Uint8Array): BucketState {
  if (value.byteLength !== 24) throw new RangeError(`a bucket state is 24 bytes, got ${value.byteLength}`);
  const view = new DataView(value.buffer, value.byteOffset, 24);
  return { level: view.getFloat64(0, true), last: view.getFloat64(8, true), expiresAt: view.getFloat64(16, true) };
}
