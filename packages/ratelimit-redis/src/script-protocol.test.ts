import { describe, expect, it } from 'vitest';
import { scriptArgs } from './script-protocol.js';

describe('scriptArgs', () => {
  const one = { key: 'a', capacity: 10, windowMs: 60_000 };
  const two = { key: 'b', capacity: 0.5, windowMs: 1_000 };

  it('two arguments per bucket (capacity, windowMs) when every bucket takes one token', () => {
    expect(scriptArgs('sha', 'p:', [one, { ...two, tokens: 1 }], 123, 'caller')).toEqual(['sha', 2, 'p:a', 'p:b', '123', '10', '60000', '0.5', '1000']);
  });

  it('three per bucket, tokens included for every bucket, when any takes more than one', () => {
    expect(scriptArgs('sha', 'p:', [one, { ...two, tokens: 3 }], 123, 'server')).toEqual(['sha', 2, 'p:a', 'p:b', '', '10', '60000', '1', '0.5', '1000', '3']);
  });
});
