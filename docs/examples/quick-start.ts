/**
 * The seed's quick start, on an embedded RocksDB in ./agent_data, with the import changed to
 * `sochdb-policy`. Run it with `pnpm demo`.
 */
import { Database, PolicyAction, PolicyEngine, PolicyViolation } from 'sochdb-policy';
import { redactValue } from 'sochdb-policy/policy';

const db = await Database.open('./agent_data');
const policy = new PolicyEngine(db);

// Block writes to system keys from agents
policy.beforeWrite('system/*', (ctx) => {
  if (ctx.agentId) {
    return PolicyAction.DENY;
  }
  return PolicyAction.ALLOW;
});
// ...and deletes: a write rule alone leaves system/config deletable by the same agent
policy.beforeDelete('system/*', (ctx) => (ctx.agentId ? PolicyAction.DENY : PolicyAction.ALLOW));

// Redact PII on read, when the caller asks for it
policy.afterRead('users/*/email', (ctx) => (ctx.get('redact_pii') ? Buffer.from('[REDACTED]') : PolicyAction.ALLOW));
policy.afterRead('secrets/*', redactValue());

// Per-agent limit: 3 writes per minute per agent (small, so the demo hits it)
policy.addRateLimit('write', { maxPerMinute: 3, scope: 'agent_id' });
policy.enableAudit({ maxEntries: 10_000 });

// Live decision events (docs/diagnostics.md): count denials per agent as they happen.
const denials = new Map<string, number>();
policy.onDecision((event) => {
  if (event.result === 'denied') denials.set(event.agentId ?? '-', (denials.get(event.agentId ?? '-') ?? 0) + 1);
});

async function attempt(label: string, op: () => Promise<unknown>): Promise<void> {
  try {
    const result = await op();
    const shown = Buffer.isBuffer(result) ? JSON.stringify(result.toString()) : 'ok';
    // The audit log's newest entry says how the operation went: `redacted` for a read an
    // afterRead hook replaced, `allowed` otherwise (getAuditLog returns oldest first).
    const [entry] = await policy.getAuditLog({ limit: 1 });
    console.log(`${(entry?.result ?? 'allowed').padEnd(13)} ${label} -> ${shown}`);
  } catch (error) {
    if (!(error instanceof PolicyViolation)) throw error;
    console.log(`${error.code.padEnd(13)} ${label} -> ${error.message}`);
  }
}

// Use policy-wrapped operations
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
  console.log(`${new Date(entry.timestamp).toISOString()}: ${entry.operation} ${entry.key} (${entry.agentId ?? '-'}) -> ${entry.result}`);
}
console.log(`\nagent_001 entries: ${(await policy.getAuditLog({ limit: 100, agentId: 'agent_001' })).length}`);
console.log(`denials per agent (from decision events): ${[...denials].map(([agent, n]) => `${agent} ${n}`).join(', ')}`);

await db.close();
