import diagnosticsChannel from 'node:diagnostics_channel';
import {
  context,
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
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
const ERROR_CODES = new Set(['hook_failed', 'limiter_unavailable', 'audit_unavailable', 'timeout', 'storage_error']);

// Operation latencies are microseconds to seconds: the default buckets (0, 5, 10, … in the unit) would put nearly all of them in the first.
const DURATION_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Most attribute sets the decision counter keeps; further ones are counted under `otel.metric.overflow: true` (the SDK's own default limit is 2000). */
export const MAX_COUNTER_SERIES = 1000;
const OVERFLOW: Attributes = Object.freeze({ 'otel.metric.overflow': true });

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
 * A function that records one {@link DecisionEvent} as a span and metrics: give it to
 * `policy.onDecision(...)` to instrument one engine. {@link instrument} subscribes one to the
 * diagnostics channel for every engine in the process.
 */
export function createDecisionRecorder(options: OpenTelemetryOptions = {}): DecisionRecorder {
  const tracer = options.spans === false ? undefined : (options.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_NAME);
  let decisions: ObservableCounter | undefined;
  let duration: Histogram | undefined;
  // The counter is summed here and reported when the SDK collects (an asynchronous counter with
  // the same meaning as a synchronous one): a Map lookup per decision instead of the SDK hashing
  // five attributes on every add.
  const counts = new Map<string, Series>();
  const report = (result: ObservableResult): void => {
    for (const series of counts.values()) result.observe(series.value, series.attributes);
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

  const recorder = (event: DecisionEvent): void => {
    if (tracer !== undefined) {
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
      // The event is published in the caller's async context: the active span is the parent.
      const span = tracer.startSpan(SPAN_NAMES[event.operation], { kind: SpanKind.INTERNAL, startTime: event.startTime, attributes }, context.active());
      if (event.code !== null && ERROR_CODES.has(event.code)) {
        if (event.error instanceof Error) span.recordException(event.error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: event.code });
      }
      span.end(event.startTime + event.durations.totalMs);
    }
    if (duration !== undefined) {
      const agent = agentOnMetrics ? event.agentId : null;
      const key = `${event.operation}\u0000${event.result}\u0000${event.code ?? ''}\u0000${event.ruleId ?? '\u0001'}\u0000${agent ?? '\u0001'}`;
      let series = counts.get(key);
      let timed: Attributes;
      if (series !== undefined) timed = series.timed;
      else {
        timed = { [ATTR.OPERATION]: event.operation, [ATTR.RESULT]: event.result };
        if (event.code !== null) timed[ATTR.ERROR_TYPE] = event.code;
        const attributes: Attributes = { ...timed };
        if (event.ruleId !== null) attributes[ATTR.RULE_ID] = event.ruleId;
        if (agent !== null) attributes[ATTR.AGENT_ID] = agent;
        if (counts.size < MAX_COUNTER_SERIES) counts.set(key, (series = { attributes, timed, value: 0 }));
        else {
          series = counts.get('');
          if (series === undefined) counts.set('', (series = { attributes: OVERFLOW, timed: OVERFLOW, value: 0 }));
        }
      }
      series.value++;
      duration.record(event.durations.totalMs / 1000, timed);
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


interface Series {
  /** The counter's attributes. */
  attributes: Attributes;
  /** The histogram's: operation, result, error type. */
  timed: Attributes;
  value: number;
}
