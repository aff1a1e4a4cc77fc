import { PolicyAction, PolicyTrigger, type Operation } from '../actions.js';
import { copyKeys, describe, keyLength, ownBytes, type BytesLike } from '../bytes.js';
import type { AuditResult, BatchOperation, RateLimitDecision } from '../contracts.js';
import { CUSTOM, normalizeContext, SET_VALUE } from '../context.js';
import { PolicyViolation, ViolationCode, violationMessage } from '../errors.js';
import { DECISION, type DecisionContext } from '../events/decision-record.js';
import { newDecisionId } from '../events/decision-id.js';
import { STEP_AUDIT, STEP_HOOKS, STEP_STORAGE, STORAGE_ERROR, type Observation } from '../events/observation.js';
import { requireCapability } from '../storage/supports.js';
import { isThenable } from '../thenable.js';
import { StepTimeout, type TimeoutStage } from '../timeouts.js';
import type { Pipeline } from './pipeline.js';
import { bucketsFor } from './tokens.js';

/** One operation of `policy.batch`: keys and values as bytes or text, like `put` and `delete`. */
export type PolicyBatchOperation = { type: 'put'; key: BytesLike; value: BytesLike } | { type: 'del'; key: BytesLike };

interface Step {
  readonly operation: Operation;
  readonly key: Buffer;
  /** What is written: the private copy, or a before_write MODIFY's replacement. */
  value: Buffer | null;
  readonly ctx: DecisionContext;
  readonly o: Observation | undefined;
}

/**
 * `policy.batch`: all or nothing (docs/core.md). Rate-limit tokens for every operation in one
 * `consume`; every operation's before-hooks; any refusal stores nothing; one atomic
 * `store.batch`; then the after-hooks and one audit entry per operation, all with one batch id.
 */
export async function runBatch(p: Pipeline, operations: unknown, context: unknown): Promise<void> {
  requireCapability(p.db, 'batch', 'policy.batch');
  if (!Array.isArray(operations)) throw new TypeError(`operations must be an array, got ${describe(operations)}`);
  const custom = normalizeContext(context);
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
  const { keys, texts } = copyKeys(given, lengths);
  const steps: Step[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    const operation: Operation = v !== null ? 'write' : 'delete';
    const o = observing ? p.observation(operation) : undefined;
    const ctx = p.context(operation, keys[i]!, texts[i]!, v, custom, timestamp, o);
    if (o !== undefined || p.audit.enabled) ctx[DECISION]().batchId = batchId;
    steps[i] = { operation, key: keys[i]!, value: v, ctx, o };
  }
  if (steps.length === 0) return;
  let published = false;
  try {
    await admitAll(p, steps, batchId);
    for (const s of steps) s.o?.enter(STEP_HOOKS);
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i]!;
      const trigger = s.operation === 'write' ? PolicyTrigger.BEFORE_WRITE : PolicyTrigger.BEFORE_DELETE;
      let decision;
      try {
        decision = p.evaluate(trigger, s.ctx, set);
        if (decision instanceof Promise) decision = await decision;
      } catch (error) {
        return await hookFailed(p, steps, i, batchId, error);
      }
      if (decision.action === PolicyAction.DENY) return await refuse(p, steps, 'denied', ViolationCode.DENIED, { index: i, batchId });
      if (decision.action === PolicyAction.MODIFY && s.operation === 'write' && decision.value !== undefined) s.value = decision.value;
    }
    const writes: BatchOperation[] = steps.map((s) => (s.operation === 'write' ? { type: 'put', key: s.key, value: s.value! } : { type: 'del', key: s.key }));
    for (const s of steps) s.o?.enter(STEP_STORAGE);
    try {
      await p.deadlines.storage.race(p.db.batch!(writes));
    } catch (error) {
      if (error instanceof StepTimeout) return await refuse(p, steps, 'error', ViolationCode.TIMEOUT, { batchId, cause: error, stage: error.stage });
      for (const s of steps) p.failing(s.ctx, 'error', STORAGE_ERROR);
      await p.audit.recordAllQuietly(contexts(steps), 'error');
      throw error;
    }
    for (const s of steps) s.o?.enter(STEP_HOOKS);
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i]!;
      if (s.operation === 'write') s.ctx[SET_VALUE](s.value);
      const trigger = s.operation === 'write' ? PolicyTrigger.AFTER_WRITE : PolicyTrigger.AFTER_DELETE;
      try {
        const after = p.evaluate(trigger, s.ctx, set);
        if (after instanceof Promise) await after;
      } catch (error) {
        return await hookFailed(p, steps, i, batchId, error);
      }
    }
    for (const s of steps) s.o?.enter(STEP_AUDIT);
    // Handed to the sink together: a sink that commits a tick's entries at once does so once.
    await p.audit.recordAll(contexts(steps), 'allowed');
    published = true;
    for (const s of steps) if (s.o !== undefined) p.publish(s.o, false, undefined);
  } catch (error) {
    if (!published) for (const s of steps) if (s.o !== undefined) p.publish(s.o, true, error);
    throw error;
  }
}

/** Rule R7 across the batch: every applicable bucket, as many tokens as operations it applies to, in one call. */
async function admitAll(p: Pipeline, steps: readonly Step[], batchId: string): Promise<void> {
  // One context for the whole batch: every write takes from the same buckets, every delete too.
  let writes = 0;
  for (const s of steps) if (s.operation === 'write') writes++;
  const { buckets, several } = bucketsFor(p, steps[0]!.ctx[CUSTOM](), [
    ['write', writes],
    ['delete', steps.length - writes],
  ]);
  if (buckets.length === 0) return;
  const store = p.rateLimitStore;
  let decision: RateLimitDecision;
  try {
    if (several && store.supports?.tokens !== true) {
      throw new TypeError('this batch takes several tokens from one bucket, and the rate-limit store does not declare supports.tokens');
    }
    const answer = store.consume(buckets, steps[0]!.ctx.timestamp);
    decision = isThenable(answer) ? await p.deadlines.rateLimit.race(answer) : answer;
  } catch (cause) {
    if (cause instanceof StepTimeout) return refuse(p, steps, 'error', ViolationCode.TIMEOUT, { batchId, cause, stage: cause.stage });
    return refuse(p, steps, 'error', ViolationCode.LIMITER_UNAVAILABLE, { batchId, cause });
  }
  if (typeof decision?.allowed !== 'boolean') {
    return refuse(p, steps, 'error', ViolationCode.LIMITER_UNAVAILABLE, { batchId, cause: new TypeError(`rate-limit store answered ${describe(decision)}`) });
  }
  if (!decision.allowed) {
    for (const s of steps) if (s.o !== undefined) s.o.rateLimit = decision;
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
async function refuse(p: Pipeline, steps: readonly Step[], result: AuditResult, code: ViolationCode, r: Refusal): Promise<never> {
  for (const s of steps) p.failing(s.ctx, result);
  await p.audit.recordAllQuietly(contexts(steps), result);
  const s = steps[r.index ?? 0]!;
  const decision = s.ctx[DECISION]();
  const rule = code === ViolationCode.DENIED ? decision.decidedBy : undefined;
  throw new PolicyViolation(code, violationMessage(code, s.operation), {
    operation: s.operation,
    key: s.ctx.keyText,
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
async function hookFailed(p: Pipeline, steps: readonly Step[], index: number, batchId: string, error: unknown): Promise<never> {
  for (let i = 0; i < steps.length; i++) if (i !== index) p.failing(steps[i]!.ctx, 'error');
  await p.audit.recordAllQuietly(
    contexts(steps).filter((_, i) => i !== index),
    'error',
  );
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

function contexts(steps: readonly Step[]): DecisionContext[] {
  return steps.map((s) => s.ctx);
}
