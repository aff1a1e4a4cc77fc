import { readFile } from 'node:fs/promises';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { describe } from '../bytes.js';
import { COMPOSITION_MODES, RULE_EFFECTS, RULE_ID_PATTERN, TRIGGERS } from './schema.js';

/** Rules as data (docs/policy-documents.md). Names are snake_case: documents cross languages. */
export interface PolicyDocument {
  version: 1;
  /** @default 'first-match' */
  mode?: CompositionMode;
  /** `'deny'`: an operation that no rule allows fails closed. @default 'allow' */
  default?: 'allow' | 'deny';
  rules?: RuleSpec[];
  rate_limits?: { operation: 'read' | 'write' | 'delete' | 'all'; max_per_minute: number; scope?: string }[];
  audit?: { enabled?: boolean; max_entries?: number };
}

export type CompositionMode = (typeof COMPOSITION_MODES)[number];
export type RuleEffect = (typeof RULE_EFFECTS)[number];

/** One rule. Maps to SochDB's `PolicyRule` messages: see docs/policy-documents.md. */
export interface RuleSpec {
  id: string;
  description?: string;
  trigger: (typeof TRIGGERS)[number];
  pattern: string;
  /** Higher first. @default 0 */
  priority?: number;
  namespace?: string;
  effect: RuleEffect;
  /** For `redact`. */
  replacement?: string;
  /** For `handler`: the name of a handler given to `load`. */
  handler?: string;
  /** A CEL expression of type bool. */
  condition?: string;
  /** @default true */
  enforce?: boolean;
}

/** One problem in a document: where (file, rule id, field, line and column) and what. */
export interface DocumentIssue {
  file?: string;
  ruleId?: string;
  /** The field as a JSON pointer path, such as `/rules/2/condition`. */
  field: string;
  message: string;
  /** 1-based, when the document came from text. */
  line?: number;
  column?: number;
}

/** A document that failed to parse, validate or compile: nothing of it was loaded. */
export class PolicyDocumentError extends Error {
  override readonly name = 'PolicyDocumentError';
  readonly code = 'invalid_policy';
  constructor(readonly issues: readonly DocumentIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
}

export function formatIssue(i: DocumentIssue): string {
  const where = [i.file ?? '<document>', i.line === undefined ? '' : `:${i.line}:${i.column ?? 1}`].join('');
  return `${where}: ${i.ruleId === undefined ? '' : `rule ${i.ruleId}: `}${i.field || '/'}: ${i.message}`;
}

export type DocumentFormat = 'json' | 'yaml';

/** A document read from text, with a way back from a field to its line and column. */
export interface ParsedDocument {
  document: unknown;
  file: string | undefined;
  /** Line and column (1-based) of the value at `path`, as far as it can be found. */
  position(path: readonly (string | number)[], offset?: number): { line: number; column: number } | undefined;
}

/** The format a file name implies: `.json` is JSON, anything else YAML (JSON is valid YAML too). */
export function formatOf(file: string | undefined, text: string): DocumentFormat {
  if (file !== undefined) return /\.json$/i.test(file) ? 'json' : 'yaml';
  return /^\s*\{/.test(text) ? 'json' : 'yaml';
}

/** Parses JSON or YAML text; a syntax error is a {@link PolicyDocumentError} with its position. */
export function parseDocumentText(text: string, options: { file?: string; format?: DocumentFormat } = {}): ParsedDocument {
  if (typeof text !== 'string') throw new TypeError(`text must be a string, got ${describe(text)}`);
  const { file } = options;
  const format = options.format ?? formatOf(file, text);
  const lines = new LineCounter();
  // YAML also gives JSON its positions: JSON is a subset of YAML 1.2.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, version: '1.2' });
  if (doc.errors.length > 0) {
    throw new PolicyDocumentError(
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return { file, field: '', message: e.message.split('\n')[0]!, line: pos.line, column: pos.col };
      }),
    );
  }
  let document: unknown;
  if (format === 'json') {
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw new PolicyDocumentError([{ file, field: '', message: (error as Error).message }]);
    }
  } else {
    document = doc.toJS({ maxAliasCount: 100 });
  }
  return {
    document,
    file,
    position(path, offset = 0) {
      let node: unknown = doc.contents;
      let key: unknown;
      for (const p of path) {
        if (isMap(node)) {
          const pair = node.items.find((item) => (item.key as { value?: unknown })?.value === p);
          key = pair?.key;
          node = pair?.value;
        } else if (isSeq(node)) {
          key = undefined;
          node = node.items[p as number];
        } else break;
        if (node === undefined) break;
      }
      const range = ((node ?? key) as YamlNode | undefined)?.range;
      if (range === undefined || range === null) return undefined;
      // A quoted scalar's text starts one character after its node.
      const quoted = (node as { type?: string } | undefined)?.type?.startsWith('QUOTE') === true ? 1 : 0;
      const at = lines.linePos(range[0] + (offset > 0 ? offset + quoted : 0));
      return { line: at.line, column: at.col };
    },
  };
}

/** Reads and parses a document file. */
export async function readDocumentFile(file: string): Promise<ParsedDocument> {
  return parseDocumentText(await readFile(file, 'utf8'), { file });
}

const ID = new RegExp(RULE_ID_PATTERN);
const RULE_FIELDS = new Set(['id', 'description', 'trigger', 'pattern', 'priority', 'namespace', 'effect', 'replacement', 'handler', 'condition', 'enforce']);
const TOP_FIELDS = new Set(['$schema', 'version', 'mode', 'default', 'rules', 'rate_limits', 'audit']);

type Issue = { path: (string | number)[]; message: string; ruleId?: string };

/**
 * Checks a document against the schema (./schema.ts), field by field. Returns the problems
 * found, each with its path and, inside a rule, the rule's id; an empty list means valid.
 */
export function validateDocument(input: unknown): Issue[] {
  const issues: Issue[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(input)) return [{ path: [], message: `a document must be an object, got ${describe(input)}` }];
  for (const k of Object.keys(input)) if (!TOP_FIELDS.has(k)) issues.push({ path: [k], message: `unknown field ${JSON.stringify(k)}` });
  if (input.version !== 1) issues.push({ path: ['version'], message: `version must be 1, got ${describe(input.version)}` });
  if (input.mode !== undefined && !COMPOSITION_MODES.includes(input.mode as CompositionMode)) {
    issues.push({ path: ['mode'], message: `mode must be one of ${COMPOSITION_MODES.join(', ')}, got ${describe(input.mode)}` });
  }
  if (input.default !== undefined && input.default !== 'allow' && input.default !== 'deny') {
    issues.push({ path: ['default'], message: `default must be 'allow' or 'deny', got ${describe(input.default)}` });
  }
  if (input.rules !== undefined) {
    if (!Array.isArray(input.rules)) issues.push({ path: ['rules'], message: 'rules must be an array' });
    else {
      const seen = new Set<string>();
      input.rules.forEach((rule: unknown, i: number) => {
        const at = (field?: string): (string | number)[] => (field === undefined ? ['rules', i] : ['rules', i, field]);
        if (!isObj(rule)) return issues.push({ path: at(), message: `a rule must be an object, got ${describe(rule)}` });
        const ruleId = typeof rule.id === 'string' ? rule.id : undefined;
        const add = (field: string | undefined, message: string) => issues.push({ path: at(field), message, ruleId });
        for (const k of Object.keys(rule)) if (!RULE_FIELDS.has(k)) add(k, `unknown field ${JSON.stringify(k)}`);
        if (ruleId === undefined || !ID.test(ruleId)) add('id', `id must match ${RULE_ID_PATTERN}, got ${describe(rule.id)}`);
        else if (seen.has(ruleId)) add('id', `duplicate rule id ${JSON.stringify(ruleId)}`);
        else seen.add(ruleId);
        if (rule.description !== undefined && typeof rule.description !== 'string') add('description', 'description must be a string');
        if (!TRIGGERS.includes(rule.trigger as never)) add('trigger', `trigger must be one of ${TRIGGERS.join(', ')}, got ${describe(rule.trigger)}`);
        if (typeof rule.pattern !== 'string' || rule.pattern === '') add('pattern', `pattern must be a non-empty string, got ${describe(rule.pattern)}`);
        if (rule.priority !== undefined && !Number.isSafeInteger(rule.priority)) add('priority', `priority must be an integer, got ${describe(rule.priority)}`);
        if (rule.namespace !== undefined && (typeof rule.namespace !== 'string' || rule.namespace === '')) add('namespace', 'namespace must be a non-empty string');
        if (!RULE_EFFECTS.includes(rule.effect as RuleEffect)) add('effect', `effect must be one of ${RULE_EFFECTS.join(', ')}, got ${describe(rule.effect)}`);
        if (rule.effect === 'redact' && typeof rule.replacement !== 'string') add('replacement', "effect 'redact' needs a replacement string");
        if (rule.effect !== 'redact' && rule.replacement !== undefined) add('replacement', "replacement is for effect 'redact'");
        if (rule.effect === 'handler' && (typeof rule.handler !== 'string' || rule.handler === '')) add('handler', "effect 'handler' needs a handler name");
        if (rule.effect !== 'handler' && rule.handler !== undefined) add('handler', "handler is for effect 'handler'");
        if (rule.condition !== undefined && (typeof rule.condition !== 'string' || rule.condition.trim() === '')) add('condition', 'condition must be a non-empty CEL expression');
        if (rule.enforce !== undefined && typeof rule.enforce !== 'boolean') add('enforce', 'enforce must be a boolean');
      });
    }
  }
  if (input.rate_limits !== undefined) {
    if (!Array.isArray(input.rate_limits)) issues.push({ path: ['rate_limits'], message: 'rate_limits must be an array' });
    else
      input.rate_limits.forEach((limit: unknown, i: number) => {
        if (!isObj(limit)) return issues.push({ path: ['rate_limits', i], message: 'a rate limit must be an object' });
        for (const k of Object.keys(limit)) {
          if (k !== 'operation' && k !== 'max_per_minute' && k !== 'scope') issues.push({ path: ['rate_limits', i, k], message: `unknown field ${JSON.stringify(k)}` });
        }
        if (!['read', 'write', 'delete', 'all'].includes(limit.operation as string)) {
          issues.push({ path: ['rate_limits', i, 'operation'], message: `operation must be read, write, delete or all, got ${describe(limit.operation)}` });
        }
        if (typeof limit.max_per_minute !== 'number' || !(limit.max_per_minute > 0)) {
          issues.push({ path: ['rate_limits', i, 'max_per_minute'], message: `max_per_minute must be a positive number, got ${describe(limit.max_per_minute)}` });
        }
        if (limit.scope !== undefined && (typeof limit.scope !== 'string' || limit.scope === '')) {
          issues.push({ path: ['rate_limits', i, 'scope'], message: 'scope must be a non-empty string' });
        }
      });
  }
  if (input.audit !== undefined) {
    if (!isObj(input.audit)) issues.push({ path: ['audit'], message: 'audit must be an object' });
    else {
      for (const k of Object.keys(input.audit)) {
        if (k !== 'enabled' && k !== 'max_entries') issues.push({ path: ['audit', k], message: `unknown field ${JSON.stringify(k)}` });
      }
      if (input.audit.enabled !== undefined && typeof input.audit.enabled !== 'boolean') issues.push({ path: ['audit', 'enabled'], message: 'enabled must be a boolean' });
      const max = input.audit.max_entries;
      if (max !== undefined && !(Number.isSafeInteger(max) && (max as number) >= 1)) issues.push({ path: ['audit', 'max_entries'], message: 'max_entries must be a positive integer' });
    }
  }
  return issues;
}

export function pointer(path: readonly (string | number)[]): string {
  return path.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}
