import { describe, expect, it } from 'vitest';
import { PolicyAction } from '../actions.js';
import type { AuditEntry, AuditSink } from '../contracts.js';
import { PolicyEngine } from '../engine.js';
import { PolicyViolation } from '../errors.js';
import { AppliedRules } from '../events/applied-rules.js';
import { DecisionState } from '../events/decision-record.js';
import { decisionIdTime, formatDecisionId, isDecisionId, newDecisionId, nextDecisionId } from '../events/decision-id.js';
import { MemoryAuditSink } from './memory-audit-sink.js';
import { MemoryStore } from './memory-store.js';

const NOW = 1_700_000_000_000;

/** An AuditSink that keeps the entry objects the engine builds for any custom sink. */
class ArraySink implements AuditSink {
  readonly held: AuditEntry[] = [];
  append(entry: AuditEntry): void {
    this.held.push(structuredClone(entry));
  }
  query(): AuditEntry[] {
    return this.held;
  }
}

/** The same policy and operations on an engine with `sink`: every result, shadow rules, rule ids, a batch. */
async function workload(sink: AuditSink): Promise<string[]> {
  let t = NOW;
  const policy = new PolicyEngine(new MemoryStore(), { auditSink: sink, clock: () => t++ });
  policy
    .beforeWrite('system/**', () => PolicyAction.DENY, { id: 'no-system' })
    .beforeWrite('users/**', () => PolicyAction.LOG, { id: 'log-users' })
    .afterRead('users/*/email', () => PolicyAction.MODIFY, { id: 'redact' })
    .addRateLimit('delete', 1);
  policy.load({ version: 1, rules: [{ id: 'would-deny', trigger: 'before_write', pattern: 'users/*/draft', effect: 'deny', enforce: false }] }, { name: 'shadow' });
  const ids: string[] = [];
  const attempt = async (run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (error) {
      if (error instanceof PolicyViolation) ids.push(error.decisionId!);
      else throw error;
    }
  };
  const agent = { agent_id: 'agent-1', session_id: 'session-1' };
  await attempt(() => policy.put('users/1/email', 'a@b', agent));
  await attempt(() => policy.put('users/1/draft', 'x', agent));
  await attempt(() => policy.put('system/config', 'x', agent));
  await attempt(() => policy.get('users/1/email'));
  await attempt(() => policy.delete('users/1/email', agent));
  await attempt(() => policy.delete('users/1/email', agent));
  await attempt(() => policy.batch([{ type: 'put', key: 'users/2/a', value: '1' }, { type: 'del', key: 'users/2/b' }], agent));
  return ids;
}

/** Entries without their decision and batch ids (random in part), which are checked on their own. */
const withoutIds = (entries: AuditEntry[]) =>
  entries.map(({ decisionId, batchId, ...rest }) => ({ ...rest, hasId: isDecisionId(decisionId), inBatch: batchId !== undefined }));

describe('the in-memory audit log, kept column by column', () => {
  it('returns exactly the entries a custom sink receives, for every kind of decision', async () => {
    const custom = new ArraySink();
    const memory = new MemoryAuditSink();
    await workload(custom);
    await workload(memory);
    const held = memory.query({ limit: 1000 });
    expect(held).toHaveLength(custom.held.length);
    expect(withoutIds(held)).toEqual(withoutIds(custom.held));
    expect(held.some((e) => e.shadowRuleId === 'would-deny')).toBe(true);
    expect(new Set(held.filter((e) => e.batchId !== undefined).map((e) => e.batchId)).size).toBe(1);
  });

  it('gives each entry the decision id its violation carried, in time order', async () => {
    const memory = new MemoryAuditSink();
    const violationIds = await workload(memory);
    const ids = memory.query({ limit: 1000 }).map((e) => e.decisionId!);
    expect(violationIds.length).toBeGreaterThan(0);
    for (const id of violationIds) expect(ids).toContain(id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    // Made once: the same text on every read.
    expect(memory.query({ limit: 1000 }).map((e) => e.decisionId)).toEqual(ids);
  });

  it('hands out copies: changing a returned entry or an appended one changes nothing held', async () => {
    const memory = new MemoryAuditSink();
    await workload(memory);
    const first = memory.query({ limit: 1000 });
    first[0]!.key = 'changed';
    first[0]!.appliedRules?.push('changed');
    expect(memory.query({ limit: 1000 })).not.toEqual(first);
    const entry: AuditEntry = { timestamp: 1, operation: 'read', key: 'k', agentId: null, sessionId: null, result: 'allowed', appliedRules: ['r'] };
    memory.append(entry);
    entry.key = 'changed';
    expect(memory.query({ limit: 1 })[0]!.key).toBe('k');
  });

  it('keeps the newest entries across wrap-around and resize', async () => {
    const memory = new MemoryAuditSink({ maxEntries: 3 });
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: memory, clock: () => NOW });
    for (let i = 0; i < 7; i++) await policy.put(`k${i}`, 'v');
    expect(memory.query().map((e) => e.key)).toEqual(['k4', 'k5', 'k6']);
    memory.resize(2);
    expect(memory.query().map((e) => e.key)).toEqual(['k5', 'k6']);
    memory.resize(5);
    for (let i = 7; i < 10; i++) await policy.put(`k${i}`, 'v');
    expect(memory.query().map((e) => e.key)).toEqual(['k5', 'k6', 'k7', 'k8', 'k9']);
    const streamed: string[] = [];
    for await (const e of memory.entries({ order: 'desc' })) streamed.push(e.key);
    expect(streamed).toEqual(['k9', 'k8', 'k7', 'k6', 'k5']);
    memory.clear();
    expect(memory.query()).toEqual([]);
  });

  it('grows its columns past their first size', async () => {
    const memory = new MemoryAuditSink({ maxEntries: 5000 });
    const policy = new PolicyEngine(new MemoryStore(), { auditSink: memory, clock: () => NOW });
    for (let i = 0; i < 3000; i++) await policy.put(`k${i}`, 'v', { agent_id: `a${i % 7}` });
    const all = memory.query({ limit: 5000 });
    expect(all).toHaveLength(3000);
    expect(all[2999]).toMatchObject({ key: 'k2999', agentId: 'a3', operation: 'write', result: 'allowed', timestamp: NOW });
    expect(memory.query({ agentId: 'a3', limit: 5000 })).toHaveLength(Math.floor(3000 / 7) + (3000 % 7 > 3 ? 1 : 0));
  });
});

describe('decision id parts', () => {
  it('format to the id newDecisionId makes, with the time of the clock', () => {
    const parts = { ms: 0, counter: 0, hi: 0, lo: 0 };
    nextDecisionId(NOW + 5_000, parts);
    const id = formatDecisionId(parts.ms, parts.counter, parts.hi, parts.lo);
    expect(isDecisionId(id)).toBe(true);
    expect(decisionIdTime(id)).toBe(NOW + 5_000);
    // hi and lo are signed 32-bit integers (kept unboxed); the id shows their bits.
    const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
    expect(Number.isInteger(parts.hi) && parts.hi < 0).toBe(true); // the variant bit is the sign bit
    expect(id.slice(19, 23) + id.slice(24)).toBe(hex(parts.hi) + hex(parts.lo));
    const next = newDecisionId(NOW + 5_000);
    expect(next > id).toBe(true);
  });
});

describe('applied rule sequences', () => {
  it('are shared between operations that apply the same rules, and copies when read', () => {
    const a = AppliedRules.NONE.then('x').then('y');
    const b = AppliedRules.NONE.then('x').then('y');
    expect(a).toBe(b);
    expect(a.ids).toEqual(['x', 'y']);
    // Handed out as copies only.
    const state = new DecisionState(0, true);
    state.apply('x');
    state.apply('y');
    expect(state.appliedRules).toBe(a);
    expect(state.applied).toEqual(['x', 'y']);
    expect(state.applied).not.toBe(a.ids);
    expect(AppliedRules.NONE.then('y').then('x')).not.toBe(a);
  });

  it('stop being shared past their bound, and stay correct', () => {
    let last: AppliedRules | undefined;
    for (let i = 0; i < 70_000; i++) last = AppliedRules.NONE.then(`bound-${i}`);
    expect(last!.ids).toEqual(['bound-69999']);
    expect(AppliedRules.NONE.then('bound-69999')).not.toBe(last);
    expect(AppliedRules.NONE.then('bound-69999').ids).toEqual(['bound-69999']);
  });
});
