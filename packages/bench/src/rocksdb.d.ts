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
    get(key: Buffer, options?: Encodings): Promise<Buffer>;
    getMany(keys: Buffer[], options?: Encodings): Promise<(Buffer | undefined)[]>;
    iterator(options?: Encodings & { gt?: Buffer; gte?: Buffer; lt?: Buffer; lte?: Buffer; reverse?: boolean; limit?: number }): RocksIterator;
  }
  export interface RocksIterator extends AsyncIterable<[Buffer, Buffer]> {
    nextv(size: number): Promise<[Buffer, Buffer][]>;
    close(): Promise<void>;
  }
}
