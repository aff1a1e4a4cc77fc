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
await sink.close();
process.send({ count });
process.disconnect();
