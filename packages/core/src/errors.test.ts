import { describe, expect, it, vi } from 'vitest';
import { PolicyViolation, PolicyViolationError, ViolationCode } from './errors.js';

const make = (P: typeof PolicyViolation) => new P(ViolationCode.DENIED, 'Write blocked by policy', { operation: 'write', key: 'system/x' });

describe('PolicyViolation across copies of @sochdb-policy/core', () => {
  it('instanceof and isPolicyViolation recognise a violation from another copy of the module', async () => {
    vi.resetModules();
    const another = './errors.js?another-copy'; // a second instance of the module, as a second installed copy would be
    const other = (await import(another)) as typeof import('./errors.js');
    expect(other.PolicyViolation).not.toBe(PolicyViolation);
    const foreign = make(other.PolicyViolation);
    expect(foreign instanceof PolicyViolation).toBe(true);
    expect(PolicyViolation.isPolicyViolation(foreign)).toBe(true);
    expect(make(PolicyViolation) instanceof other.PolicyViolation).toBe(true);
    expect(foreign instanceof PolicyViolationError).toBe(true);
  });

  it('rejects what is not a violation, including look-alikes', () => {
    const lookAlike = Object.assign(new Error('Write blocked by policy'), { name: 'PolicyViolation', code: 'denied' });
    for (const v of [lookAlike, new Error('x'), null, undefined, 'PolicyViolation', {}]) {
      expect(v instanceof PolicyViolation).toBe(false);
      expect(PolicyViolation.isPolicyViolation(v)).toBe(false);
    }
  });

  it('keeps code, fields and message, and adds nothing enumerable', () => {
    const v = make(PolicyViolation);
    expect(v).toBeInstanceOf(Error);
    expect(v.code).toBe('denied');
    expect(v.message).toBe('Write blocked by policy');
    expect(Object.getOwnPropertySymbols(v)).toEqual([]);
    expect(JSON.parse(JSON.stringify(v))).toEqual({ name: 'PolicyViolation', code: 'denied', operation: 'write', key: 'system/x' });
  });

  it('a subclass keeps the ordinary instanceof check', () => {
    class Sub extends PolicyViolation {}
    expect(make(PolicyViolation) instanceof Sub).toBe(false);
    expect(new Sub(ViolationCode.DENIED, 'm', { operation: 'read', key: 'k' }) instanceof Sub).toBe(true);
  });
});
