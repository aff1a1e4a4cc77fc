// @nxtedition/rocksdb ships no type declarations; this is the part we use.
declare module '@nxtedition/rocksdb' {
  interface Encodings {
    keyEncoding?: 'buffer' | 'utf8';
    valueEncoding?: 'buffer' | 'utf8';
  }
  export class RocksLevel {
    constructor(location: string, options?: Record<string, unknown>);
    readonly status: string;
    open(options?: Record<string, unknown>): Promise<void>;
    close(): Promise<void>;
    put(key: Buffer, value: Buffer, options?: Encodings & { sync?: boolean }): Promise<void>;
    del(key: Buffer, options?: Encodings & { sync?: boolean }): Promise<void>;
    batch(operations: ({ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer })[], options?: Encodings & { sync?: boolean }): Promise<void>;
    getMany(keys: Buffer[], options?: Encodings): Promise<(Buffer | undefined)[]>;
    iterator(options?: Record<string, unknown>): RocksIterator;
    // abstract-level's implementation methods: no status check, no encoding, callback only.
    _getMany(keys: Buffer[], options: Encodings, callback: (error: unknown, values?: (Buffer | undefined)[]) => void): void;
    _batch(operations: ({ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer })[], options: Encodings & { sync?: boolean }, callback: (error: unknown) => void): void;
  }
  export interface RocksIterator {
    next(): Promise<[Buffer, Buffer | undefined] | undefined>;
    nextv(size: number): Promise<[Buffer, Buffer | undefined][]>;
    close(): Promise<void>;
  }
}
