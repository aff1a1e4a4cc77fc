export { RocksDBStore, type RocksDBStoreOptions } from './rocksdb-store.js';
