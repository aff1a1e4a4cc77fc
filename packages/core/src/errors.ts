import type { Operation, PolicyTrigger } from './actions.js';
import type { TimeoutStage } from './timeouts.js';

/** Stable codes carried by every {@link PolicyViolation}; assert on these, not on messages. */
export const ViolationCode = {
  /** A hook returned DENY (rules H5, H7, H9). */
  DENIED: 'denied',
  /** A rate limit had no token left (rule R2). */
  RATE_LIMITED: 'rate_limited',
  /** A hook threw or returned something that is not an action (rule H10). */
  HOOK_FAILED: 'hook_failed',
  /** The rate-limit store could not answer; the operation fails closed. */
  LIMITER_UNAVAILABLE: 'limiter_unavailable',
  /** The audit sink could not record the entry; the operation fails closed. */
  AUDIT_UNAVAILABLE: 'audit_unavailable',
  /**
   * A rate-limit store, hook, storage call or audit sink did not settle within its timeout
   * (`options.timeouts`); `stage` says which. The operation's outcome in storage is unknown
   * when the storage call timed out: a late write may still land.
   */
  TIMEOUT: 'timeout',
} as const;
export type ViolationCode = (typeof ViolationCode)[keyof typeof ViolationCode];

export interface PolicyViolationOptions {
  operation: Operation;
  /** The key as text (invalid UTF-8 replaced by U+FFFD). */
  key: string;
  cause?: unknown;
  /** For {@link ViolationCode.RATE_LIMITED}: milliseconds until a retry can pass. */
  retryAfterMs?: number;
  /** For `hook_failed` and `denied`: the trigger and pattern of the deciding hook or rule. */
  trigger?: PolicyTrigger;
  pattern?: string;
  /** For {@link ViolationCode.TIMEOUT}: the step that did not settle. */
  stage?: TimeoutStage;
  /**
   * The rule or hook that decided: for `denied`, the denying rule (`$default` when
   * deny-by-default refused a key no rule allowed); for `hook_failed`, the failing one.
   */
  ruleId?: string;
  /** The operation's decision id: the same as in its audit entry (docs/policy-documents.md). */
  decisionId?: string;
  /** For a refused `policy.batch`: the index of the operation that was refused (`key` is its key). */
  index?: number;
  /** For `policy.batch` and `policy.scan`: the id on the call's audit entries. */
  batchId?: string;
}

/**
 * Marks every PolicyViolation, whichever copy of this package made it: `Symbol.for` gives
 * the same symbol in every copy (two versions installed side by side, a bundle and
 * node_modules, ESM and CommonJS loaders).
 */
const BRAND: unique symbol = Symbol.for('@sochdb-policy/core.PolicyViolation') as never;

/**
 * Raised when the policy engine blocks an operation (rule E1). Also exported as
 * `PolicyViolationError`, the Node SDK's name.
 *
 * `err instanceof PolicyViolation` and `PolicyViolation.isPolicyViolation(err)` are true
 * also for a violation made by another installed copy of `@sochdb-policy/core`.
 */
export class PolicyViolation extends Error {
  /** True for a {@link PolicyViolation} from any copy of `@sochdb-policy/core`. */
  static isPolicyViolation(value: unknown): value is PolicyViolation {
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  }

  /** `instanceof PolicyViolation` recognises violations from other copies of the package too. */
  static [Symbol.hasInstance](value: unknown): boolean {
    // A subclass keeps the ordinary prototype-chain check.
    if (this !== PolicyViolation) return Function.prototype[Symbol.hasInstance].call(this, value);
    return PolicyViolation.isPolicyViolation(value);
  }


  override readonly name = 'PolicyViolation';
  readonly code: ViolationCode;
  readonly operation: Operation;
  readonly key: string;
  readonly retryAfterMs: number | undefined;
  readonly trigger: PolicyTrigger | undefined;
  readonly pattern: string | undefined;
  readonly stage: TimeoutStage | undefined;
  readonly ruleId: string | undefined;
  readonly decisionId: string | undefined;
  readonly index: number | undefined;
  readonly batchId: string | undefined;

  constructor(code: ViolationCode, message: string, options: PolicyViolationOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.operation = options.operation;
    this.key = options.key;
    this.retryAfterMs = options.retryAfterMs;
    this.trigger = options.trigger;
    this.pattern = options.pattern;
    this.stage = options.stage;
    this.ruleId = options.ruleId;
    this.decisionId = options.decisionId;
    this.index = options.index;
    this.batchId = options.batchId;
  }
}

// On the prototype, not each instance: not enumerable, not in JSON or console output.
Object.defineProperty(PolicyViolation.prototype, BRAND, { value: true });

export { PolicyViolation as PolicyViolationError };

const VERB: Record<Operation, string> = { write: 'Write', read: 'Read', delete: 'Delete' };

/** The seed SDKs' message for each code (rule E1). */
export function violationMessage(code: ViolationCode, operation: Operation): string {
  switch (code) {
    case ViolationCode.DENIED:
      return `${VERB[operation]} blocked by policy`;
    case ViolationCode.RATE_LIMITED:
      return 'Rate limit exceeded';
    case ViolationCode.HOOK_FAILED:
      return `${VERB[operation]} blocked: policy hook failed`;
    case ViolationCode.LIMITER_UNAVAILABLE:
      return `${VERB[operation]} blocked: rate limiter unavailable`;
    case ViolationCode.AUDIT_UNAVAILABLE:
      return `${VERB[operation]} failed: audit log unavailable`;
    case ViolationCode.TIMEOUT:
      return `${VERB[operation]} failed: timed out`;
  }
}
