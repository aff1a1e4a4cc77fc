#!/usr/bin/env node
/**
 * `sochdb-policy`: check, test and explain policy documents (docs/policy-documents.md, "CLI").
 * Exit codes: 0 all good, 1 a document or test failed, 2 bad usage.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { OPERATIONS, type Operation } from '../actions.js';
import { PolicyEngine } from '../engine.js';
import { PolicyViolation } from '../errors.js';
import { MemoryStore } from '../memory/memory-store.js';
import type { PolicyHandler } from '../hooks/handler.js';
import { formatIssue, parseDocumentText, PolicyDocumentError, readDocumentFile, type ParsedDocument } from './document.js';
import { policyDocumentSchema } from './schema.js';
import type { EvaluationAnswer } from './explain.js';

const USAGE = `usage:
  sochdb-policy check FILE...                          validate documents (schema, patterns, CEL)
  sochdb-policy test FILE... --tests TESTS...          run policy tests (like opa test)
  sochdb-policy explain FILE... --op write --key K [--context k=v]... [--value V] [--trigger T] [--json]
  sochdb-policy schema                                 print the document JSON Schema`;

class Usage extends Error {}

/** Handlers named by `effect: handler` rules: the CLI has no application code, so they answer nothing. */
function stubHandlers(parsed: ParsedDocument): Record<string, PolicyHandler> {
  const out: Record<string, PolicyHandler> = {};
  const rules = (parsed.document as { rules?: { handler?: unknown }[] } | null)?.rules;
  if (Array.isArray(rules)) for (const r of rules) if (typeof r?.handler === 'string') out[r.handler] = () => undefined;
  return out;
}

async function engineFor(files: string[], write: (s: string) => void): Promise<PolicyEngine | undefined> {
  const policy = new PolicyEngine(new MemoryStore());
  let failed = false;
  for (const file of files) {
    try {
      const parsed = await readDocumentFile(file);
      policy.load(parsed, { name: file, handlers: stubHandlers(parsed) });
    } catch (error) {
      failed = true;
      if (error instanceof PolicyDocumentError) for (const issue of error.issues) write(formatIssue(issue));
      else write(`${file}: ${(error as Error).message}`);
    }
  }
  return failed ? undefined : policy;
}

async function check(files: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  if (files.length === 0) throw new Usage('check needs at least one FILE');
  let bad = 0;
  for (const file of files) {
    const policy = await engineFor([file], err);
    if (policy === undefined) bad++;
    else out(`${file}: ok (${policy.rules.length} rules)`);
  }
  return bad === 0 ? 0 : 1;
}

function contextOf(pairs: string[] | undefined): Record<string, string> {
  const context: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Usage(`--context takes key=value, got ${JSON.stringify(pair)}`);
    context[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return context;
}

function human(a: EvaluationAnswer): string {
  const lines = [
    `${a.operation} ${JSON.stringify(a.key)} (${a.trigger}, ${a.composition}${a.defaultDeny ? ', deny-by-default' : ''})`,
    `  decision: ${a.allowed ? 'ALLOWED' : 'DENIED'} (action ${a.action})${a.reason.length ? ` by rule ${a.reason[0]!.id} (${a.reason[0]!.pattern})` : ''}`,
    `  decision id: ${a.decisionId}`,
  ];
  if (a.value !== undefined) lines.push(`  value: ${JSON.stringify(a.value)}`);
  if (a.shadow) lines.push(`  shadow: rule ${a.shadow.ruleId} would ${a.shadow.action}`);
  lines.push(`  rate limits: ${a.rateLimit.status}`);
  lines.push('  rules checked:');
  for (const r of a.rules) {
    const cond = r.conditionMatched === null ? '' : ` condition=${r.conditionMatched}`;
    const ns = r.namespaceMatched === null ? '' : ` namespace=${r.namespaceMatched}`;
    const mark = r.applied ? '*' : r.patternMatched ? '~' : ' ';
    lines.push(`   ${mark} ${r.id} [p${r.priority}${r.enforce ? '' : ', shadow'}] ${r.pattern}: pattern=${r.patternMatched}${ns}${cond}${r.outcome ? ` -> ${r.outcome}` : ''}${r.error ? ` ERROR ${r.error}` : ''}`);
  }
  for (const e of a.errors) lines.push(`  error: rule ${e.ruleId}: ${e.message}`);
  return lines.join('\n');
}

async function explain(files: string[], values: Record<string, unknown>, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const op = values.op as Operation | undefined;
  if (files.length === 0 || op === undefined || values.key === undefined) throw new Usage('explain needs FILE, --op and --key');
  if (!OPERATIONS.includes(op)) throw new Usage(`--op must be one of ${OPERATIONS.join(', ')}`);
  const policy = await engineFor(files, err);
  if (policy === undefined) return 1;
  const answer = await policy.evaluate(op, values.key as string, {
    context: contextOf(values.context as string[] | undefined),
    value: values.value as string | undefined,
    trigger: values.trigger as never,
  });
  out(values.json ? JSON.stringify(answer, null, 2) : human(answer));
  return 0;
}

interface TestStep {
  op: 'put' | 'get' | 'delete' | 'evaluate';
  operation?: Operation;
  key: string;
  value?: string;
  context?: Record<string, string>;
  expect: { allowed?: boolean; code?: string; rule?: string | null; value?: string | null; action?: string };
}
interface TestCase {
  name: string;
  steps: TestStep[];
}

async function runStep(policy: PolicyEngine, step: TestStep): Promise<string | undefined> {
  const e = step.expect ?? {};
  const mismatch = (what: string, want: unknown, got: unknown) => (want !== undefined && want !== got ? `${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}` : undefined);
  if (step.op === 'evaluate') {
    const a = await policy.evaluate(step.operation ?? 'write', step.key, { context: step.context, value: step.value });
    return mismatch('allowed', e.allowed, a.allowed) ?? mismatch('action', e.action, a.action) ?? mismatch('rule', e.rule, a.reason[0]?.id ?? null);
  }
  let got: { allowed: boolean; code?: string; rule: string | null; value?: string | null };
  try {
    const result =
      step.op === 'put' ? await policy.put(step.key, step.value ?? '', step.context) : step.op === 'get' ? await policy.get(step.key, step.context) : await policy.delete(step.key, step.context);
    const [entry] = await policy.getAuditLog({ limit: 1 });
    got = { allowed: true, rule: entry?.ruleId ?? null, value: step.op === 'get' ? ((result as Buffer | null)?.toString() ?? null) : undefined };
  } catch (error) {
    if (!(error instanceof PolicyViolation)) throw error;
    got = { allowed: false, code: error.code, rule: error.ruleId ?? null };
  }
  return mismatch('allowed', e.allowed, got.allowed) ?? mismatch('code', e.code, got.code) ?? mismatch('rule', e.rule, got.rule) ?? mismatch('value', e.value, got.value);
}

async function test(files: string[], tests: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  if (files.length === 0 || tests.length === 0) throw new Usage('test needs FILE... and --tests TESTS...');
  let passed = 0;
  let failed = 0;
  for (const testFile of tests) {
    const parsed = parseDocumentText(await readFile(testFile, 'utf8'), { file: testFile });
    const cases = (parsed.document as { tests?: TestCase[] })?.tests;
    if (!Array.isArray(cases)) throw new Usage(`${testFile}: a test file holds { tests: [{ name, steps }] }`);
    for (const t of cases) {
      const policy = await engineFor(files, err);
      if (policy === undefined) return 1;
      policy.enableAudit();
      let problem: string | undefined;
      for (const [i, step] of (t.steps ?? []).entries()) {
        try {
          problem = await runStep(policy, step);
        } catch (error) {
          problem = `threw ${(error as Error).message}`;
        }
        if (problem !== undefined) {
          problem = `step ${i + 1} (${step.op} ${step.key}): ${problem}`;
          break;
        }
      }
      if (problem === undefined) {
        passed++;
        out(`PASS ${testFile}: ${t.name}`);
      } else {
        failed++;
        out(`FAIL ${testFile}: ${t.name}\n     ${problem}`);
      }
    }
  }
  out(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

export async function main(argv: string[], out = (s: string) => console.log(s), err = (s: string) => console.error(s)): Promise<number> {
  try {
    const [command, ...rest] = argv;
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        tests: { type: 'string', multiple: true },
        op: { type: 'string' },
        key: { type: 'string' },
        value: { type: 'string' },
        trigger: { type: 'string' },
        context: { type: 'string', multiple: true },
        json: { type: 'boolean' },
      },
    });
    // `--tests a.yaml b.yaml`: files after --tests that parseArgs saw as positionals.
    const tests = [...(values.tests ?? [])];
    let files = positionals;
    if (command === 'test' && tests.length > 0) {
      const at = rest.indexOf('--tests');
      const after = new Set(rest.slice(at + 1));
      tests.push(...positionals.filter((p) => after.has(p) && !tests.includes(p)));
      files = positionals.filter((p) => !tests.includes(p));
    }
    switch (command) {
      case 'check':
        return await check(files, out, err);
      case 'test':
        return await test(files, tests, out, err);
      case 'explain':
        return await explain(files, values, out, err);
      case 'schema':
        out(JSON.stringify(policyDocumentSchema, null, 2));
        return 0;
      default:
        throw new Usage(command === undefined ? 'no command' : `unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof Usage || (error as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')) {
      err(`${(error as Error).message}\n${USAGE}`);
      return 2;
    }
    if (error instanceof PolicyDocumentError) {
      for (const issue of error.issues) err(formatIssue(issue));
      return 1;
    }
    err(String((error as Error)?.stack ?? error));
    return 1;
  }
}

// Run when executed (the bin), not when imported by a test.
if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${(await import('node:fs')).realpathSync(process.argv[1])}`).href) {
  process.exitCode = await main(process.argv.slice(2));
}
