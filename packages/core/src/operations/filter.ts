import { PolicyAction, PolicyTrigger } from '../actions.js';
import { describe, keyText, keyTextOf, ownKey, stringKeyText, type BytesLike } from '../bytes.js';
import { callerContext } from '../context.js';
import type { Decision } from '../hooks/handler.js';
import type { Pipeline } from './pipeline.js';

/**
 * Keys whose decision is still pending (an asynchronous hook) at once, at most: the next key's
 * hooks start while earlier ones wait, so a hook that asks another service costs about one
 * round trip per this many keys, not per key.
 */
export const FILTER_PENDING = 64;
/** A pending key's place in the answer once its decision is DENY. */
const DENIED = Symbol('denied');

/**
 * `policy.filterAllowed`: the keys whose `before_read` decision is not DENY, in the order
 * given (the same values the caller passed). No storage, no token, no audit entry, no decision
 * event: it answers a question about the policy, like Rust's `get_denied_ids`. A failing hook
 * fails the whole call closed (`hook_failed`, audited `error` like any hook failure).
 *
 * Keys are evaluated in order; a key whose hooks answer with a promise waits in a window of
 * {@link FILTER_PENDING} while the next keys are evaluated, and the window is settled oldest
 * first, so the failure reported is that of the first failing key in order.
 */
export async function filterAllowed<K extends BytesLike>(p: Pipeline, keys: Iterable<K>, context: unknown): Promise<K[]> {
  if (keys === null || typeof keys !== 'object' || typeof (keys as Iterable<K>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`keys must be an iterable of keys (an array, a Set), got ${describe(keys)}`);
  }
  const caller = callerContext(context);
  const set = p.rules();
  // With plain hooks (no rules with conditions, no deny by default) a key no before_read
  // pattern matches is allowed without a context: only its text is needed, to look it up.
  const index = set.plain ? set.index(PolicyTrigger.BEFORE_READ) : undefined;
  const out: (K | typeof DENIED)[] = [];
  // Keys whose decision is pending, oldest first: their place in `out` and the decision.
  const pending: { at: number; decision: Promise<Decision> }[] = [];
  let oldest = 0;
  let denied = false;
  const settleOldest = async (): Promise<void> => {
    const { at, decision } = pending[oldest]!;
    pending[oldest++] = undefined!;
    if ((await decision).action === PolicyAction.DENY) {
      out[at] = DENIED;
      denied = true;
    }
  };
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
    const ctx = p.context('read', key, text ?? keyTextOf(key, given), null, caller, p.clock(), undefined);
    const decision = p.evaluate(PolicyTrigger.BEFORE_READ, ctx, set);
    if (decision instanceof Promise) {
      // Awaited in order below; handled now so that a failure before then is not unhandled.
      decision.then(undefined, ignore);
      pending.push({ at: out.length, decision });
      out.push(given);
      if (pending.length - oldest >= FILTER_PENDING) await settleOldest();
    } else if (decision.action !== PolicyAction.DENY) out.push(given);
  }
  while (oldest < pending.length) await settleOldest();
  return denied ? (out.filter((k) => k !== DENIED) as K[]) : (out as K[]);
}

function ignore(): void {}
