import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Database, PolicyAction, PolicyEngine, PolicyViolation, PolicyViolationError } from 'sochdb-policy';
import { allowAll, denyAll, logAndAllow, redactValue, requireAgentId } from 'sochdb-policy/policy';

const root = mkdtempSync(join(tmpdir(), 'sochdb-facade-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('sochdb-policy facade', () => {
  it("runs the seed's TypeScript quick start as written, with only the import changed", async () => {
    const db = await Database.open(join(root, 'agent_data'));
    const policy = new PolicyEngine(db);

    // Block writes to system keys
    policy.beforeWrite('system/*', (ctx) => {
      if (ctx.agentId) {
        return PolicyAction.DENY;
      }
      return PolicyAction.ALLOW;
    });

    // Use policy-wrapped operations
    await policy.put(Buffer.from('users/alice'), Buffer.from('data'), {
      agent_id: 'agent_001',
    });

    expect((await policy.get('users/alice'))!.toString()).toBe('data');
    await expect(policy.put('system/config', 'malicious', { agent_id: 'rogue' })).rejects.toBeInstanceOf(PolicyViolationError);
    await db.close();
  });

  it('exports the helpers from sochdb-policy/policy, as the seed imports sochdb.policy', () => {
    for (const h of [denyAll, allowAll, requireAgentId, redactValue(), logAndAllow()]) expect(typeof h).toBe('function');
    expect(PolicyViolation).toBe(PolicyViolationError);
  });

  it('Database.open returns a Database that persists', async () => {
    const location = join(root, 'persist');
    const db = await Database.open(location);
    expect(db).toBeInstanceOf(Database);
    await db.put(Buffer.from('k'), Buffer.from('v'));
    await db.close();
    const again = await Database.open(location);
    expect((await again.get(Buffer.from('k')))!.toString()).toBe('v');
    await again.close();
  });

  it('the demo runs and shows each kind of decision', async () => {
    const repo = resolve(import.meta.dirname, '../../..');
    const cwd = mkdtempSync(join(root, 'demo-'));
    const { stdout } = await promisify(execFile)(process.execPath, [join(repo, 'node_modules/tsx/dist/cli.mjs'), join(repo, 'docs/examples/quick-start.ts')], { cwd });
    expect(stdout).toMatch(/^denied\s+put system\/config by agent -> Write blocked by policy$/m);
    expect(stdout).toMatch(/^denied\s+delete system\/config by agent -> Delete blocked by policy$/m);
    expect(stdout).toMatch(/^rate_limited\s+put users\/bob/m);
    expect(stdout).toMatch(/"\[REDACTED\]"/);
    expect(stdout).toMatch(/audit log:/);
    expect(stdout).toMatch(/write users\/bob \(agent_001\) -> rate_limited/);
  });
});
