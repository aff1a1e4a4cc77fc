import { describe, expect, it } from 'vitest';
import { ViolationCode } from '../errors.js';
import { StepTimeout } from '../timeouts.js';
import { limiterFailed, unreadableDecision } from './limiter-failure.js';

describe('limiter failures (one mapping for single operations, batches and scan runs)', () => {
  it('a deadline that passed is a timeout of its stage; anything else is limiter_unavailable', () => {
    const late = new StepTimeout('rate_limit', 5);
    expect(limiterFailed(late)).toEqual({ code: ViolationCode.TIMEOUT, cause: late, stage: 'rate_limit' });
    const down = new Error('ECONNREFUSED');
    expect(limiterFailed(down)).toEqual({ code: ViolationCode.LIMITER_UNAVAILABLE, cause: down, stage: undefined });
  });

  it('an answer without a boolean allowed is unreadable, named in the cause', () => {
    expect(unreadableDecision({ allowed: true })).toBeUndefined();
    expect(unreadableDecision({ allowed: false, retryAfterMs: 5 })).toBeUndefined();
    for (const answer of [undefined, null, {}, { allowed: 'yes' }, 1]) {
      const failure = unreadableDecision(answer)!;
      expect(failure.code).toBe(ViolationCode.LIMITER_UNAVAILABLE);
      expect(String(failure.cause)).toMatch(/^TypeError: rate-limit store answered /);
    }
  });
});
