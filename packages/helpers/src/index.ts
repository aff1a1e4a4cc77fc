import { PolicyAction, toBuffer, type PolicyContext, type PolicyHandler } from '@sochdb-policy/core';

/**
 * The seed's built-in helpers (rules X1, X2). As in the Python SDK and the seed,
 * `denyAll`, `allowAll` and `requireAgentId` are handlers themselves:
 * `policy.beforeWrite('readonly/*', denyAll)`; `redactValue` and `logAndAllow` are factories.
 */

/** DENY every operation on matching keys. */
export const denyAll: PolicyHandler = () => PolicyAction.DENY;

/** ALLOW every operation on matching keys (ends nothing: later hooks still run). */
export const allowAll: PolicyHandler = () => PolicyAction.ALLOW;

/** ALLOW when the context has a non-empty `agent_id`, else DENY. */
export const requireAgentId: PolicyHandler = (ctx: PolicyContext) => (ctx.agentId ? PolicyAction.ALLOW : PolicyAction.DENY);

/** MODIFY the value to `replacement` (bytes or UTF-8 text). @param replacement @default '[REDACTED]' */
export function redactValue(replacement: Buffer | Uint8Array | string = '[REDACTED]'): PolicyHandler {
  const bytes = Buffer.from(toBuffer(replacement, 'replacement'));
  return () => ({ action: PolicyAction.MODIFY, value: bytes });
}

/** Something with an `info` method, such as `console` or a pino logger. */
export interface PolicyLogger {
  info(message: string): void;
}

/**
 * Logs `Operation on <key>` and ALLOWs. Returns LOG, which evaluation treats as ALLOW (K1).
 * @param logger @default console
 */
export function logAndAllow(logger: PolicyLogger = console): PolicyHandler {
  if (logger === null || typeof logger !== 'object' || typeof logger.info !== 'function') {
    throw new TypeError('logger must have an info(message) method');
  }
  return (ctx: PolicyContext) => {
    logger.info(`Operation on ${ctx.keyText}`);
    return PolicyAction.LOG;
  };
}
