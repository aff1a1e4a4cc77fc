import type { KeyValueStore } from '../contracts.js';

/** An in-memory {@link KeyValueStore}; values are copied in and out. */
export class MemoryStore implements KeyValueStore {
  readonly #data = new Map<string, Buffer>();
  #closed = false;

  async get(key: Buffer): Promise<Buffer | null> {
    this.#assertOpen();
    const value = this.#data.get(key.toString('latin1'));
    return value === undefined ? null : Buffer.from(value);
  }

  async put(key: Buffer, value: Buffer): Promise<void> {
    this.#assertOpen();
    this.#data.set(key.toString('latin1'), Buffer.from(value));
  }

  async delete(key: Buffer): Promise<void> {
    this.#assertOpen();
    this.#data.delete(key.toString('latin1'));
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** Number of keys held. */
  get size(): number {
    return this.#data.size;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('MemoryStore is closed');
  }
}
