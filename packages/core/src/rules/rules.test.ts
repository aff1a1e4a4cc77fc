import { describe, expect, it } from 'vitest';
import { PolicyAction } from '../actions.js';
import { PolicyEngine } from '../engine.js';
import { PolicyViolation, ViolationCode } from '../errors.js';
import { decisionIdTime, isDecisionId, newDecisionId } from '../events/decision-id.js';
import { MemoryStore } from '../memory/memory-store.js';
import { parseDocumentText, PolicyDocumentError, type PolicyDocument } from './document.js';

const b = (s: string) => Buffer.from(s);

function setup(options: ConstructorParameters<typeof PolicyEngine>[1] = {}) {
  const now = 1_700_000_000_000;
  const store = new MemoryStore();
  const policy = new PolicyEngine(store, { clock: () => now, ...options });
  return { store, policy, raw: async (k: string) => (await store.get(b(k)))?.toString() ?? null };
}

async function violation(p: Promise<unknown>): Promise<PolicyViolation> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PolicyViolation);
  return error as PolicyViolation;
}

function doc(rules: PolicyDocument['rules'], extra: Partial<PolicyDocument> = {}): PolicyDocument {
  return { version: 1, rules, ...extra };
}

function issuesOf(fn: () => unknown): PolicyDocumentError['issues'] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyDocumentError);
    return (error as PolicyDocumentError).issues;
  }
  throw new Error('expected a PolicyDocumentError');
}

describe('policy documents: validation', () => {
  it('refuses a document with the rule id, the field and the YAML line and column of each error', () => {
    const text = [
      'version: 1',
      'rules:',
      '  - id: ok',
      '    trigger: before_write',
      '    pattern: "system/*"',
      '    effect: deny',
      '  - id: bad-effect',
      '    trigger: before_write',
      '    pattern: "a/*"',
      '    effect: explode',
      '',
    ].join('\n');
    const { policy } = setup();
    const issues = issuesOf(() => policy.load(parseDocumentText(text, { file: 'p.yaml' })));
    expect(issues).toEqual([expect.objectContaining({ file: 'p.yaml', ruleId: 'bad-effect', field: '/rules/1/effect', line: 10, column: 13 })]);
    expect(policy.rules).toEqual([]); // nothing of it loaded
  });

  it('refuses a condition that does not compile, naming the rule and the position', () => {
    const text = ['version: 1', 'rules:', '  - id: c1', '    trigger: before_write', '    pattern: "**"', '    effect: deny', '    condition: "context.agent_id == "', ''].join('\n');
    const issues = issuesOf(() => setup().policy.load(parseDocumentText(text, { file: 'c.yaml' })));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ ruleId: 'c1', field: '/rules/0/condition', line: 7 });
    expect(issues[0]!.column).toBeGreaterThan(16);
    expect(issues[0]!.message).toMatch(/offset/);
  });

  it('refuses a condition that is not of type bool, an unknown variable, a bad pattern, a missing handler, duplicate ids', () => {
    const issues = issuesOf(() =>
      setup().policy.load(
        doc([
          { id: 'a', trigger: 'before_write', pattern: '**', effect: 'deny', condition: 'key' },
          { id: 'b', trigger: 'before_write', pattern: '**', effect: 'deny', condition: 'agent == "x"' },
          { id: 'c', trigger: 'before_write', pattern: './a/*', effect: 'deny' },
          { id: 'd', trigger: 'before_write', pattern: '**', effect: 'handler', handler: 'nope' },
          { id: 'd', trigger: 'before_write', pattern: '**', effect: 'allow' },
        ]),
      ),
    );
    expect(issues.map((i) => [i.ruleId, i.field])).toEqual([['d', '/rules/4/id']]); // schema errors first, alone
    const issues2 = issuesOf(() =>
      setup().policy.load(
        doc([
          { id: 'a', trigger: 'before_write', pattern: '**', effect: 'deny', condition: 'key' },
          { id: 'b', trigger: 'before_write', pattern: '**', effect: 'deny', condition: 'agent == "x"' },
          { id: 'c', trigger: 'before_write', pattern: './a/*', effect: 'deny' },
          { id: 'd', trigger: 'before_write', pattern: '**', effect: 'handler', handler: 'nope' },
        ]),
      ),
    );
    expect(issues2.map((i) => [i.ruleId, i.field])).toEqual([
      ['a', '/rules/0/condition'],
      ['b', '/rules/1/condition'],
      ['c', '/rules/2/pattern'],
      ['d', '/rules/3/handler'],
    ]);
  });

  it('refuses unknown fields, a wrong version and a rule id that a code hook already has', () => {
    const { policy } = setup();
    expect(issuesOf(() => policy.load({ version: 2, rulez: [] })).map((i) => i.field)).toEqual(['/rulez', '/version']);
    policy.beforeWrite('x/*', () => PolicyAction.ALLOW, { id: 'taken' });
    expect(issuesOf(() => policy.load(doc([{ id: 'taken', trigger: 'before_write', pattern: '**', effect: 'deny' }])))[0]).toMatchObject({ ruleId: 'taken' });
    expect(() => policy.beforeRead('y', () => undefined, { id: 'taken' })).toThrow(RangeError);
  });

  it('reports JSON syntax errors with a line', () => {
    const issues = issuesOf(() => parseDocumentText('{\n  "version": 1,\n  "rules": [,]\n}', { file: 'p.json' }));
    expect(issues[0]).toMatchObject({ file: 'p.json', line: 3 });
  });
});

describe('policy documents: rules', () => {
  it('runs the seed quick start from data with the same results as the code version', async () => {
    const { policy, raw } = setup();
    policy.load(
      doc([
        { id: 'block-system-writes', trigger: 'before_write', pattern: 'system/*', effect: 'deny', condition: 'has(context.agent_id)' },
        { id: 'redact-emails', trigger: 'after_read', pattern: 'users/*/email', effect: 'redact', replacement: '[REDACTED]', condition: 'has(context.redact_pii)' },
      ]),
    );
    await policy.put('users/alice', 'data', { agent_id: 'agent_001' });
    const e = await violation(policy.put('system/config', 'malicious', { agent_id: 'rogue' }));
    expect(e).toMatchObject({ code: ViolationCode.DENIED, message: 'Write blocked by policy', ruleId: 'block-system-writes', trigger: 'before_write', pattern: 'system/*' });
    expect(isDecisionId(e.decisionId)).toBe(true);
    await policy.put('system/config', 'ok');
    expect(await raw('system/config')).toBe('ok');
    await policy.put('users/alice/email', 'a@x');
    expect((await policy.get('users/alice/email', { redact_pii: '1' }))?.toString()).toBe('[REDACTED]');
    expect((await policy.get('users/alice/email'))?.toString()).toBe('a@x');
  });

  it('a condition that fails at evaluation time fails closed like a throwing handler (H10)', async () => {
    const { policy, raw } = setup();
    policy.load(doc([{ id: 'needs-agent', trigger: 'before_write', pattern: '**', effect: 'allow', condition: 'context.agent_id != ""' }]));
    const e = await violation(policy.put('k', 'v'));
    expect(e).toMatchObject({ code: ViolationCode.HOOK_FAILED, ruleId: 'needs-agent', trigger: 'before_write', pattern: '**' });
    expect(await raw('k')).toBeNull();
    await policy.put('k', 'v', { agent_id: 'a' });
    expect(await raw('k')).toBe('v');
  });

  it('conditions see key, value text, operation and the context', async () => {
    const { policy, raw } = setup();
    policy.load(
      doc([
        { id: 'no-secrets', trigger: 'before_write', pattern: 'notes/*', effect: 'deny', condition: 'value_text.contains("password") && operation == "write" && key.startsWith("notes/")' },
        { id: 'tiny', trigger: 'before_write', pattern: 'tiny/*', effect: 'deny', condition: 'size(value) > 3' },
      ]),
    );
    await violation(policy.put('notes/1', 'my password is x'));
    await policy.put('notes/2', 'hello');
    await violation(policy.put('tiny/1', 'abcd'));
    await policy.put('tiny/2', 'abc');
    expect(await raw('notes/2')).toBe('hello');
    expect(await raw('tiny/2')).toBe('abc');
  });

  it('code hooks and document rules mix; a code hook can have an id', async () => {
    const { policy } = setup();
    policy.beforeWrite('a/*', () => PolicyAction.DENY, { id: 'code-deny' });
    policy.load(doc([{ id: 'doc-deny', trigger: 'before_write', pattern: 'b/*', effect: 'deny' }]));
    expect((await violation(policy.put('a/1', 'x'))).ruleId).toBe('code-deny');
    expect((await violation(policy.put('b/1', 'x'))).ruleId).toBe('doc-deny');
  });

  it('a code handler named by a rule runs with the rule', async () => {
    const { policy, raw } = setup();
    policy.load(doc([{ id: 'upper', trigger: 'before_write', pattern: 'u/*', effect: 'handler', handler: 'upper' }]), {
      handlers: { upper: (ctx) => Buffer.from(ctx.value!.toString().toUpperCase()) },
    });
    await policy.put('u/1', 'abc');
    expect(await raw('u/1')).toBe('ABC');
  });
});

describe('composition', () => {
  const rules: PolicyDocument['rules'] = [
    { id: 'log', trigger: 'before_write', pattern: '**', effect: 'log', priority: 5 },
    { id: 'redact-1', trigger: 'before_write', pattern: 'k/*', effect: 'redact', replacement: 'one', priority: 4 },
    { id: 'redact-2', trigger: 'before_write', pattern: 'k/*', effect: 'redact', replacement: 'two', priority: 3 },
    { id: 'deny-low', trigger: 'before_write', pattern: 'k/d*', effect: 'deny', priority: 1 },
  ];

  it('first-match: the first MODIFY ends the trigger (registration order, priority first)', async () => {
    const { policy, raw } = setup();
    policy.load(doc(rules, { mode: 'first-match' }));
    await policy.put('k/x', 'v');
    expect(await raw('k/x')).toBe('one');
    await policy.put('k/d1', 'v'); // redact-1 stops before deny-low is reached
    expect(await raw('k/d1')).toBe('one');
  });

  it('deny-overrides: a later deny beats modifications; the last modification wins', async () => {
    const { policy, raw } = setup();
    policy.enableAudit();
    policy.load(doc(rules, { mode: 'deny-overrides' }));
    await policy.put('k/x', 'v');
    expect(await raw('k/x')).toBe('two');
    const e = await violation(policy.put('k/d1', 'v'));
    expect(e.ruleId).toBe('deny-low');
    const entries = await policy.getAuditLog();
    expect(entries.map((x) => [x.result, x.ruleId, x.appliedRules])).toEqual([
      ['allowed', 'redact-2', ['log', 'redact-1', 'redact-2']],
      ['denied', 'deny-low', ['log', 'redact-1', 'redact-2', 'deny-low']],
    ]);
    expect((await policy.getAuditLog({ ruleId: 'deny-low' })).length).toBe(1);
  });

  it('deny-overrides stops at the first deny, by priority', async () => {
    const { policy } = setup();
    const ran: string[] = [];
    policy.load(
      doc(
        [
          { id: 'low', trigger: 'before_write', pattern: '**', effect: 'handler', handler: 'low', priority: 1 },
          { id: 'high-deny', trigger: 'before_write', pattern: '**', effect: 'deny', priority: 10 },
        ],
        { mode: 'deny-overrides' },
      ),
      { handlers: { low: () => void ran.push('low') } },
    );
    expect((await violation(policy.put('a', 'b'))).ruleId).toBe('high-deny');
    expect(ran).toEqual([]);
  });

  it('namespaces: Rust semantics; a namespaced rule applies when the context has no namespace', async () => {
    const { policy, raw } = setup();
    policy.load(doc([{ id: 'prod-deny', trigger: 'before_write', pattern: '**', effect: 'deny', namespace: 'prod' }], { mode: 'deny-overrides' }));
    await violation(policy.put('a', 'x', { namespace: 'prod' }));
    await violation(policy.put('a', 'x'));
    await policy.put('a', 'x', { namespace: 'dev' });
    expect(await raw('a')).toBe('x');
  });

  it('mixing documents with different modes is refused', () => {
    const { policy } = setup();
    policy.load(doc([], { mode: 'deny-overrides' }), { name: 'one' });
    expect(issuesOf(() => policy.load(doc([], { mode: 'first-match' }), { name: 'two' }))[0]!.field).toBe('/mode');
  });
});

describe('deny-by-default', () => {
  it('fails closed on keys no rule allows, and names $default', async () => {
    const { policy, raw } = setup();
    policy.load(doc([{ id: 'allow-users', trigger: 'before_write', pattern: 'users/**', effect: 'allow' }], { default: 'deny' }));
    await policy.put('users/a', 'x');
    expect(await raw('users/a')).toBe('x');
    const e = await violation(policy.put('other', 'x'));
    expect(e).toMatchObject({ code: ViolationCode.DENIED, ruleId: '$default' });
    await violation(policy.get('users/a')); // no before_read allow
  });

  it('a hook that returns nothing does not allow; one that returns ALLOW does', async () => {
    const { policy } = setup({ defaultDeny: true });
    policy.beforeWrite('quiet/*', () => undefined);
    policy.beforeWrite('loud/*', () => PolicyAction.ALLOW, { id: 'loud' });
    await violation(policy.put('quiet/1', 'x'));
    await policy.put('loud/1', 'x');
  });

  it('a namespaced allow grants only to contexts naming that namespace', async () => {
    const { policy } = setup({ defaultDeny: true });
    policy.load(doc([{ id: 'team-a', trigger: 'before_write', pattern: '**', effect: 'allow', namespace: 'a' }]));
    await policy.put('k', 'x', { namespace: 'a' });
    await violation(policy.put('k', 'x'));
    await violation(policy.put('k', 'x', { namespace: 'b' }));
  });
});

describe('shadow mode', () => {
  it('a rule with enforce: false is recorded, not enforced', async () => {
    const { policy, raw } = setup();
    policy.enableAudit();
    policy.load(doc([{ id: 'strict', trigger: 'before_write', pattern: 'system/*', effect: 'deny', enforce: false }]));
    await policy.put('system/x', 'v', { agent_id: 'a' });
    expect(await raw('system/x')).toBe('v');
    await policy.put('other', 'v');
    const [hit, miss] = await policy.getAuditLog();
    expect(hit).toMatchObject({ result: 'allowed', shadowRuleId: 'strict', shadowAction: 'deny', ruleId: null, appliedRules: [] });
    expect(miss!.shadowRuleId).toBeUndefined();
  });

  it('a shadow rule whose condition fails does not fail the operation', async () => {
    const { policy, raw } = setup();
    policy.enableAudit();
    policy.load(doc([{ id: 'strict', trigger: 'before_write', pattern: '**', effect: 'deny', enforce: false, condition: 'context.x == "1"' }]));
    await policy.put('k', 'v');
    expect(await raw('k')).toBe('v');
    expect((await policy.getAuditLog())[0]).toMatchObject({ shadowRuleId: 'strict', shadowAction: 'error' });
  });
});

describe('decision ids', () => {
  it('are UUIDv7, strictly increasing within a process, and carry the time', () => {
    const ids = Array.from({ length: 5000 }, () => newDecisionId(1_700_000_000_000));
    expect(ids.every(isDecisionId)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(decisionIdTime(newDecisionId(Date.now() + 10_000))).toBeGreaterThanOrEqual(1_700_000_000_000);
  });

  it('appear in the audit entry and in the violation of the same operation', async () => {
    const { policy } = setup();
    policy.enableAudit();
    policy.beforeWrite('system/*', () => PolicyAction.DENY, { id: 'sys' });
    const e = await violation(policy.put('system/a', 'x'));
    await policy.put('ok', 'x');
    const [denied, allowed] = await policy.getAuditLog();
    expect(denied!.decisionId).toBe(e.decisionId);
    expect(denied!.ruleId).toBe('sys');
    expect(allowed!.decisionId! > denied!.decisionId!).toBe(true);
    expect(allowed!.ruleId).toBeNull();
  });

  it('are unique across processes', async () => {
    const { execFileSync } = await import('node:child_process');
    const script = `import('${new URL('../events/decision-id.ts', import.meta.url).pathname}').then(m => console.log(JSON.stringify(Array.from({length: 200}, () => m.newDecisionId(1700000000000)))))`;
    const run = () => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' })) as string[];
    const a = run();
    const b2 = run();
    expect(new Set([...a, ...b2]).size).toBe(400);
  });
});

describe('evaluate (dry run)', () => {
  it('answers without storage, tokens or audit, with every rule checked', async () => {
    const store = new MemoryStore();
    let calls = 0;
    const counting = new Proxy(store, { get: (t, p) => (typeof (t as never)[p] === 'function' ? (...a: unknown[]) => (calls++, (t as never as Record<string | symbol, (...x: unknown[]) => unknown>)[p]!(...a)) : (t as never)[p]) });
    const policy = new PolicyEngine(counting, { clock: () => 1_700_000_000_000 });
    policy.enableAudit();
    policy.addRateLimit('write', { maxPerMinute: 1, scope: 'agent_id' });
    policy.load(
      doc([
        { id: 'sys', trigger: 'before_write', pattern: 'system/*', effect: 'deny', condition: 'has(context.agent_id)', priority: 2 },
        { id: 'other', trigger: 'before_write', pattern: 'users/*', effect: 'deny' },
        { id: 'shadow', trigger: 'before_write', pattern: '**', effect: 'deny', enforce: false, priority: 9 },
      ]),
    );
    const answer = await policy.evaluate('write', 'system/config', { context: { agent_id: 'a' }, value: 'x' });
    expect(answer).toMatchObject({
      type: 'success',
      action: 'deny',
      allowed: false,
      reason: [{ id: 'sys', trigger: 'before_write', pattern: 'system/*' }],
      appliedRules: ['sys'],
      shadow: { ruleId: 'shadow', action: 'deny' },
      rateLimit: { status: 'admitted', remaining: 0 },
    });
    expect(answer.rules.map((r) => [r.id, r.patternMatched, r.conditionMatched, r.outcome])).toEqual([
      ['shadow', true, null, 'deny'],
      ['sys', true, true, 'deny'],
      ['other', false, null, null],
    ]);
    // Nothing was charged: the one token is still there, twice over.
    expect((await policy.evaluate('write', 'a', { context: { agent_id: 'a' } })).rateLimit.status).toBe('admitted');
    await policy.put('a', 'x', { agent_id: 'a' });
    expect((await policy.evaluate('write', 'a', { context: { agent_id: 'a' } })).rateLimit).toMatchObject({ status: 'limited' });
    expect(calls).toBe(1); // the put only
    expect((await policy.getAuditLog()).length).toBe(1);
  });

  it('reports a failing condition as an error and a deny; unknown rate limits without peek', async () => {
    const policy = new PolicyEngine(new MemoryStore(), { rateLimitStore: { consume: () => ({ allowed: true, remaining: 1, retryAfterMs: 0 }) } });
    policy.addRateLimit('read', 5);
    policy.load(doc([{ id: 'c', trigger: 'before_read', pattern: '**', effect: 'allow', condition: 'context.agent_id == "x"' }]));
    const answer = await policy.evaluate('read', 'k');
    expect(answer).toMatchObject({ allowed: false, errors: [{ ruleId: 'c', code: 'hook_failed' }], rateLimit: { status: 'unknown' } });
  });
});

describe('reloading a document by name', () => {
  it('swaps rules atomically; an invalid document keeps the last good set', async () => {
    const { policy, raw } = setup();
    policy.load(doc([{ id: 'r', trigger: 'before_write', pattern: 'a', effect: 'deny' }]), { name: 'main' });
    await violation(policy.put('a', 'x'));
    policy.load(doc([{ id: 'r', trigger: 'before_write', pattern: 'b', effect: 'deny' }]), { name: 'main' });
    await policy.put('a', 'x');
    expect(await raw('a')).toBe('x');
    expect(() => policy.load({ version: 1, rules: [{ id: 'r' }] }, { name: 'main' })).toThrow(PolicyDocumentError);
    await violation(policy.put('b', 'x'));
  });

  it('an operation in flight finishes with the rules it started with', async () => {
    const { policy, raw } = setup();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    policy.load(doc([{ id: 'slow', trigger: 'before_write', pattern: '**', effect: 'handler', handler: 'slow' }, { id: 'late', trigger: 'after_write', pattern: '**', effect: 'log' }]), {
      name: 'main',
      handlers: { slow: () => gate.then(() => PolicyAction.ALLOW) },
    });
    const pending = policy.put('k', 'v');
    policy.load(doc([{ id: 'deny-all', trigger: 'before_write', pattern: '**', effect: 'deny' }]), { name: 'main' });
    release();
    await pending;
    expect(await raw('k')).toBe('v');
    await violation(policy.put('k2', 'v'));
  });
});
