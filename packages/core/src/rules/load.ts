import { PolicyAction, type PolicyTrigger } from '../actions.js';
import { describe, ownBytes } from '../bytes.js';
import { compilePattern } from '../hooks/pattern.js';
import type { PolicyHandler } from '../hooks/handler.js';
import { compileCondition, ConditionError } from './condition.js';
import { pointer, PolicyDocumentError, validateDocument, type CompositionMode, type DocumentIssue, type ParsedDocument, type PolicyDocument, type RuleSpec } from './document.js';
import { STATIC_DECISIONS, type Rule } from './rule.js';

export interface LoadOptions {
  /**
   * Names the document: loading again under the same name replaces it atomically (what
   * `watch` does). @default the file name, or `document-N`
   */
  name?: string;
  /** Code handlers that rules with effect `handler` name. @default {} */
  handlers?: Readonly<Record<string, PolicyHandler>>;
  /** The file the document came from, for error messages. */
  file?: string;
}

/** A document checked and compiled: ready to swap into an engine. */
export interface CompiledDocument {
  readonly name: string;
  readonly mode: CompositionMode | undefined;
  readonly defaultDeny: boolean;
  /** Rules without their registration order yet. */
  readonly rules: readonly Omit<Rule, 'order'>[];
  readonly rateLimits: readonly { operation: string; maxPerMinute: number; scope: string }[];
  readonly audit: { enabled?: boolean; maxEntries?: number } | undefined;
}

/**
 * Validates and compiles a document: schema, patterns, CEL conditions and handler names.
 * Every problem is collected; any problem refuses the whole document.
 */
export function compileDocument(input: unknown, options: LoadOptions & { parsed?: ParsedDocument } = {}): CompiledDocument {
  const { parsed, file = parsed?.file, handlers = {} } = options;
  if (handlers === null || typeof handlers !== 'object') throw new TypeError(`handlers must be an object, got ${describe(handlers)}`);
  const issues: (DocumentIssue & { path: (string | number)[]; offset?: number })[] = validateDocument(input).map((i) => ({
    file,
    ruleId: i.ruleId,
    field: pointer(i.path),
    message: i.message,
    path: i.path,
  }));
  const doc = input as PolicyDocument;
  const rules: Omit<Rule, 'order'>[] = [];
  if (issues.length === 0) {
    (doc.rules ?? []).forEach((spec: RuleSpec, i) => {
      const at = (field: string, message: string, offset?: number) =>
        issues.push({ file, ruleId: spec.id, field: pointer(['rules', i, field]), message, path: ['rules', i, field], offset });
      try {
        compilePattern(spec.pattern);
      } catch (error) {
        at('pattern', (error as Error).message);
      }
      let condition;
      if (spec.condition !== undefined) {
        try {
          condition = compileCondition(spec.condition);
        } catch (error) {
          if (!(error instanceof ConditionError)) throw error;
          at('condition', `${error.message}${error.offset === undefined ? '' : ` (at offset ${error.offset} of the expression)`}`, error.offset);
        }
      }
      let handler: PolicyHandler | undefined;
      if (spec.effect === 'handler') {
        handler = Object.prototype.hasOwnProperty.call(handlers, spec.handler!) ? handlers[spec.handler!] : undefined;
        if (typeof handler !== 'function') at('handler', `no handler named ${JSON.stringify(spec.handler)} was given to load()`);
      }
      rules.push(
        Object.freeze({
          id: spec.id,
          trigger: spec.trigger as PolicyTrigger,
          pattern: spec.pattern,
          priority: spec.priority ?? 0,
          namespace: spec.namespace,
          effect: spec.effect,
          enforce: spec.enforce ?? true,
          condition,
          handler,
          decision:
            spec.effect === 'redact'
              ? Object.freeze({ action: PolicyAction.MODIFY, value: ownBytes(spec.replacement!, 'replacement') })
              : spec.effect === 'handler'
                ? undefined
                : STATIC_DECISIONS[spec.effect],
          description: spec.description,
          source: '',
          plain: false,
        }),
      );
    });
  }
  if (issues.length > 0) {
    throw new PolicyDocumentError(
      issues.map(({ path, offset, ...issue }) => {
        const pos = parsed?.position(path, offset);
        return pos === undefined ? issue : { ...issue, line: pos.line, column: pos.column };
      }),
    );
  }
  return {
    name: options.name ?? file ?? '',
    mode: doc.mode,
    defaultDeny: doc.default === 'deny',
    rules,
    rateLimits: (doc.rate_limits ?? []).map((l) => ({ operation: l.operation, maxPerMinute: l.max_per_minute, scope: l.scope ?? 'global' })),
    audit: doc.audit === undefined ? undefined : { enabled: doc.audit.enabled, maxEntries: doc.audit.max_entries },
  };
}
