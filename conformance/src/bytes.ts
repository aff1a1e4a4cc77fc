import type { BytesSpec } from './case-types.js';

/** Bytes as a case spells them: UTF-8 text, `{ "hex": ... }` or `{ "base64": ... }` (rule P7). */
export function toBytes(spec: BytesSpec): Buffer {
  if (typeof spec === 'string') return Buffer.from(spec, 'utf8');
  if ('hex' in spec) return Buffer.from(spec.hex, 'hex');
  return Buffer.from(spec.base64, 'base64');
}

/** How a failure message shows bytes: text when it is valid UTF-8, hex otherwise. */
export function showBytes(bytes: Uint8Array | null | undefined): string {
  if (bytes === null || bytes === undefined) return String(bytes);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buf.toString('utf8');
  return Buffer.from(text, 'utf8').equals(buf) ? JSON.stringify(text) : `{hex: ${buf.toString('hex')}}`;
}

export function showSpec(spec: BytesSpec | null | undefined): string {
  return spec === null || spec === undefined ? String(spec) : showBytes(toBytes(spec));
}

export function sameBytes(actual: Uint8Array | null | undefined, expected: BytesSpec | null): boolean {
  if (expected === null) return actual === null || actual === undefined;
  if (actual === null || actual === undefined) return false;
  return Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(toBytes(expected));
}
