// Cost of decision events, interleaved in one process (the machine is shared: every runner
// takes turns chunk by chunk, and medians over rounds are reported).
//
//   node --expose-gc bench/overhead.mjs [--baseline <core dist/index.js of another build>] [--current <core dist/index.js>] [--rounds N] [--ops N]
//
// --current defaults to the workspace's @sochdb-policy/core; give a clean worktree's build to
// keep uncommitted work out of the comparison.
//
// Runners, each on its own engine over a MemoryStore:
//   baseline     another build of @sochdb-policy/core (e.g. a git worktree of the commit before events), if given
//   none         this build, nobody subscribed
//   listener     this build, one policy.onDecision listener that does nothing
//   otel         this build, @sochdb-policy/opentelemetry's recorder through policy.onDecision,
//                OpenTelemetry SDK with a no-op span exporter and a periodic metric reader
// No runner subscribes to the diagnostics channel itself, so `none` is measured on channels
// that never had a subscriber, as in a process that does not use them.
//
// Time is the process's CPU time (user + system, process.cpuUsage) by default: on a machine
// shared with other work, wall time also counts the moments the process waits for a core,
// which hit runners unevenly. `--clock wall` measures wall time instead.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const { values } = parseArgs({ options: { baseline: { type: 'string' }, current: { type: 'string' }, clock: { type: 'string', default: 'cpu' }, rounds: { type: 'string', default: '30' }, ops: { type: 'string', default: '20000' } } });
const rounds = Number(values.rounds);
const ops = Number(values.ops);

const load = (path) => import(pathToFileURL(resolve(path)).href);
const core = values.current ? await load(values.current) : await import('@sochdb-policy/core');
const base = values.baseline ? await load(values.baseline) : undefined;
const { createDecisionRecorder } = await import('../dist/index.js');
const { BasicTracerProvider, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = await import('@opentelemetry/sdk-metrics');

const noopSpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
const noopMetricExporter = { export: (_m, done) => done({ code: 0 }), forceFlush: async () => {}, shutdown: async () => {}, selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE };
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(noopSpanExporter)] });
const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: noopMetricExporter, exportIntervalMillis: 60_000 })] });

const KEYS = Array.from({ length: 1024 }, (_, i) => `users/agent-${i % 16}/k${i}`);
const CONTEXTS = Array.from({ length: 16 }, (_, i) => ({ agent_id: `agent_${i}` }));

/** `typical`: a hook, a generous rate limit, audit on; `bare`: nothing but the store. */
function engine(lib, scenario) {
  const policy = new lib.PolicyEngine(new lib.MemoryStore());
  if (scenario === 'typical') {
    policy.beforeWrite('system/*', (ctx) => (ctx.agentId ? lib.PolicyAction.DENY : lib.PolicyAction.ALLOW));
    policy.addRateLimit('write', { maxPerMinute: 1e9, scope: 'agent_id' });
    policy.enableAudit({ maxEntries: 1000 });
  }
  return policy;
}

/** Nanoseconds: CPU time of the process, or wall time. */
const clock =
  values.clock === 'wall'
    ? () => Number(process.hrtime.bigint())
    : () => {
        const { user, system } = process.cpuUsage();
        return (user + system) * 1000;
      };

function runner(policy) {
  let i = 0;
  return async (n) => {
    const start = clock();
    for (let j = 0; j < n; j++, i++) await policy.put(KEYS[i & 1023], 'value', CONTEXTS[i & 15]);
    return clock() - start;
  };
}

const shuffled = (n) => {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function compare(scenario) {
  const names = [];
  const runners = [];
  if (base) {
    names.push('baseline');
    runners.push(runner(engine(base, scenario)));
  }
  names.push('none');
  runners.push(runner(engine(core, scenario)));
  const listened = engine(core, scenario);
  listened.onDecision(() => {});
  names.push('listener');
  runners.push(runner(listened));
  const traced = engine(core, scenario);
  traced.onDecision(createDecisionRecorder({ tracerProvider, meterProvider }));
  names.push('otel');
  runners.push(runner(traced));

  const chunks = 10;
  const chunkOps = Math.ceil(ops / chunks);
  const samples = runners.map(() => []);
  for (let r = -1; r < rounds; r++) {
    const total = runners.map(() => 0);
    globalThis.gc?.();
    for (let c = 0; c < chunks; c++) {
      // A fresh order every chunk, and garbage collected before every chunk: otherwise the
      // runner that follows the one making the most garbage (otel) pays for its collections.
      for (const k of shuffled(runners.length)) {
        globalThis.gc?.();
        total[k] += await runners[k](chunkOps);
      }
    }
    if (r >= 0) total.forEach((ns, k) => samples[k].push(ns / (chunkOps * chunks)));
  }
  const ref = names.indexOf(base ? 'baseline' : 'none');
  const none = names.indexOf('none');
  console.log(`\n${scenario}: policy.put on MemoryStore, ${rounds} rounds × ${ops} ops per runner, ${values.clock} time, medians`);
  console.log('runner      ns/op    vs ' + names[ref].padEnd(9) + ' vs none');
  names.forEach((name, k) => {
    // Ratios per round (same moment for both runners), then the median.
    const vsRef = median(samples[k].map((v, r) => v / samples[ref][r]));
    const vsNone = median(samples[k].map((v, r) => v / samples[none][r]));
    console.log(`${name.padEnd(10)} ${median(samples[k]).toFixed(0).padStart(6)}    ${vsRef.toFixed(3)}×       ${vsNone.toFixed(3)}×`);
  });
}

await compare('bare');
await compare('typical');
await meterProvider.shutdown();
await tracerProvider.shutdown();
