import diagnosticsChannel from 'node:diagnostics_channel';
import {
  context,
  isSpanContextValid,
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type SpanStatus,
  type Histogram,
  type ObservableCounter,
  type ObservableResult,
  type MeterProvider,
  type TracerProvider,
} from '@opentelemetry/api';
import { DECISION_CHANNEL, type DecisionEvent } from '@sochdb-policy/core';

/** The instrumentation scope name of the tracer and the meter. */
export const INSTRUMENTATION_NAME = '@sochdb-policy/opentelemetry';

/** Span and metric attribute names (OpenTelemetry semantic-convention style: lowercase, dotted namespaces, snake_case). */
export const ATTR = {
  OPERATION: 'sochdb_policy.operation',
  RESULT: 'sochdb_policy.result',
  DECISION_ID: 'sochdb_policy.decision.id',
  RULE_ID: 'sochdb_policy.rule.id',
  RULE_TRIGGER: 'sochdb_policy.rule.trigger',
  RULE_PATTERN: 'sochdb_policy.rule.pattern',
  AGENT_ID: 'sochdb_policy.agent.id',
  SESSION_ID: 'sochdb_policy.session.id',
  KEY: 'sochdb_policy.key',
  SHADOW_RULE_ID: 'sochdb_policy.shadow.rule.id',
  SHADOW_ACTION: 'sochdb_policy.shadow.action',
  RATE_LIMIT_REMAINING: 'sochdb_policy.rate_limit.remaining',
  RATE_LIMIT_RETRY_AFTER: 'sochdb_policy.rate_limit.retry_after',
  TIMEOUT_STAGE: 'sochdb_policy.timeout.stage',
  /** The general semantic-convention attribute for a failure's class: the event's `code`. */
  ERROR_TYPE: 'error.type',
} as const;

/** Metric names. */
export const METRIC = {
  /** Counter, unit `{decision}`: operation, result, deciding rule, agent, error type. */
  DECISIONS: 'sochdb_policy.decisions',
  /** Histogram, unit `s`: operation, result, error type. */
  DURATION: 'sochdb_policy.operation.duration',
} as const;

/** Span names by operation, after the engine's methods. */
export const SPAN_NAMES = { write: 'sochdb_policy.put', read: 'sochdb_policy.get', delete: 'sochdb_policy.delete' } as const;

/** Codes that mark a span as an error: the operation failed rather than being refused by policy. */
const ERROR_CODES: ReadonlySet<string> = new Set(['hook_failed', 'limiter_unavailable', 'audit_unavailable', 'timeout', 'storage_error']);

// Operation latencies are microseconds to seconds: the default buckets (0, 5, 10, … in the unit) would put nearly all of them in the first.
const DURATION_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Most attribute sets the decision counter keeps; further ones are counted under `otel.metric.overflow: true` (the SDK's own default limit is 2000). */
export const MAX_COUNTER_SERIES = 1000;
const OVERFLOW: Attributes = Object.freeze({ 'otel.metric.overflow': true });
/** Most (operation, result, error type) combinations kept precomputed; the engine has at most 3 × 5 × 8. */
const MAX_OUTCOMES = 256;

/** A recorder: call it with each decision event; `close()` stops reporting its counter. */
export interface DecisionRecorder {
  (event: DecisionEvent): void;
  close(): void;
}

export interface OpenTelemetryOptions {
  /** @default the global tracer provider (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider;
  /** @default the global meter provider (`metrics.getMeterProvider()`) */
  meterProvider?: MeterProvider;
  /** Record a span per operation. @default true */
  spans?: boolean;
  /**
   * The fraction of operations that get a span, from 0 to 1; the counter and the histogram
   * still count every operation. Inside a trace (an active span) the choice follows the trace
   * id, as a `TraceIdRatioBasedSampler` of the same ratio would choose the trace, so a trace
   * has the spans of all its operations or of none; an operation without an active span is
   * chosen at random. An operation left out costs no SDK span at all (a sampler of the tracer
   * provider still pays for the span's ids and attributes). @default 1
   */
  sampleRatio?: number;
  /** Record the decision counter and the duration histogram. @default true */
  metrics?: boolean;
  /**
   * Put `sochdb_policy.agent.id` on the decision counter (spans always carry it). Agent ids come
   * from callers: turn this off when they are unbounded, since each distinct id is a time series.
   * @default true
   */
  agentMetricAttribute?: boolean;
  /** Put the key (`sochdb_policy.key`) on spans. Keys can hold personal data. @default false */
  recordKeys?: boolean;
}

/**
 * What every event with the same operation, result and error type shares, computed once: the
 * histogram's attributes, the span's name and status, and the counter's series by rule and agent.
 */
interface Outcome {
  /** The histogram's attributes (operation, result, error type), frozen and reused. */
  readonly timed: Attributes;
  readonly spanName: string;
  /** The span's status when the operation failed; undefined for a success, a denial or a rate limit. */
  readonly status: SpanStatus | undefined;
  /** Counter series by deciding rule ('' key: none decided). */
  readonly rules: Map<string, RuleSeries>;
}

/** The counter's series of one outcome and deciding rule, by agent. */
interface RuleSeries {
  readonly attributes: Attributes;
  /** With the agent off the counter or no agent in the context. */
  none: Series | undefined;
  readonly agents: Map<string, Series>;
}

interface Series {
  /** The counter's attributes. */
  readonly attributes: Attributes;
  value: number;
}

/** The span options object handed to `startSpan`, filled per event: tracers read it and keep nothing of it. */
interface MutableSpanOptions {
  kind: SpanKind;
  startTime: number;
  attributes: Attributes | undefined;
}

/**
 * A function that records one {@link DecisionEvent} as a span and metrics: give it to
 * `policy.onDecision(...)` to instrument one engine. {@link instrument} subscribes one to the
 * diagnostics channel for every engine in the process.
 */
export function createDecisionRecorder(options: OpenTelemetryOptions = {}): DecisionRecorder {
  const sampleRatio = options.sampleRatio ?? 1;
  if (typeof sampleRatio !== 'number' || !(sampleRatio >= 0 && sampleRatio <= 1)) {
    throw new RangeError(`options.sampleRatio must be a number from 0 to 1, got ${typeof sampleRatio === 'number' ? sampleRatio : typeof sampleRatio}`);
  }
  const tracer = options.spans === false || sampleRatio === 0 ? undefined : (options.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_NAME);
  const sampling = sampleRatio < 1;
  // TraceIdRatioBasedSampler's bound and accumulation over the trace id, so both choose alike.
  const traceIdBound = Math.floor(sampleRatio * 0xffffffff);
  // Operations of one request share a trace id: its decision is kept for the next one.
  let lastTraceId = '';
  let lastTraceSampled = false;
  const sampled = (active: Context): boolean => {
    const parent = trace.getSpanContext(active);
    if (parent === undefined || !isSpanContextValid(parent)) return Math.random() < sampleRatio;
    const traceId = parent.traceId;
    if (traceId !== lastTraceId) {
      let accumulation = 0;
      for (let i = 0; i < traceId.length / 8; i++) accumulation = (accumulation ^ parseInt(traceId.slice(i * 8, i * 8 + 8), 16)) >>> 0;
      lastTraceId = traceId;
      lastTraceSampled = accumulation <= traceIdBound;
    }
    return lastTraceSampled;
  };

  let decisions: ObservableCounter | undefined;
  let duration: Histogram | undefined;
  // The counter is summed here and reported when the SDK collects (an asynchronous counter with
  // the same meaning as a synchronous one): a few lookups per decision instead of the SDK
  // hashing five attributes on every add.
  const outcomes = new Map<string, Map<string, Map<string, Outcome>>>();
  let outcomeCount = 0;
  const all: Series[] = [];
  let overflow: Series | undefined;
  const report = (result: ObservableResult): void => {
    for (let i = 0; i < all.length; i++) result.observe(all[i]!.value, all[i]!.attributes);
  };
  if (options.metrics !== false) {
    const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_NAME);
    decisions = meter.createObservableCounter(METRIC.DECISIONS, { description: 'Policy decisions, one per operation', unit: '{decision}' });
    decisions.addCallback(report);
    duration = meter.createHistogram(METRIC.DURATION, {
      description: 'Duration of policy-wrapped operations, from the call to the decision',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
  }
  const agentOnMetrics = options.agentMetricAttribute !== false;
  const recordKeys = options.recordKeys === true;
  // Reused for every span: startSpan reads it synchronously (the SDK copies the attributes).
  const spanOptions: MutableSpanOptions = { kind: SpanKind.INTERNAL, startTime: 0, attributes: undefined };

  /** The precomputed part of an event's outcome; made on first sight, at most MAX_OUTCOMES of them. */
  const outcomeOf = (event: DecisionEvent): Outcome => {
    const code = event.code ?? '';
    let byResult = outcomes.get(event.operation);
    let byCode = byResult?.get(event.result);
    const known = byCode?.get(code);
    if (known !== undefined) return known;
    const timed: Attributes = { [ATTR.OPERATION]: event.operation, [ATTR.RESULT]: event.result };
    if (event.code !== null) timed[ATTR.ERROR_TYPE] = event.code;
    const outcome: Outcome = {
      timed: Object.freeze(timed),
      spanName: SPAN_NAMES[event.operation] ?? `sochdb_policy.${event.operation}`,
      status: event.code !== null && ERROR_CODES.has(event.code) ? Object.freeze({ code: SpanStatusCode.ERROR, message: event.code }) : undefined,
      rules: new Map(),
    };
    if (outcomeCount >= MAX_OUTCOMES) return outcome; // not kept (events the engine never makes)
    outcomeCount++;
    if (byResult === undefined) outcomes.set(event.operation, (byResult = new Map()));
    if (byCode === undefined) byResult.set(event.result, (byCode = new Map()));
    byCode.set(code, outcome);
    return outcome;
  };

  /** The counter series of an event, made on first sight; past MAX_COUNTER_SERIES, the overflow series. */
  const seriesOf = (outcome: Outcome, ruleId: string | null, agentId: string | null): Series => {
    const agent = agentOnMetrics ? agentId : null;
    const rule = outcome.rules.get(ruleId ?? '');
    const known = rule === undefined ? undefined : agent === null ? rule.none : rule.agents.get(agent);
    if (known !== undefined) return known;
    if (all.length >= MAX_COUNTER_SERIES) {
      if (overflow === undefined) all.push((overflow = { attributes: OVERFLOW, value: 0 }));
      return overflow;
    }
    let kept = rule;
    if (kept === undefined) {
      const attributes: Attributes = { ...outcome.timed };
      if (ruleId !== null) attributes[ATTR.RULE_ID] = ruleId;
      outcome.rules.set(ruleId ?? '', (kept = { attributes: Object.freeze(attributes), none: undefined, agents: new Map() }));
    }
    let series: Series;
    if (agent === null) kept.none = series = { attributes: kept.attributes, value: 0 };
    else kept.agents.set(agent, (series = { attributes: Object.freeze({ ...kept.attributes, [ATTR.AGENT_ID]: agent }), value: 0 }));
    all.push(series);
    return series;
  };

  const recorder = (event: DecisionEvent): void => {
    const outcome = outcomeOf(event);
    if (tracer !== undefined) {
      // The event is published in the caller's async context: the active span is the parent.
      const active = context.active();
      if (!sampling || sampled(active)) {
        const attributes: Attributes = {
          [ATTR.OPERATION]: event.operation,
          [ATTR.RESULT]: event.result,
          [ATTR.DECISION_ID]: event.decisionId,
        };
        if (event.ruleId !== null) {
          attributes[ATTR.RULE_ID] = event.ruleId;
          if (event.trigger !== null) attributes[ATTR.RULE_TRIGGER] = event.trigger;
          if (event.pattern !== null) attributes[ATTR.RULE_PATTERN] = event.pattern;
        }
        if (event.agentId !== null) attributes[ATTR.AGENT_ID] = event.agentId;
        if (event.sessionId !== null) attributes[ATTR.SESSION_ID] = event.sessionId;
        if (recordKeys) attributes[ATTR.KEY] = event.key;
        if (event.shadowRuleId !== undefined) {
          attributes[ATTR.SHADOW_RULE_ID] = event.shadowRuleId;
          if (event.shadowAction !== undefined) attributes[ATTR.SHADOW_ACTION] = event.shadowAction;
        }
        if (event.rateLimit !== null) {
          attributes[ATTR.RATE_LIMIT_REMAINING] = event.rateLimit.remaining;
          attributes[ATTR.RATE_LIMIT_RETRY_AFTER] = event.rateLimit.retryAfterMs / 1000;
        }
        if (event.code !== null) attributes[ATTR.ERROR_TYPE] = event.code;
        if (event.stage !== null) attributes[ATTR.TIMEOUT_STAGE] = event.stage;
        spanOptions.startTime = event.startTime;
        spanOptions.attributes = attributes;
        const span = tracer.startSpan(outcome.spanName, spanOptions, active);
        spanOptions.attributes = undefined;
        if (outcome.status !== undefined) {
          if (event.error instanceof Error) span.recordException(event.error);
          span.setStatus(outcome.status);
        }
        span.end(event.startTime + event.durations.totalMs);
      }
    }
    if (duration !== undefined) {
      seriesOf(outcome, event.ruleId, event.agentId).value++;
      duration.record(event.durations.totalMs / 1000, outcome.timed);
    }
  };
  recorder.close = (): void => {
    decisions?.removeCallback(report);
  };
  return recorder;
}

/**
 * Records every engine's decisions in this process: subscribes a {@link createDecisionRecorder}
 * to the `sochdb-policy:decision` diagnostics channel. Returns a function that unsubscribes.
 */
export function instrument(options: OpenTelemetryOptions = {}): () => void {
  const record = createDecisionRecorder(options);
  // The channel is shared by every copy of core; a recorder's own error must not escape into
  // the publishing operation's caller (diagnostics_channel would rethrow it as uncaught).
  const onMessage = (message: unknown): void => {
    try {
      record(message as DecisionEvent);
    } catch (error) {
      process.emitWarning(error instanceof Error ? error : new Error(String(error)), { code: 'SOCHDB_POLICY_OTEL' });
    }
  };
  diagnosticsChannel.subscribe(DECISION_CHANNEL, onMessage);
  let subscribed = true;
  return () => {
    if (subscribed) {
      diagnosticsChannel.unsubscribe(DECISION_CHANNEL, onMessage);
      record.close();
    }
    subscribed = false;
  };
}

