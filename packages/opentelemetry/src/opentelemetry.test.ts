import { context, trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SamplingDecision, SimpleSpanProcessor, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { MemoryStore, PolicyAction, PolicyEngine, PolicyViolation, type KeyValueStore } from '@sochdb-policy/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDecisionRecorder, instrument, MAX_COUNTER_SERIES, METRIC } from './index.js';

const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  context.disable();
});

let spans: InMemorySpanExporter;
let tracerProvider: BasicTracerProvider;
let metricExporter: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let meterProvider: MeterProvider;
let stop: (() => void) | undefined;

beforeEach(() => {
  spans = new InMemorySpanExporter();
  tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  meterProvider = new MeterProvider({ readers: [reader] });
});

afterEach(async () => {
  stop?.();
  stop = undefined;
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
});

async function collect() {
  await reader.forceFlush();
  const resource = metricExporter.getMetrics().at(-1)!;
  return resource.scopeMetrics.flatMap((s) => s.metrics);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

/** The seed's policies: system keys closed to agents, secrets redacted, three writes a minute per agent, one broken hook. */
function engine(store: KeyValueStore = new MemoryStore()): PolicyEngine {
  const policy = new PolicyEngine(store);
  policy.beforeWrite('system/*', (ctx) => (ctx.agentId ? PolicyAction.DENY : PolicyAction.ALLOW), { id: 'no-agent-system' });
  policy.afterRead('secrets/*', () => Buffer.from('[REDACTED]'), { id: 'redact-secrets' });
  policy.beforeDelete('broken/*', () => {
    throw new Error('hook bug');
  }, { id: 'broken-hook' });
  policy.addRateLimit('write', { maxPerMinute: 3, scope: 'agent_id' });
  return policy;
}

/** Allowed, denied, redacted, failed and rate-limited operations, in that order. */
async function run(policy: PolicyEngine): Promise<void> {
  await policy.put('users/alice', 'data', { agent_id: 'agent_001' });
  await rejection(policy.put('system/config', 'x', { agent_id: 'rogue' }));
  await policy.put('secrets/k', 'sk', { agent_id: 'agent_001' });
  await policy.get('secrets/k', { agent_id: 'agent_002' });
  await rejection(policy.delete('broken/x', { agent_id: 'agent_002' }));
  await policy.put('users/bob', 'data', { agent_id: 'agent_001' });
  await rejection(policy.put('users/carol', 'data', { agent_id: 'agent_001' }));
}


describe('instrument()', () => {
  it('records a span per operation with names, attributes and statuses', async () => {
    stop = instrument({ tracerProvider, meterProvider });
    await run(engine());
    const finished = spans.getFinishedSpans();
    expect(finished.map((s) => s.name)).toEqual([
      'sochdb_policy.put',
      'sochdb_policy.put',
      'sochdb_policy.put',
      'sochdb_policy.get',
      'sochdb_policy.delete',
      'sochdb_policy.put',
      'sochdb_policy.put',
    ]);
    const [allowed, denied, , redacted, failed, , limited] = finished;
    expect(allowed!.attributes).toEqual({
      'sochdb_policy.operation': 'write',
      'sochdb_policy.result': 'allowed',
      'sochdb_policy.decision.id': expect.any(String),
      'sochdb_policy.agent.id': 'agent_001',
    });
    expect(allowed!.status.code).toBe(0); // UNSET
    expect(denied!.attributes).toMatchObject({
      'sochdb_policy.result': 'denied',
      'sochdb_policy.rule.id': 'no-agent-system',
      'sochdb_policy.rule.trigger': 'before_write',
      'sochdb_policy.rule.pattern': 'system/*',
      'sochdb_policy.agent.id': 'rogue',
      'error.type': 'denied',
    });
    // A refusal is the policy working, not an error.
    expect(denied!.status.code).toBe(0);
    expect(redacted!.attributes).toMatchObject({ 'sochdb_policy.operation': 'read', 'sochdb_policy.result': 'redacted', 'sochdb_policy.rule.id': 'redact-secrets' });
    expect(failed!.attributes).toMatchObject({ 'sochdb_policy.result': 'error', 'error.type': 'hook_failed', 'sochdb_policy.rule.id': 'broken-hook' });
    expect(failed!.status).toEqual({ code: 2, message: 'hook_failed' }); // ERROR
    expect(failed!.events.map((e) => e.name)).toEqual(['exception']);
    expect(limited!.attributes).toMatchObject({ 'sochdb_policy.result': 'rate_limited', 'error.type': 'rate_limited', 'sochdb_policy.rate_limit.remaining': 0 });
    expect(limited!.attributes['sochdb_policy.rate_limit.retry_after']).toBeGreaterThan(0);
    expect(limited!.status.code).toBe(0);
    // Keys are left out unless asked for.
    for (const s of finished) expect(s.attributes['sochdb_policy.key']).toBeUndefined();
    for (const s of finished) expect(s.ended).toBe(true);
  });

  it('makes each span a child of the span active when the operation was called', async () => {
    stop = instrument({ tracerProvider, meterProvider });
    const policy = engine();
    policy.beforeRead('slow/*', async () => {
      await new Promise((r) => setTimeout(r, 2));
      return PolicyAction.ALLOW;
    });
    const tracer = tracerProvider.getTracer('test');
    let parent: Span | undefined;
    await tracer.startActiveSpan('request', async (span) => {
      parent = span;
      await policy.get('slow/x', { agent_id: 'agent_001' });
      span.end();
    });
    await policy.get('unrelated');
    const finished = spans.getFinishedSpans();
    const get = finished.find((s) => s.name === 'sochdb_policy.get' && s.parentSpanContext !== undefined)!;
    expect(get.parentSpanContext!.spanId).toBe(parent!.spanContext().spanId);
    expect(get.spanContext().traceId).toBe(parent!.spanContext().traceId);
    const root = finished.filter((s) => s.name === 'sochdb_policy.get' && s.parentSpanContext === undefined);
    expect(root).toHaveLength(1);
    // The span covers the operation: started before the slow hook, ended after it.
    const ms = (t: [number, number]) => t[0] * 1e3 + t[1] / 1e6;
    expect(ms(get.endTime) - ms(get.startTime)).toBeGreaterThanOrEqual(1);
    expect(ms(get.startTime)).toBeGreaterThanOrEqual(ms(finished.find((s) => s.name === 'request')!.startTime) - 1);
  });

  it('counts decisions by operation, result, rule and agent, and records latency in seconds', async () => {
    stop = instrument({ tracerProvider, meterProvider });
    await run(engine());
    const all = await collect();
    const counter = all.find((m) => m.descriptor.name === METRIC.DECISIONS)!;
    expect(counter.descriptor.unit).toBe('{decision}');
    const points = (counter.dataPoints as DataPoint<number>[]).map((p) => ({ ...p.attributes, value: p.value }));
    expect(points).toEqual(
      expect.arrayContaining([
        { 'sochdb_policy.operation': 'write', 'sochdb_policy.result': 'allowed', 'sochdb_policy.agent.id': 'agent_001', value: 3 },
        { 'sochdb_policy.operation': 'write', 'sochdb_policy.result': 'denied', 'error.type': 'denied', 'sochdb_policy.rule.id': 'no-agent-system', 'sochdb_policy.agent.id': 'rogue', value: 1 },
        { 'sochdb_policy.operation': 'read', 'sochdb_policy.result': 'redacted', 'sochdb_policy.rule.id': 'redact-secrets', 'sochdb_policy.agent.id': 'agent_002', value: 1 },
        { 'sochdb_policy.operation': 'delete', 'sochdb_policy.result': 'error', 'error.type': 'hook_failed', 'sochdb_policy.rule.id': 'broken-hook', 'sochdb_policy.agent.id': 'agent_002', value: 1 },
        { 'sochdb_policy.operation': 'write', 'sochdb_policy.result': 'rate_limited', 'error.type': 'rate_limited', 'sochdb_policy.agent.id': 'agent_001', value: 1 },
      ]),
    );
    expect(points.reduce((n, p) => n + p.value, 0)).toBe(7);
    const histogram = all.find((m) => m.descriptor.name === METRIC.DURATION)!;
    expect(histogram.descriptor.unit).toBe('s');
    const hp = histogram.dataPoints as DataPoint<Histogram>[];
    expect(hp.reduce((n, p) => n + p.value.count, 0)).toBe(7);
    const allowedWrites = hp.find((p) => p.attributes['sochdb_policy.operation'] === 'write' && p.attributes['sochdb_policy.result'] === 'allowed')!;
    expect(allowedWrites.value.count).toBe(3);
    // Seconds, with buckets fine enough for microsecond operations.
    expect(allowedWrites.value.max!).toBeLessThan(1);
    expect(allowedWrites.value.buckets.boundaries[0]).toBeLessThan(0.001);
  });

  it('marks a store failure as an error span with the exception, and leaves the operation’s outcome alone', async () => {
    stop = instrument({ tracerProvider, meterProvider });
    const boom = new Error('disk on fire');
    const store: KeyValueStore = { get: async () => null, put: async () => Promise.reject(boom), delete: async () => {}, close: async () => {} };
    const policy = engine(store);
    expect(await rejection(policy.put('users/a', 'v'))).toBe(boom);
    const [span] = spans.getFinishedSpans();
    expect(span!.attributes['error.type']).toBe('storage_error');
    expect(span!.status.code).toBe(2);
    expect(span!.events[0]!.attributes!['exception.message']).toBe('disk on fire');
  });

  it('options: keys on spans, no agent on the counter, spans or metrics off; unsubscribing stops recording', async () => {
    stop = instrument({ tracerProvider, meterProvider, recordKeys: true, agentMetricAttribute: false });
    const policy = engine();
    await policy.put('users/a', 'v', { agent_id: 'agent_001' });
    expect(spans.getFinishedSpans()[0]!.attributes['sochdb_policy.key']).toBe('users/a');
    const counter = (await collect()).find((m) => m.descriptor.name === METRIC.DECISIONS)!;
    expect(counter.dataPoints[0]!.attributes).toEqual({ 'sochdb_policy.operation': 'write', 'sochdb_policy.result': 'allowed' });
    stop();
    stop = undefined;
    await policy.put('users/b', 'v', { agent_id: 'agent_001' });
    expect(spans.getFinishedSpans()).toHaveLength(1);

    stop = instrument({ tracerProvider, meterProvider, spans: false });
    await policy.put('users/c', 'v', { agent_id: 'agent_002' });
    expect(spans.getFinishedSpans()).toHaveLength(1);
    const after = (await collect()).find((m) => m.descriptor.name === METRIC.DECISIONS)!;
    const agent2 = (after.dataPoints as DataPoint<number>[]).filter((p) => p.attributes['sochdb_policy.agent.id'] === 'agent_002');
    expect(agent2.map((p) => p.value)).toEqual([1]);
  });
});

describe('createDecisionRecorder() with policy.onDecision', () => {
  it('instruments one engine only', async () => {
    const one = engine();
    const two = engine();
    const off = one.onDecision(createDecisionRecorder({ tracerProvider, meterProvider }));
    await one.put('users/a', 'v', { agent_id: 'agent_001' });
    await two.put('users/a', 'v', { agent_id: 'agent_001' });
    expect(spans.getFinishedSpans()).toHaveLength(1);
    off();
    await one.put('users/b', 'v', { agent_id: 'agent_001' });
    expect(spans.getFinishedSpans()).toHaveLength(1);
  });

  it('a recorder that throws does not change the operation', async () => {
    const policy = engine();
    const broken = { getTracer: () => ({ startSpan: () => { throw new Error('exporter bug'); } }) } as never;
    stop = instrument({ tracerProvider: broken, metrics: false });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      await policy.put('users/a', 'v', { agent_id: 'agent_001' });
      const e = await rejection(policy.put('system/x', 'v', { agent_id: 'rogue' }));
      expect(PolicyViolation.isPolicyViolation(e) && e.code).toBe('denied');
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.message)).toEqual(['exporter bug', 'exporter bug']);
  });
});

describe('spans: what each event gets, and sampleRatio', () => {
  it('gives each span its own attributes: nothing of an earlier event is left on a later span', async () => {
    stop = instrument({ tracerProvider, meterProvider });
    await run(engine());
    const finished = spans.getFinishedSpans();
    // users/bob, allowed, right after the failed delete (rule, error type, exception).
    expect(finished[5]!.attributes).toEqual({
      'sochdb_policy.operation': 'write',
      'sochdb_policy.result': 'allowed',
      'sochdb_policy.decision.id': expect.any(String),
      'sochdb_policy.agent.id': 'agent_001',
    });
    expect(finished[5]!.status.code).toBe(0);
    expect(finished[5]!.events).toEqual([]);
    expect(new Set(finished.map((s) => s.attributes['sochdb_policy.decision.id'])).size).toBe(7);
  });

  it('rejects a sampleRatio outside 0..1', () => {
    for (const ratio of [-0.1, 1.5, Number.NaN, '0.5' as never]) expect(() => createDecisionRecorder({ tracerProvider, meterProvider, sampleRatio: ratio })).toThrow(RangeError);
  });

  it('sampleRatio 0: no spans, every decision still counted and timed', async () => {
    stop = instrument({ tracerProvider, meterProvider, sampleRatio: 0 });
    await run(engine());
    expect(spans.getFinishedSpans()).toHaveLength(0);
    const all = await collect();
    const counter = all.find((m) => m.descriptor.name === METRIC.DECISIONS)!;
    expect((counter.dataPoints as DataPoint<number>[]).reduce((n, p) => n + p.value, 0)).toBe(7);
    const histogram = all.find((m) => m.descriptor.name === METRIC.DURATION)!;
    expect((histogram.dataPoints as DataPoint<Histogram>[]).reduce((n, p) => n + p.value.count, 0)).toBe(7);
  });

  it('sampleRatio inside a trace: all or none of its operations, chosen as TraceIdRatioBasedSampler chooses the trace', async () => {
    const ratio = 0.3;
    stop = instrument({ tracerProvider, meterProvider, sampleRatio: ratio });
    const policy = new PolicyEngine(new MemoryStore());
    const tracer = tracerProvider.getTracer('test');
    const reference = new TraceIdRatioBasedSampler(ratio);
    const expected = new Map<string, boolean>();
    const traces = 300;
    for (let i = 0; i < traces; i++) {
      await tracer.startActiveSpan('request', async (span) => {
        const traceId = span.spanContext().traceId;
        expected.set(traceId, reference.shouldSample(context.active(), traceId).decision === SamplingDecision.RECORD_AND_SAMPLED);
        for (let j = 0; j < 3; j++) await policy.put(`k${j}`, 'v', { agent_id: 'a' });
        span.end();
      });
    }
    const ours = spans.getFinishedSpans().filter((s) => s.name === 'sochdb_policy.put');
    const perTrace = new Map<string, number>();
    for (const s of ours) perTrace.set(s.spanContext().traceId, (perTrace.get(s.spanContext().traceId) ?? 0) + 1);
    for (const [traceId, sampled] of expected) expect(perTrace.get(traceId) ?? 0).toBe(sampled ? 3 : 0);
    const kept = [...expected.values()].filter(Boolean).length;
    expect(kept).toBeGreaterThan(traces * ratio * 0.5);
    expect(kept).toBeLessThan(traces * ratio * 1.5);
    // Every span kept is still its request's child; every decision counted.
    for (const s of ours) expect(s.parentSpanContext).toBeDefined();
    const counter = (await collect()).find((m) => m.descriptor.name === METRIC.DECISIONS)!;
    expect((counter.dataPoints as DataPoint<number>[]).reduce((n, p) => n + p.value, 0)).toBe(traces * 3);
  });

  it('sampleRatio without an active span: about that fraction of operations, each a root span', async () => {
    stop = instrument({ tracerProvider, meterProvider, sampleRatio: 0.5 });
    const policy = new PolicyEngine(new MemoryStore());
    for (let i = 0; i < 400; i++) await policy.get('k');
    const kept = spans.getFinishedSpans();
    expect(kept.length).toBeGreaterThan(120);
    expect(kept.length).toBeLessThan(280);
    for (const s of kept) expect(s.parentSpanContext).toBeUndefined();
  });
});

describe('the decision counter', () => {
  it(`keeps at most ${MAX_COUNTER_SERIES} attribute sets and counts the rest under otel.metric.overflow`, async () => {
    const record = createDecisionRecorder({ tracerProvider, meterProvider, spans: false });
    const policy = new PolicyEngine(new MemoryStore());
    policy.onDecision(record);
    for (let i = 0; i < MAX_COUNTER_SERIES + 5; i++) await policy.get('k', { agent_id: `agent-${i}` });
    const counter = (await collect()).find((m) => m.descriptor.name === METRIC.DECISIONS)!;
    const points = counter.dataPoints as DataPoint<number>[];
    expect(points.reduce((n, p) => n + p.value, 0)).toBe(MAX_COUNTER_SERIES + 5);
    expect(points.find((p) => p.attributes['otel.metric.overflow'] === true)!.value).toBe(5);
    record.close();
  });
});

describe('with no tracer or meter provider registered', () => {
  it('records nothing and costs no SDK', async () => {
    stop = instrument();
    const policy = engine();
    await policy.put('users/a', 'v', { agent_id: 'agent_001' });
    expect(trace.getActiveSpan()).toBeUndefined();
    expect(spans.getFinishedSpans()).toHaveLength(0);
  });
});
