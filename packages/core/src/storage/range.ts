import { describe, ownBytes } from '../bytes.js';
import type { KeyRange } from '../contracts.js';

/** A range as callers give it: bounds and prefix as bytes or text. */
export interface RangeOptions {
  gt?: Buffer | Uint8Array | string;
  gte?: Buffer | Uint8Array | string;
  lt?: Buffer | Uint8Array | string;
  lte?: Buffer | Uint8Array | string;
  /** Keys that begin with these bytes; combines with the bounds (the narrower wins). */
  prefix?: Buffer | Uint8Array | string;
  /** Most entries to yield. @default Infinity */
  limit?: number;
  /** Highest key first. @default false */
  reverse?: boolean;
  /** Yield values too. @default true */
  values?: boolean;
}

const KNOWN = new Set(['gt', 'gte', 'lt', 'lte', 'prefix', 'limit', 'reverse', 'values']);

/**
 * Validates `options` and turns them into a {@link KeyRange}: private copies of the bounds, a
 * prefix turned into bounds (`a/` → `gte a/`, `lt a0`), at most one bound per side (the
 * narrower when a prefix and a bound meet). `name` prefixes error messages.
 */
export function normalizeRange(options: unknown = {}, name = 'range'): KeyRange {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${name} must be an object, got ${describe(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) throw new RangeError(`${name}.${key} is not a range option; the options are ${[...KNOWN].join(', ')}`);
  }
  if (o.gt !== undefined && o.gte !== undefined) throw new RangeError(`${name} may have gt or gte, not both`);
  if (o.lt !== undefined && o.lte !== undefined) throw new RangeError(`${name} may have lt or lte, not both`);
  const { limit = Infinity, reverse = false, values = true } = o;
  if (typeof limit !== 'number' || !(limit === Infinity || (Number.isInteger(limit) && limit >= 0))) {
    throw new RangeError(`${name}.limit must be a non-negative integer or Infinity, got ${describe(limit)}`);
  }
  if (typeof reverse !== 'boolean') throw new TypeError(`${name}.reverse must be a boolean, got ${describe(reverse)}`);
  if (typeof values !== 'boolean') throw new TypeError(`${name}.values must be a boolean, got ${describe(values)}`);
  const range: KeyRange = { limit, reverse, values };
  for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) {
    if (o[bound] !== undefined) range[bound] = ownBytes(o[bound], `${name}.${bound}`);
  }
  if (o.prefix !== undefined) {
    const prefix = ownBytes(o.prefix, `${name}.prefix`);
    narrowLower(range, prefix, false);
    const end = prefixEnd(prefix);
    if (end !== undefined) narrowUpper(range, end, false);
  }
  return range;
}

/** The smallest key above every key that starts with `prefix`, or undefined when none is (all 0xff). */
export function prefixEnd(prefix: Buffer): Buffer | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const out = Buffer.from(prefix.subarray(0, end));
  out[end - 1]!++;
  return out;
}

function narrowLower(range: KeyRange, key: Buffer, exclusive: boolean): void {
  const current = range.gt ?? range.gte;
  if (current !== undefined) {
    const c = Buffer.compare(key, current);
    if (c < 0 || (c === 0 && range.gt !== undefined)) return;
  }
  delete range.gt;
  delete range.gte;
  if (exclusive) range.gt = key;
  else range.gte = key;
}

function narrowUpper(range: KeyRange, key: Buffer, inclusive: boolean): void {
  const current = range.lt ?? range.lte;
  if (current !== undefined) {
    const c = Buffer.compare(key, current);
    if (c > 0 || (c === 0 && range.lt !== undefined)) return;
  }
  delete range.lt;
  delete range.lte;
  if (inclusive) range.lte = key;
  else range.lt = key;
}

/** Whether `key` lies within the bounds of `range` (limit and order aside). */
export function inRange(key: Buffer, range: KeyRange): boolean {
  if (range.gt !== undefined && Buffer.compare(key, range.gt) <= 0) return false;
  if (range.gte !== undefined && Buffer.compare(key, range.gte) < 0) return false;
  if (range.lt !== undefined && Buffer.compare(key, range.lt) >= 0) return false;
  if (range.lte !== undefined && Buffer.compare(key, range.lte) > 0) return false;
  return true;
}
