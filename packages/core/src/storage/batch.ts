import { describe } from '../bytes.js';
import type { BatchOperation } from '../contracts.js';

/**
 * Checks every operation of a batch before any is applied, so a store can stay all-or-nothing
 * when one of them is malformed. Errors name the operation by index.
 */
export function assertBatchOperations(operations: unknown, name = 'operations'): asserts operations is readonly BatchOperation[] {
  if (!Array.isArray(operations)) throw new TypeError(`${name} must be an array, got ${describe(operations)}`);
  for (let i = 0; i < operations.length; i++) {
    const op: unknown = operations[i];
    if (op === null || typeof op !== 'object') throw new TypeError(`${name}[${i}] must be an object, got ${describe(op)}`);
    const { type, key, value } = op as Record<string, unknown>;
    if (type !== 'put' && type !== 'del') throw new TypeError(`${name}[${i}].type must be 'put' or 'del', got ${describe(type)}`);
    if (!Buffer.isBuffer(key) || key.length === 0) throw new TypeError(`${name}[${i}].key must be a non-empty Buffer, got ${describe(key)}`);
    if (type === 'put' && !Buffer.isBuffer(value)) throw new TypeError(`${name}[${i}].value must be a Buffer, got ${describe(value)}`);
  }
}
