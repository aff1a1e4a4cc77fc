import { isPolicyAction, PolicyAction } from '../actions.js';
import { describe, ownBytes } from '../bytes.js';
import type { PolicyContext } from '../context.js';

/** What a handler may return (rules H2–H4, H11). */
export type HandlerResult =
  | PolicyAction
  | Buffer
  | Uint8Array
  | { action: PolicyAction; value?: Buffer | Uint8Array | string }
  | void
  | null
  | undefined;

export type PolicyHandler = (ctx: PolicyContext) => HandlerResult | Promise<HandlerResult>;

export interface Decision {
  action: PolicyAction;
  /** For MODIFY: the replacement value, or undefined to leave the value unchanged (H4). */
  value: Buffer | undefined;
}

const ALLOW: Decision = Object.freeze({ action: PolicyAction.ALLOW, value: undefined });
// Decisions without a value are the same every time: shared, so answering costs no allocation.
const LOG: Decision = Object.freeze({ action: PolicyAction.LOG, value: undefined });
const DENY: Decision = Object.freeze({ action: PolicyAction.DENY, value: undefined });

/**
 * Turns a handler's (already awaited) return value into a decision, or throws a TypeError
 * that the engine reports as a failed hook (rule H10).
 */
export function toDecision(result: unknown, ctx: PolicyContext): Decision {
  if (result === undefined || result === null || result === PolicyAction.ALLOW) return ALLOW;
  if (typeof result === 'string') {
    if (result === PolicyAction.DENY) return DENY;
    if (result === PolicyAction.LOG) return LOG;
    if (result === PolicyAction.MODIFY) return { action: result, value: modified(ctx.modifiedValue, 'ctx.modifiedValue') };
    throw new TypeError(`handler returned ${describe(result)}, which is not a PolicyAction`);
  }
  if (result instanceof Uint8Array) return { action: PolicyAction.MODIFY, value: ownBytes(result, 'handler result') };
  if (typeof result === 'object' && !Array.isArray(result) && isPolicyAction((result as { action?: unknown }).action)) {
    const { action, value } = result as { action: PolicyAction; value?: unknown };
    if (action !== PolicyAction.MODIFY) return action === PolicyAction.ALLOW ? ALLOW : action === PolicyAction.DENY ? DENY : LOG;
    return { action, value: modified(value ?? ctx.modifiedValue, 'handler result value') };
  }
  throw new TypeError(
    `handler returned ${describe(result)}; expected a PolicyAction, bytes, { action, value } or nothing`,
  );
}

/**
 * The replacement bytes, copied: a handler that keeps the buffer it returned (a shared
 * redaction constant, say) cannot change what was stored or what a caller received.
 */
function modified(value: unknown, name: string): Buffer | undefined {
  return value === undefined ? undefined : ownBytes(value, name);
}
