// One benchmark process: `concurrency` loops appending for `durationMs`; prints its count.
import { FileAuditSink } from '@sochdb-policy/audit-file';
import { PostgresAuditSink } from '../dist/index.js';

const { mode, url, schema, chainId, file, concurrency, durationMs } = JSON.parse(process.env.BENCH_CONFIG);
const sink =
  mode === 'postgres'
    ? await PostgresAuditSink.open({ connection: url, schema, chainId, checkpointIntervalMs: 0 })
    : await FileAuditSink.open(file, { durability: 'always' });
process.send({ ready: true });
await new Promise((r) => process.once('message', r));
const cpu0 = process.cpuUsage();
let count = 0;
const end = Date.now() + durationMs;
await Promise.all(
  Array.from({ length: concurrency }, async (_, loop) => {
    while (Date.now() < end) {
      await sink.append({ timestamp: Date.now(), operation: 'write', key: `k/${loop}/${count}`, agentId: `agent_${loop % 8}`, sessionId: 's', result: 'allowed' });
      count++;
    }
  }),
);
const cpu = process.cpuUsage(cpu0);
const stats = sink.stats === undefined ? undefined : { ...sink.stats };
await sink.close();
process.send({ count, cpuMs: (cpu.user + cpu.system) / 1000, stats });
process.disconnect();
