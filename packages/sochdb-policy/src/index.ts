export * from '@sochdb-policy/core';
export { Database } from './database.js';
export type { RocksDBStoreOptions as DatabaseOptions } from '@sochdb-policy/storage-rocksdb';
