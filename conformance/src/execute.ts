import { PolicyEngine, PolicyTrigger, PolicyViolation, type AuditEntry, type AuditSink, type KeyValueStore, type PolicyCallContext, type RateLimitStore, type ScanOptions } from '@sochdb-policy/core';
import { showBytes, toBytes } from './bytes.js';
import type { AuditSetup, Case, HookSpec, RateLimitSpec, ScanRangeSpec, Step } from './case-types.js';
import { checkAuditEntries, checkEvaluation, checkKeys, checkOutcome, checkScan, type Actual } from './expect.js';
import { compileHandler, type Recorder } from './handlers.js';

/** The adapters one case runs on, fresh for this case. */
export interface CaseEnvironment {
  store: KeyValueStore;
  rateLimitStore: RateLimitStore;
  /** Undefined: the engine's own in-memory log. */
  auditSink: AuditSink | undefined;
}

/** Where the clock starts; any fixed value works, since cases compare order, not times (A4). */
export const CLOCK_START_MS = Date.UTC(2025, 0, 1);

/** Whether a case sizes the audit log, which only the engine's own in-memory log can do (A1). */
export function sizesAuditLog(c: Case): boolean {
  const audit = c.setup?.audit;
  return (typeof audit === 'object' && audit !== null) || c.steps.some((s) => s.op === 'enable_audit' && s.max_entries !== undefined);
}

/** Whether a case expects `evaluate` to answer for the rate limits, which needs the store's optional `peek`. */
export function peeksRateLimits(c: Case): boolean {
  return c.steps.some((s) => s.op === 'evaluate' && (s.expect.rate_limit === 'admitted' || s.expect.rate_limit === 'limited'));
}

/** The store capabilities a case's steps need (`scan`: iterator, `batch`: batch). */
export function storeCapabilities(c: Case): ('iterator' | 'batch')[] {
  const out = new Set<'iterator' | 'batch'>();
  for (const s of c.steps) {
    if (s.op === 'scan') out.add('iterator');
    if (s.op === 'batch') out.add('batch');
  }
  return [...out];
}

/**
 * Whether a case takes several tokens from one bucket in one call (a `batch` of two or more
 * operations under a rate limit, rule M7), which needs the store's optional `supports.tokens`.
 */
export function takesSeveralTokens(c: Case): boolean {
  const limited = (c.setup?.rate_limits?.length ?? 0) > 0 || c.steps.some((s) => s.op === 'add_rate_limit');
  return limited && c.steps.some((s) => s.op === 'batch' && s.operations.length > 1);
}

/**
 * Runs one case through the facade's PolicyEngine. Returns the failure, or undefined when
 * every step met its expectation. The first failing step ends the case.
 */
export async function executeCase(c: Case, env: CaseEnvironment): Promise<string | undefined> {
  let now = CLOCK_START_MS;
  const engine = new PolicyEngine(env.store, { clock: () => now, auditSink: env.auditSink, rateLimitStore: env.rateLimitStore });
  const recorder: Recorder = { calls: [], logs: [] };
  const ownSink = env.auditSink !== undefined;

  const setup = c.setup ?? {};
  try {
    for (const { key, value } of setup.data ?? []) await env.store.put(toBytes(key), toBytes(value));
    for (const hook of setup.hooks ?? []) register(engine, hook, recorder);
    for (const limit of setup.rate_limits ?? []) addRateLimit(engine, limit);
    if (setup.policy !== undefined) engine.load(setup.policy, { name: c.id, handlers: policyHandlers(setup.policy, recorder) });
    configureAudit(engine, setup.audit ?? false, ownSink);
  } catch (error) {
    return `setup failed: ${String(error)}`;
  }

  // Decision fields are compared where the sink says it keeps them (supports.decisionFields:
  // the engine's own log, MemoryAuditSink, the audit file from format 2); others keep the seed's
  // fields only. Asked of the sink, so the published suite needs none of this repo's adapters.
  const decisionFields = env.auditSink === undefined || env.auditSink.supports?.decisionFields === true;
  // Batch ids (scan, batch) are one of the decision fields (the audit file keeps them from format 2).
  const batchFields = decisionFields;
  let lastViolation: PolicyViolation | undefined;
  for (let i = 0; i < c.steps.length; i++) {
    const step = c.steps[i]!;
    recorder.calls.length = 0;
    recorder.logs.length = 0;
    let failure: string | undefined;
    switch (step.op) {
      case 'advance_clock':
        now += step.ms;
        break;
      case 'disable_audit':
        engine.disableAudit();
        break;
      case 'close_storage':
        await env.store.close();
        break;
      case 'raw_get': {
        const actual = await attempt(() => env.store.get(toBytes(step.key)));
        failure = checkOutcome({ value: step.expect.value }, actual, recorder);
        break;
      }
      case 'audit': {
        const q = step.query ?? {};
        const actual = await attempt(() =>
          engine.getAuditLog({ limit: q.limit, agentId: q.agent_id, operation: q.operation as AuditEntry['operation'] | undefined }),
        );
        if ('entries' in step.expect) failure = checkAuditEntries(step.expect.entries, actual, decisionFields, lastViolation?.decisionId, batchFields);
        else failure = checkOutcome(step.expect, actual, recorder);
        break;
      }
      case 'scan': {
        const entries: { key: Buffer; value: Buffer | undefined }[] = [];
        const end = await attempt(async () => {
          const scan = engine.scan(scanRange(step.range), step.context as PolicyCallContext | undefined);
          // `nextv`: read in calls of that many entries (rule M3: tokens taken per run).
          if (step.nextv !== undefined) {
            try {
              for (;;) {
                const want = step.take === undefined ? step.nextv : Math.min(step.nextv, step.take - entries.length);
                const chunk = await scan.nextv(want);
                entries.push(...chunk);
                if (chunk.length === 0 || (step.take !== undefined && entries.length >= step.take)) break;
              }
            } finally {
              await scan.close();
            }
            return;
          }
          // `take`: the caller leaves early, as `break` does (rule M4).
          for await (const entry of scan) {
            entries.push(entry);
            if (step.take !== undefined && entries.length >= step.take) break;
          }
        });
        if (!end.ok && end.error instanceof PolicyViolation) lastViolation = end.error;
        failure = checkScan(step.expect, entries, end, recorder);
        break;
      }
      case 'filter_allowed': {
        const actual = await attempt(() => engine.filterAllowed(step.keys.map(toBytes), step.context as PolicyCallContext | undefined));
        failure = 'keys' in step.expect ? checkKeys(step.expect.keys, actual) : checkOutcome(step.expect, actual, recorder);
        break;
      }
      case 'batch': {
        const operations = step.operations.map((o) => (o.type === 'put' ? { type: 'put' as const, key: toBytes(o.key), value: toBytes(o.value) } : { type: 'del' as const, key: toBytes(o.key) }));
        const actual = await attempt(() => engine.batch(operations, step.context as PolicyCallContext | undefined));
        if (!actual.ok && actual.error instanceof PolicyViolation) lastViolation = actual.error;
        failure = checkOutcome(step.expect, actual, recorder);
        break;
      }
      case 'evaluate': {
        const actual = await attempt(() =>
          engine.evaluate(step.operation, toBytes(step.key), {
            value: step.value === undefined ? undefined : toBytes(step.value),
            context: step.context as PolicyCallContext | undefined,
            trigger: step.trigger as PolicyTrigger | undefined,
          }),
        );
        failure = checkEvaluation(step.expect, actual);
        break;
      }
      default: {
        const actual = await attempt(() => operation(engine, step, recorder, ownSink));
        if (!actual.ok && actual.error instanceof PolicyViolation) lastViolation = actual.error;
        const expect = 'expect' in step && step.expect !== undefined ? step.expect : { ok: true as const };
        failure = checkOutcome(expect, actual, recorder);
      }
    }
    if (failure !== undefined) return `step ${i + 1} (${describeStep(step)}): ${failure}`;
  }
  return undefined;
}

type OperationStep = Extract<Step, { op: 'put' | 'get' | 'delete' | 'hook' | 'add_rate_limit' | 'enable_audit' }>;

async function operation(engine: PolicyEngine, step: OperationStep, recorder: Recorder, ownSink: boolean): Promise<unknown> {
  switch (step.op) {
    case 'put':
      return engine.put(toBytes(step.key), toBytes(step.value), step.context as PolicyCallContext | undefined);
    case 'get':
      return engine.get(toBytes(step.key), step.context as PolicyCallContext | undefined);
    case 'delete':
      return engine.delete(toBytes(step.key), step.context as PolicyCallContext | undefined);
    case 'hook':
      return void register(engine, step, recorder);
    case 'add_rate_limit':
      return void addRateLimit(engine, step);
    case 'enable_audit':
      return void configureAudit(engine, step.max_entries === undefined ? true : { max_entries: step.max_entries }, ownSink);
  }
}

function scanRange(range: ScanRangeSpec | undefined): ScanOptions {
  if (range === undefined) return {};
  const out: ScanOptions = { limit: range.limit, reverse: range.reverse, values: range.values };
  for (const bound of ['gt', 'gte', 'lt', 'lte', 'prefix'] as const) if (range[bound] !== undefined) out[bound] = toBytes(range[bound]);
  for (const name of Object.keys(out) as (keyof ScanOptions)[]) if (out[name] === undefined) delete out[name];
  return out;
}

function register(engine: PolicyEngine, hook: HookSpec, recorder: Recorder): void {
  // The trigger names in the files are the engine's own (`before_write`, ...).
  engine.on(hook.trigger as PolicyTrigger, hook.pattern, compileHandler(hook.handler, recorder), hook.id === undefined ? undefined : { id: hook.id });
}

/**
 * Rules with `effect: handler` name a handler; in case files the name is a recorded handler
 * that answers nothing (ALLOW), so a case can see which rules ran.
 */
function policyHandlers(policy: Record<string, unknown>, recorder: Recorder): Record<string, ReturnType<typeof compileHandler>> {
  const out: Record<string, ReturnType<typeof compileHandler>> = {};
  const rules = (policy as { rules?: { handler?: unknown }[] }).rules;
  if (Array.isArray(rules)) for (const r of rules) if (typeof r.handler === 'string') out[r.handler] = compileHandler({ record: r.handler, return: null }, recorder);
  return out;
}

function addRateLimit(engine: PolicyEngine, limit: RateLimitSpec): void {
  engine.addRateLimit(limit.operation as 'write', { maxPerMinute: limit.max_per_minute, scope: limit.scope });
}

/**
 * Audit on or off as the case says (A1). An engine given a sink of its own starts with audit
 * on, so a case that starts with audit off turns it off first.
 */
function configureAudit(engine: PolicyEngine, audit: AuditSetup, ownSink: boolean): void {
  if (audit === false) {
    if (ownSink) engine.disableAudit();
  } else if (audit === true) {
    engine.enableAudit();
  } else {
    engine.enableAudit({ maxEntries: audit.max_entries });
  }
}

async function attempt(run: () => Promise<unknown>): Promise<Actual> {
  try {
    return { ok: true, result: await run() };
  } catch (error) {
    return { ok: false, error };
  }
}

function describeStep(step: Step): string {
  const key = 'key' in step ? ` ${showBytes(toBytes(step.key))}` : '';
  const context = 'context' in step && step.context !== undefined ? ` ${JSON.stringify(step.context)}` : '';
  const pattern = 'pattern' in step ? ` ${step.trigger} ${JSON.stringify(step.pattern)}` : '';
  return `${step.op}${key}${pattern}${context}`;
}
