import { describe } from '../bytes.js';
import { ViolationCode } from '../errors.js';
import { StepTimeout, type TimeoutStage } from '../timeouts.js';

/** How a rate-limit store's failure fails what it was asked about: one operation, a batch, a scan's run. */
export interface LimiterFailure {
  readonly code: ViolationCode;
  readonly cause: unknown;
  /** The step whose deadline passed, for `timeout`. */
  readonly stage: TimeoutStage | undefined;
}

/**
 * A rate-limit store that threw, rejected or never answered: `timeout` when the step's deadline
 * passed, else `limiter_unavailable` (docs/core.md, Operations; SP4). Either way the operation
 * fails closed. The one mapping for `put`/`get`/`delete`, `policy.batch` and a scan's runs.
 */
export function limiterFailed(cause: unknown): LimiterFailure {
  if (cause instanceof StepTimeout) return { code: ViolationCode.TIMEOUT, cause, stage: cause.stage };
  return { code: ViolationCode.LIMITER_UNAVAILABLE, cause, stage: undefined };
}

/** A store's answer that is no decision (`{ allowed: boolean }`): the failure to report; undefined for a decision. */
export function unreadableDecision(decision: unknown): LimiterFailure | undefined {
  if (typeof (decision as { allowed?: unknown } | null | undefined)?.allowed === 'boolean') return undefined;
  return limiterFailed(new TypeError(`rate-limit store answered ${describe(decision)}`));
}
