/**
 * The seed's quick start from a YAML policy document (quick-start.policy.yaml beside this
 * file) instead of code: the same operations, the same results as quick-start.ts.
 * Run it with `pnpm exec tsx docs/examples/quick-start-yaml.ts` after a build. It uses a MemoryStore; with
 * `Database.open('./agent_data')` it runs on RocksDB like quick-start.ts.
 */
import { MemoryStore, PolicyEngine, PolicyViolation, readPolicyFile } from 'sochdb-policy';

const policy = new PolicyEngine(new MemoryStore());
policy.load(await readPolicyFile(new URL('./quick-start.policy.yaml', import.meta.url).pathname));

async function attempt(label: string, op: () => Promise<unknown>): Promise<void> {
  try {
    const result = await op();
    const shown = Buffer.isBuffer(result) ? JSON.stringify(result.toString()) : 'ok';
    const [entry] = await policy.getAuditLog({ limit: 1 });
    console.log(`${(entry?.result ?? 'allowed').padEnd(13)} ${label} -> ${shown}`);
  } catch (error) {
    if (!(error instanceof PolicyViolation)) throw error;
    console.log(`${error.code.padEnd(13)} ${label} -> ${error.message} (rule ${error.ruleId ?? '-'}, decision ${error.decisionId})`);
  }
}

await attempt('put users/alice', () => policy.put(Buffer.from('users/alice'), Buffer.from('data'), { agent_id: 'agent_001' }));
await attempt('put system/config by agent', () => policy.put('system/config', 'malicious', { agent_id: 'rogue' }));
await attempt('put system/config by operator', () => policy.put('system/config', 'v2', {}));
await attempt('delete system/config by agent', () => policy.delete('system/config', { agent_id: 'rogue' }));
await attempt('put users/alice/email', () => policy.put('users/alice/email', 'alice@example.com', { agent_id: 'agent_001' }));
await attempt('get users/alice/email', () => policy.get('users/alice/email', { agent_id: 'agent_002' }));
await attempt('get users/alice/email, redact_pii', () => policy.get('users/alice/email', { agent_id: 'agent_002', redact_pii: 'true' }));
await attempt('put secrets/api-key', () => policy.put('secrets/api-key', 'sk-123', { agent_id: 'agent_001' }));
await attempt('get secrets/api-key', () => policy.get('secrets/api-key', { agent_id: 'agent_001' }));
await attempt('put users/bob (4th write of agent_001)', () => policy.put('users/bob', 'data', { agent_id: 'agent_001' }));
await attempt('put users/bob by agent_002', () => policy.put('users/bob', 'data', { agent_id: 'agent_002' }));

console.log('\naudit log:');
for (const entry of await policy.getAuditLog({ limit: 100 })) {
  console.log(`${entry.operation} ${entry.key} (${entry.agentId ?? '-'}) -> ${entry.result}${entry.ruleId ? ` [${entry.ruleId}]` : ''}`);
}
