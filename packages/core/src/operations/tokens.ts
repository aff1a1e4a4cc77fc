import type { Operation } from '../actions.js';
import type { BucketRequest, RateLimitDecision } from '../contracts.js';
import { CUSTOM, type ContextMap } from '../context.js';
import type { DecisionContext } from '../events/decision-record.js';
import { limiterFailed, unreadableDecision, type LimiterFailure } from '../limits/limiter-failure.js';
import { isThenable } from '../thenable.js';
import type { Pipeline } from './pipeline.js';

/**
 * The bucket requests of several operations taken together (rule R7 across them): each bucket
 * that applies once, asking for as many tokens as operations it applies to. A bucket asking
 * for one token is the plain request every store understands. `several`: some bucket asks for
 * more than one (the store must declare `supports.tokens`).
 */
export function bucketsFor(p: Pipeline, custom: ContextMap, counts: readonly (readonly [Operation, number])[]): { buckets: BucketRequest[]; several: boolean } {
  const byKey = new Map<string, BucketRequest & { tokens: number }>();
  for (const [operation, count] of counts) {
    if (count === 0) continue;
    for (const limit of p.limitsFor(operation)) {
      const request = limit.request(custom);
      const seen = byKey.get(request.key);
      if (seen !== undefined) seen.tokens += count;
      else byKey.set(request.key, { key: request.key, capacity: request.capacity, windowMs: request.windowMs, tokens: count });
    }
  }
  const buckets: BucketRequest[] = [];
  let several = false;
  for (const b of byKey.values()) {
    if (b.tokens > 1) several = true;
    buckets.push(b.tokens > 1 ? b : { key: b.key, capacity: b.capacity, windowMs: b.windowMs });
  }
  return { buckets, several };
}

/**
 * Takes the tokens of up to `count` operations like `ctx`'s — a scan's run of keys about to be
 * examined — in one `consume` (rule M3: still one token per key, all buckets or none). Answers
 * how many operations it paid for:
 *
 * - `count` when no limit applies;
 * - otherwise as many as it took tokens for: `count`, or fewer when a bucket's capacity is
 *   smaller (more would be refused however full the bucket);
 * - 0 when it took nothing — a bucket holds fewer tokens, or the store cannot take several at
 *   once (`supports.tokens`): the caller then takes one per key, so that the key where the
 *   tokens run out is refused exactly as it would have been;
 * - a limiter that fails, times out or answers nonsense fails `ctx`'s operation (rejects),
 *   exactly as that key's own admission would have.
 */
export function takeRun(p: Pipeline, ctx: DecisionContext, count: number): number | Promise<number> {
  const limits = p.limitsFor(ctx.operation);
  if (limits.length === 0) return count;
  const store = p.rateLimitStore;
  if (store.supports?.tokens !== true) return 0;
  let answer: RateLimitDecision | PromiseLike<RateLimitDecision>;
  let n = count;
  try {
    // Each bucket once, with the tokens one key takes from it (more than one when limits share it).
    const { buckets } = bucketsFor(p, ctx[CUSTOM](), [[ctx.operation, 1]]);
    for (const b of buckets) n = Math.min(n, Math.floor(b.capacity / (b.tokens ?? 1)));
    if (n < 2) return 0;
    answer = store.consume(
      buckets.map((b) => ({ key: b.key, capacity: b.capacity, windowMs: b.windowMs, tokens: (b.tokens ?? 1) * n })),
      ctx.timestamp,
    );
  } catch (cause) {
    return failed(p, ctx, limiterFailed(cause));
  }
  if (!isThenable(answer)) return granted(p, ctx, answer, n);
  return Promise.resolve(p.deadlines.rateLimit.race(answer)).then(
    (decision) => granted(p, ctx, decision, n),
    (cause: unknown) => failed(p, ctx, limiterFailed(cause)),
  );
}

function granted(p: Pipeline, ctx: DecisionContext, decision: RateLimitDecision, n: number): number | Promise<never> {
  const unreadable = unreadableDecision(decision);
  if (unreadable !== undefined) return failed(p, ctx, unreadable);
  return decision.allowed ? n : 0;
}

function failed(p: Pipeline, ctx: DecisionContext, failure: LimiterFailure): Promise<never> {
  return p.fail(ctx, 'error', failure.code, failure.cause, undefined, failure.stage);
}
