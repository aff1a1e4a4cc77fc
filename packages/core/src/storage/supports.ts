import type { KeyValueStore, StoreSupports } from '../contracts.js';

/** A capability a caller asked for that the store does not have. */
export class NotSupportedError extends Error {
  override readonly name = 'NotSupportedError';
  readonly code = 'not_supported';
  readonly capability: keyof StoreSupports;
  constructor(capability: keyof StoreSupports, what: string) {
    super(`${what} needs a store with the '${capability}' capability; this store does not declare it (supports.${capability})`);
    this.capability = capability;
  }
}

/**
 * The capabilities of `store` as booleans. A capability counts only when the store declares it
 * in `supports` and has the method: a method alone may be something else, a declaration alone
 * is a broken adapter.
 */
export function storeSupports(store: KeyValueStore): StoreSupports {
  const declared = store.supports ?? {};
  return {
    iterator: declared.iterator === true && typeof store.iterator === 'function',
    batch: declared.batch === true && typeof store.batch === 'function',
  };
}

/** Throws {@link NotSupportedError} unless `store` has `capability`. */
export function requireCapability(store: KeyValueStore, capability: keyof StoreSupports, what: string): void {
  if (!storeSupports(store)[capability]) throw new NotSupportedError(capability, what);
}
