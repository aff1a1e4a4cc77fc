import { PolicyAction, PolicyTrigger } from '../actions.js';
import { describe, ownKey, type BytesLike } from '../bytes.js';
import { normalizeContext } from '../context.js';
import type { Pipeline } from './pipeline.js';

/**
 * `policy.filterAllowed`: the keys whose `before_read` decision is not DENY, in the order
 * given (the same values the caller passed). No storage, no token, no audit entry, no decision
 * event: it answers a question about the policy, like Rust's `get_denied_ids`. A failing hook
 * fails the whole call closed (`hook_failed`, audited `error` like any hook failure).
 */
export async function filterAllowed<K extends BytesLike>(p: Pipeline, keys: Iterable<K>, context: unknown): Promise<K[]> {
  if (keys === null || typeof keys !== 'object' || typeof (keys as Iterable<K>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`keys must be an iterable of keys (an array, a Set), got ${describe(keys)}`);
  }
  const custom = normalizeContext(context);
  const set = p.rules();
  const out: K[] = [];
  let i = 0;
  for (const given of keys) {
    const key = ownKey(given, p.maxKeyBytes, `keys[${i++}]`);
    const ctx = p.context('read', key, null, custom, given, undefined);
    let decision = p.evaluate(PolicyTrigger.BEFORE_READ, ctx, set);
    if (decision instanceof Promise) decision = await decision;
    if (decision.action !== PolicyAction.DENY) out.push(given);
  }
  return out;
}
