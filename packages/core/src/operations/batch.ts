import { PolicyAction, PolicyTrigger, type Operation } from '../actions.js';
import { copyKeys, describe, keyLength, ownBytes, type BytesLike } from '../bytes.js';
import type { AuditResult, BatchOperation, RateLimitDecision } from '../contracts.js';
import { callerContext, CUSTOM, SET_VALUE } from '../context.js';
import { PolicyViolation, ViolationCode, violationMessage } from '../errors.js';
import { DECISION, type DecisionContext } from '../events/decision-record.js';
import { newDecisionId } from '../events/decision-id.js';
import { STEP_AUDIT, STEP_HOOKS, STEP_STORAGE, STORAGE_ERROR, type Observation } from '../events/observation.js';
import { requireCapability } from '../storage/supports.js';
import { isThenable } from '../thenable.js';
import { StepTimeout, type TimeoutStage } from '../timeouts.js';
import { limiterFailed, unreadableDecision } from '../limits/limiter-failure.js';
import type { Pipeline } from './pipeline.js';
import { bucketsFor } from './tokens.js';

/** One operation of `policy.batch`: keys and values as bytes or text, like `put` and `delete`. */
export type PolicyBatchOperation = { type: 'put'; key: BytesLike; value: BytesLike } | { type: 'del'; key: BytesLike };

/**
 * The batch's operations, column by column (no object per operation): operation `i` is a write
 * when `values[i]` is not null.
 */
interface Steps {
  readonly keys: readonly Buffer[];
  /** What is written: the private copy, or a before_write MODIFY's replacement; null for a delete. */
  readonly values: (Buffer | null)[];
  readonly ctxs: readonly DecisionContext[];
  /** Each operation's observation, when someone receives decision events. */
  readonly os: readonly Observation[] | undefined;
}

/**
 * `policy.batch`: all or nothing (docs/core.md). Rate-limit tokens for every operation in one
 * `consume`; every operation's before-hooks; any refusal stores nothing; one atomic
 * `store.batch`; then the after-hooks and one audit entry per operation, all with one batch id.
 */
export async function runBatch(p: Pipeline, operations: unknown, context: unknown): Promise<void> {
  requireCapability(p.db, 'batch', 'policy.batch');
  if (!Array.isArray(operations)) throw new TypeError(`operations must be an array, got ${describe(operations)}`);
  const caller = callerContext(context);
  const set = p.rules();
  const observing = p.observing();
  // One time for the whole batch: every operation's context, audit entry and limit share it.
  const timestamp = p.clock();
  const batchId = newDecisionId(timestamp);
  // Private copies of every key and value first: what the hooks approve is what is stored.
  // Every operation is checked, in order, before any key is copied; the keys are copied together.
  const n = operations.length;
  const given: (string | Uint8Array)[] = new Array(n);
  const lengths: number[] = new Array(n);
  const values: (Buffer | null)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const op: unknown = operations[i];
    if (op === null || typeof op !== 'object') throw new TypeError(`operations[${i}] must be an object, got ${describe(op)}`);
    const { type, key, value } = op as Record<string, unknown>;
    if (type !== 'put' && type !== 'del') throw new TypeError(`operations[${i}].type must be 'put' or 'del', got ${describe(type)}`);
    lengths[i] = keyLength(key, p.maxKeyBytes, () => `operations[${i}].key`);
    given[i] = key as string | Uint8Array;
    values[i] = type === 'put' ? ownBytes(value, `operations[${i}].value`) : null;
  }
  if (n === 0) return;
  const { keys, texts } = copyKeys(given, lengths);
  const ctxs: DecisionContext[] = new Array(n);
  const os: Observation[] | undefined = observing ? new Array(n) : undefined;
  const recorded = observing || p.audit.enabled;
  for (let i = 0; i < n; i++) {
    const operation: Operation = values[i] !== null ? 'write' : 'delete';
    const o = os !== undefined ? (os[i] = p.observation(operation)) : undefined;
    const ctx = (ctxs[i] = p.context(operation, keys[i]!, texts[i]!, values[i] as Buffer | null, caller, timestamp, o));
    if (recorded) ctx[DECISION]().batchId = batchId;
  }
  const steps: Steps = { keys, values, ctxs, os };
  let published = false;
  try {
    await admitAll(p, steps, batchId);
    if (os !== undefined) for (const o of os) o.enter(STEP_HOOKS);
    for (let i = 0; i < n; i++) {
      const write = values[i] !== null;
      let decision;
      try {
        decision = p.evaluate(write ? PolicyTrigger.BEFORE_WRITE : PolicyTrigger.BEFORE_DELETE, ctxs[i]!, set);
        if (decision instanceof Promise) decision = await decision;
      } catch (error) {
        return await hookFailed(p, steps, i, batchId, error);
      }
      if (decision.action === PolicyAction.DENY) return await refuse(p, steps, 'denied', ViolationCode.DENIED, { index: i, batchId });
      if (decision.action === PolicyAction.MODIFY && write && decision.value !== undefined) values[i] = decision.value;
    }
    const writes: BatchOperation[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const value = values[i] as Buffer | null;
      writes[i] = value !== null ? { type: 'put', key: keys[i]!, value } : { type: 'del', key: keys[i]! };
    }
    if (os !== undefined) for (const o of os) o.enter(STEP_STORAGE);
    try {
      await p.deadlines.storage.race(p.db.batch!(writes));
    } catch (error) {
      if (error instanceof StepTimeout) return await refuse(p, steps, 'error', ViolationCode.TIMEOUT, { batchId, cause: error, stage: error.stage });
      for (const ctx of ctxs) p.failing(ctx, 'error', STORAGE_ERROR);
      await p.audit.recordAllQuietly(ctxs, 'error');
      throw error;
    }
    if (os !== undefined) for (const o of os) o.enter(STEP_HOOKS);
    for (let i = 0; i < n; i++) {
      const ctx = ctxs[i]!;
      const value = values[i] as Buffer | null;
      if (value !== null) ctx[SET_VALUE](value);
      try {
        const after = p.evaluate(value !== null ? PolicyTrigger.AFTER_WRITE : PolicyTrigger.AFTER_DELETE, ctx, set);
        if (after instanceof Promise) await after;
      } catch (error) {
        return await hookFailed(p, steps, i, batchId, error);
      }
    }
    if (os !== undefined) for (const o of os) o.enter(STEP_AUDIT);
    // Handed to the sink together: a sink that commits a tick's entries at once does so once.
    await p.audit.recordAll(ctxs, 'allowed');
    published = true;
    if (os !== undefined) for (const o of os) p.publish(o, false, undefined);
  } catch (error) {
    if (!published && os !== undefined) for (const o of os) p.publish(o, true, error);
    throw error;
  }
}

/** Rule R7 across the batch: every applicable bucket, as many tokens as operations it applies to, in one call. */
async function admitAll(p: Pipeline, steps: Steps, batchId: string): Promise<void> {
  // One context for the whole batch: every write takes from the same buckets, every delete too.
  let writes = 0;
  for (const value of steps.values) if (value !== null) writes++;
  const first = steps.ctxs[0]!;
  const { buckets, several } = bucketsFor(p, first[CUSTOM](), [
    ['write', writes],
    ['delete', steps.values.length - writes],
  ]);
  if (buckets.length === 0) return;
  const store = p.rateLimitStore;
  let decision: RateLimitDecision;
  try {
    if (several && store.supports?.tokens !== true) {
      throw new TypeError('this batch takes several tokens from one bucket, and the rate-limit store does not declare supports.tokens');
    }
    const answer = store.consume(buckets, first.timestamp);
    decision = isThenable(answer) ? await p.deadlines.rateLimit.race(answer) : answer;
  } catch (cause) {
    const failure = limiterFailed(cause);
    return refuse(p, steps, 'error', failure.code, { batchId, cause, stage: failure.stage });
  }
  const unreadable = unreadableDecision(decision);
  if (unreadable !== undefined) return refuse(p, steps, 'error', unreadable.code, { batchId, cause: unreadable.cause });
  if (!decision.allowed) {
    if (steps.os !== undefined) for (const o of steps.os) o.rateLimit = decision;
    return refuse(p, steps, 'rate_limited', ViolationCode.RATE_LIMITED, { batchId, retryAfterMs: decision.retryAfterMs });
  }
}

interface Refusal {
  batchId: string;
  /** The refused operation; undefined when the whole batch was (rate limits, a store timeout). */
  index?: number;
  cause?: unknown;
  retryAfterMs?: number;
  stage?: TimeoutStage;
}

/**
 * Nothing was stored (or, for a storage timeout, whether it was is unknown): one audit entry
 * per operation with the batch's result, then a violation naming the refused operation.
 */
async function refuse(p: Pipeline, steps: Steps, result: AuditResult, code: ViolationCode, r: Refusal): Promise<never> {
  for (const ctx of steps.ctxs) p.failing(ctx, result);
  await p.audit.recordAllQuietly(steps.ctxs, result);
  const ctx = steps.ctxs[r.index ?? 0]!;
  const decision = ctx[DECISION]();
  const rule = code === ViolationCode.DENIED ? decision.decidedBy : undefined;
  throw new PolicyViolation(code, violationMessage(code, ctx.operation), {
    operation: ctx.operation,
    key: ctx.keyText,
    cause: r.cause,
    retryAfterMs: r.retryAfterMs,
    stage: r.stage,
    decisionId: decision.id,
    ruleId: rule?.id,
    trigger: rule?.trigger,
    pattern: rule?.pattern,
    index: r.index,
    batchId: r.batchId,
  });
}

/**
 * A hook of operation `index` failed: the engine already audited that operation `error`; the
 * others get an `error` entry too, and the violation names the operation.
 */
async function hookFailed(p: Pipeline, steps: Steps, index: number, batchId: string, error: unknown): Promise<never> {
  const others = steps.ctxs.filter((_, i) => i !== index);
  for (const ctx of others) p.failing(ctx, 'error');
  await p.audit.recordAllQuietly(others, 'error');
  if (!PolicyViolation.isPolicyViolation(error)) throw error;
  throw new PolicyViolation(error.code, error.message, {
    operation: error.operation,
    key: error.key,
    cause: error.cause,
    retryAfterMs: error.retryAfterMs,
    trigger: error.trigger,
    pattern: error.pattern,
    stage: error.stage,
    ruleId: error.ruleId,
    decisionId: error.decisionId,
    index,
    batchId,
  });
}
