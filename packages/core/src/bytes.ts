import { isAscii } from 'node:buffer';

/** Bytes as the engine and adapters pass them. */
export type Bytes = Uint8Array;
/** What callers may pass as a key or value. */
export type BytesLike = Buffer | Uint8Array | string;

/**
 * Normalizes a key or value to a Buffer without copying when it already is one.
 * Throws a TypeError naming `name` for anything else.
 */
export function toBuffer(input: unknown, name: string): Buffer {
  if (Buffer.isBuffer(input)) return input;
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  throw new TypeError(`${name} must be a Buffer, Uint8Array or string, got ${describe(input)}`);
}

/** Like {@link toBuffer}, and rejects the empty key. */
export function toKey(input: unknown, name = 'key'): Buffer {
  const key = toBuffer(input, name);
  if (key.length === 0) throw new RangeError(`${name} must not be empty`);
  return key;
}

/**
 * Keys are matched and audited as UTF-8 text. Invalid bytes become U+FFFD, which is never
 * `/`, so a key with invalid bytes still falls under the rules of its namespace (rule P7).
 */
export function keyText(key: Uint8Array): string {
  // toString() with no argument is UTF-8 and skips the encoding lookup of toString('utf8').
  return Buffer.isBuffer(key) ? key.toString() : Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString();
}

/**
 * A private copy of caller bytes: what the engine checks, stores and audits must be exactly
 * what the caller passed at the moment of the call, whatever the caller does to its buffer
 * afterwards. A string is encoded into new bytes; a Buffer or Uint8Array is copied. Throws a
 * TypeError naming `name` for anything else.
 */
export function ownBytes(input: unknown, name: string): Buffer {
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  if (isBytes(input)) return copyBytes(input);
  throw new TypeError(`${name} must be a Buffer, Uint8Array or string, got ${describe(input)}`);
}

/**
 * A copy of `bytes`. Small copies come from Node's buffer pool like any `Buffer.from`: a
 * backing store per copy costs several times the copy itself in garbage collection.
 */
export function copyBytes(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafe(byteLengthOf(bytes));
  copy.set(bytes);
  return copy;
}

// The typed arrays' own `byteLength` getter: a subclass can override `byteLength` to lie (say,
// longer than its bytes, which would leave uninitialized pool memory in a copy); this one cannot.
const byteLengthGetter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'byteLength')!.get as (this: Uint8Array) => number;

/** The true length of `bytes`, whatever its class says its `byteLength` is. */
function byteLengthOf(bytes: Uint8Array): number {
  return byteLengthGetter.call(bytes);
}

/** A real Uint8Array (or Buffer): not merely an object with Uint8Array.prototype in its chain. */
function isBytes(input: unknown): input is Uint8Array {
  return input instanceof Uint8Array && ArrayBuffer.isView(input);
}

/** {@link ownBytes} for a key: not empty and at most `maxBytes` long. */
export function ownKey(input: unknown, maxBytes: number, name = 'key'): Buffer {
  const key = ownBytes(input, name);
  checkKeyLength(key.length, maxBytes, name);
  return key;
}

/**
 * The length in bytes a key will have, with {@link ownKey}'s checks and errors: for a list of
 * keys checked one by one (in order with their other arguments) and copied together by
 * {@link copyKeys}. `name` is called only to name an error.
 */
export function keyLength(input: unknown, maxBytes: number, name: () => string): number {
  let length: number;
  if (typeof input === 'string') length = Buffer.byteLength(input, 'utf8');
  else if (isBytes(input)) length = byteLengthOf(input);
  else throw new TypeError(`${name()} must be a Buffer, Uint8Array or string, got ${describe(input)}`);
  checkKeyLength(length, maxBytes, name);
  return length;
}

/**
 * Private copies of keys that passed {@link keyLength} (`lengths[i]` is key `i`'s), made as
 * {@link ownKey} makes them, and their texts as {@link keyTextOf} makes them. The copies share
 * one allocation, and when every key is ASCII their texts are cut from one decoding of all of
 * them instead of one per key.
 */
export function copyKeys(inputs: readonly (string | Uint8Array)[], lengths: readonly number[]): { keys: Buffer[]; texts: string[] } {
  const n = inputs.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += lengths[i]!;
  const slab = Buffer.allocUnsafe(total);
  const keys = new Array<Buffer>(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const input = inputs[i]!;
    const end = at + lengths[i]!;
    // A string is encoded exactly as Buffer.from encodes it (a lone surrogate as U+FFFD, counted so by keyLength).
    if (typeof input === 'string') slab.write(input, at, 'utf8');
    else slab.set(input, at);
    keys[i] = slab.subarray(at, end);
    at = end;
  }
  const texts = new Array<string>(n);
  if (!asciiTexts(slab, lengths, texts)) for (let i = 0; i < n; i++) texts[i] = keyTextOf(keys[i]!, inputs[i]);
  return { keys, texts };
}

/**
 * {@link keyText} of each of `keys` (a chunk of keys read from a store): when they are all
 * ASCII, cut from one decoding of all of them instead of one per key.
 */
export function keyTexts(keys: readonly Uint8Array[]): string[] {
  const n = keys.length;
  const texts = new Array<string>(n);
  const lengths = new Array<number>(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const key = keys[i];
    // Anything but real bytes is decoded (and refused) one by one, as keyText does.
    if (!isBytes(key)) return perKey(keys, texts);
    total += lengths[i] = byteLengthOf(key);
  }
  const slab = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < n; i++) {
    slab.set(keys[i]!, at);
    at += lengths[i]!;
  }
  return asciiTexts(slab, lengths, texts) ? texts : perKey(keys, texts);
}

/**
 * When `slab` (keys of `lengths` bytes side by side) is all ASCII, fills `texts` with each key's
 * text, a slice of one decoding of the whole (one byte, one character), and answers true.
 */
function asciiTexts(slab: Buffer, lengths: readonly number[], texts: string[]): boolean {
  if (!isAscii(slab)) return false;
  const all = slab.toString('latin1');
  let at = 0;
  for (let i = 0; i < lengths.length; i++) texts[i] = all.slice(at, (at += lengths[i]!));
  return true;
}

function perKey(keys: readonly Uint8Array[], texts: string[]): string[] {
  for (let i = 0; i < keys.length; i++) texts[i] = keyText(keys[i]!);
  return texts;
}

/** Throws unless a key of `length` bytes is 1 to `maxBytes` long; `name` is made only for the error. */
function checkKeyLength(length: number, maxBytes: number, name: string | (() => string)): void {
  if (length > 0 && length <= maxBytes) return;
  const named = typeof name === 'string' ? name : name();
  if (length === 0) throw new RangeError(`${named} must not be empty`);
  throw new RangeError(`${named} is ${length} bytes long; this engine accepts keys of 1 to ${maxBytes} bytes (options.maxKeyBytes)`);
}

/**
 * The text of a string key as {@link ownKey} then {@link keyTextOf} would make it, with the
 * same checks and errors, for a question about the policy that stores nothing
 * (`filterAllowed`): the string is neither encoded nor copied (its UTF-8 length is counted, and
 * a lone surrogate becomes U+FFFD as encoding and decoding would make it). `name` is called
 * only to name an error.
 */
export function stringKeyText(input: string, maxBytes: number, name: () => string): string {
  checkKeyLength(Buffer.byteLength(input, 'utf8'), maxBytes, name);
  const text = input as unknown as WellFormedString;
  return text.isWellFormed() ? input : text.toWellFormed();
}

/**
 * {@link keyText} of `key`, which was made from `given`: a caller who passed a string already
 * has the text, so it is not decoded again. Only a well-formed string round-trips through
 * UTF-8 unchanged; one with a lone surrogate is decoded like any other bytes.
 */
export function keyTextOf(key: Uint8Array, given: unknown): string {
  return typeof given === 'string' && (given as unknown as WellFormedString).isWellFormed() ? given : keyText(key);
}

// String.prototype.isWellFormed is in Node 20 but not in TypeScript's ES2022 library.
interface WellFormedString {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/** A value as error messages show it (`got number 0`, `got a string "x"`); shared by adapters as `describeValue`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  if (typeof value === 'string') return `a string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  return `${typeof value} ${String(value)}`;
}
