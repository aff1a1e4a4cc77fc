import { PolicyAction, PolicyTrigger } from '../actions.js';
import { describe, keyText, ownKey, stringKeyText, type BytesLike } from '../bytes.js';
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
  // With plain hooks (no rules with conditions, no deny by default) a key no before_read
  // pattern matches is allowed without a context: only its text is needed, to look it up.
  const index = set.plain ? set.index(PolicyTrigger.BEFORE_READ) : undefined;
  const out: K[] = [];
  let i = 0;
  for (const given of keys) {
    const at = i++;
    let key: Buffer | undefined;
    let text: string | undefined;
    if (index !== undefined) {
      // A string key's text needs no bytes; a byte key's needs its private copy, made once.
      if (typeof given === 'string') text = stringKeyText(given, p.maxKeyBytes, () => `keys[${at}]`);
      else text = keyText((key = ownKey(given, p.maxKeyBytes, `keys[${at}]`)));
      if (index.match(text).length === 0) {
        out.push(given);
        continue;
      }
    }
    key ??= ownKey(given, p.maxKeyBytes, `keys[${at}]`);
    const ctx = p.context('read', key, null, custom, text ?? given, undefined);
    let decision = p.evaluate(PolicyTrigger.BEFORE_READ, ctx, set);
    if (decision instanceof Promise) decision = await decision;
    if (decision.action !== PolicyAction.DENY) out.push(given);
  }
  return out;
}
