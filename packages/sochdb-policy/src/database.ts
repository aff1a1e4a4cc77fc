import { RocksDBStore } from '@sochdb-policy/storage-rocksdb';

/**
 * The seed's `Database`: `await Database.open('./agent_data')` opens (creating if needed) an
 * embedded RocksDB in that folder. It is a {@link KeyValueStore}, so `new PolicyEngine(db)`
 * wraps it. Options: see `RocksDBStoreOptions`.
 */
export class Database extends RocksDBStore {}
