import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * A module file of @nxtedition/rocksdb (`binding.js`, `util.js`), loaded by path: the package
 * has no exports map for them. Undefined when the package or the file is not there. Used only
 * by ./native-writes.ts and ./native-reads.ts, which check that what they need looks as
 * expected and otherwise let the store go through abstract-level's methods.
 */
export function rocksdbModule(file: string): Record<string, unknown> | undefined {
  try {
    const require = createRequire(import.meta.url);
    const root = dirname(require.resolve('@nxtedition/rocksdb/package.json'));
    const loaded: unknown = require(join(root, file));
    return loaded !== null && typeof loaded === 'object' ? (loaded as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The database's native handle (the binding's first argument), or undefined when it is not found. */
export function nativeHandle(db: object): object | undefined {
  const symbol = Object.getOwnPropertySymbols(db).find((s) => s.description === 'context');
  const handle = symbol === undefined ? undefined : (db as Record<symbol, unknown>)[symbol];
  return handle !== null && typeof handle === 'object' ? handle : undefined;
}
