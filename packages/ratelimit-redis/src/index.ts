export { RedisRateLimitStore } from './redis-rate-limit-store.js';
export { RedisRateLimitError, type RedisRateLimitErrorCode } from './errors.js';
export {
  DEFAULT_KEY_PREFIX,
  DEFAULT_HASH_TAG,
  DEFAULT_TIMEOUT_MS,
  type RedisClock,
  type RedisRateLimitStoreOptions,
  type RedisClientOptions,
  type RedisClient,
  type RedisUrlOptions,
} from './options.js';
export { CONSUME_SCRIPT, CONSUME_SCRIPT_SHA } from './script.js';
export { decodeBucketState, type BucketState } from './bucket-state.js';
