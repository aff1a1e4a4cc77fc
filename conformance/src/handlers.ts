import { PolicyAction, type PolicyContext, type PolicyHandler } from '@sochdb-policy/core';
import { allowAll, denyAll, logAndAllow, redactValue, requireAgentId } from '@sochdb-policy/helpers';
import { toBytes } from './bytes.js';
import type { Action, Condition, HandlerSpec } from './case-types.js';

/** What `record` handlers and `log_and_allow` leave behind during one step. */
export interface Recorder {
  calls: { name: string; key: Buffer; value: Buffer | null }[];
  logs: string[];
}

const ACTIONS: Record<Action, PolicyAction> = {
  allow: PolicyAction.ALLOW,
  deny: PolicyAction.DENY,
  modify: PolicyAction.MODIFY,
  log: PolicyAction.LOG,
};

/** A context key is present when it is set to a non-empty string (the seed's `if context.get(...)`). */
function holds(condition: Condition, ctx: PolicyContext): boolean {
  const value = ctx.get(condition.context);
  if ('equals' in condition) return value === condition.equals;
  const present = value !== undefined && value !== '';
  return condition.is === 'present' ? present : !present;
}

/** Turns a declarative handler (README, "Handler vocabulary") into an engine handler. */
export function compileHandler(spec: HandlerSpec, recorder: Recorder): PolicyHandler {
  const inner = behaviour(spec, recorder);
  if (spec.record === undefined) return inner;
  const name = spec.record;
  return (ctx) => {
    // Recorded before the behaviour runs, so a handler that throws still counts as called.
    recorder.calls.push({ name, key: Buffer.from(ctx.key), value: ctx.value === null ? null : Buffer.from(ctx.value) });
    return inner(ctx);
  };
}

function behaviour(spec: HandlerSpec, recorder: Recorder): PolicyHandler {
  if ('return' in spec) {
    const action = spec.return === null ? undefined : ACTIONS[spec.return];
    return () => action;
  }
  if ('return_bytes' in spec) {
    const bytes = toBytes(spec.return_bytes);
    return () => Buffer.from(bytes);
  }
  // Python's redact_emails quirk (H3): the input value handed back counts as MODIFY.
  if ('return_input' in spec) return (ctx) => ctx.value;
  if ('set_modified' in spec) {
    const bytes = spec.set_modified === null ? undefined : toBytes(spec.set_modified);
    return (ctx) => {
      if (bytes !== undefined) ctx.modifiedValue = Buffer.from(bytes);
      return PolicyAction.MODIFY;
    };
  }
  if ('if' in spec) {
    const then = compileHandler(spec.then, recorder);
    const otherwise = compileHandler(spec.else ?? { return: 'allow' }, recorder);
    const condition = spec.if;
    return (ctx) => (holds(condition, ctx) ? then(ctx) : otherwise(ctx));
  }
  if ('helper' in spec) return helper(spec.helper, spec.args ?? [], recorder);
  if ('throw' in spec) {
    const message = spec.throw;
    return () => {
      throw new Error(message);
    };
  }
  if ('return_invalid' in spec) return () => 42 as never;
  if ('async' in spec) {
    const inner = compileHandler(spec.async, recorder);
    // A macrotask, not just a microtask, so the engine really has to wait (H11).
    return (ctx) => new Promise((resolve, reject) => setImmediate(() => {
      try {
        resolve(inner(ctx));
      } catch (error) {
        reject(error);
      }
    }));
  }
  throw new TypeError(`unknown handler ${JSON.stringify(spec)}`);
}

function helper(name: string, args: readonly Parameters<typeof toBytes>[0][], recorder: Recorder): PolicyHandler {
  switch (name) {
    case 'deny_all':
      return denyAll;
    case 'allow_all':
      return allowAll;
    case 'require_agent_id':
      return requireAgentId;
    case 'redact_value':
      return args.length > 0 ? redactValue(toBytes(args[0]!)) : redactValue();
    case 'log_and_allow':
      return logAndAllow({ info: (message: string) => recorder.logs.push(message) });
    default:
      throw new TypeError(`unknown helper ${JSON.stringify(name)}`);
  }
}
