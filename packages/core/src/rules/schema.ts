/**
 * The JSON Schema (2020-12) of a policy document, published with the package
 * (`policyDocumentSchema`, and `sochdb-policy schema` prints it) for editors and CI. The
 * engine validates with {@link validateDocument} in ./document.ts, which follows this schema
 * field for field and reports the rule id and field of each error; a test holds the two
 * together.
 */
export const RULE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$';
export const COMPOSITION_MODES = ['first-match', 'deny-overrides'] as const;
export const RULE_EFFECTS = ['allow', 'deny', 'log', 'redact', 'handler'] as const;
export const TRIGGERS = ['before_write', 'after_write', 'before_read', 'after_read', 'before_delete', 'after_delete'] as const;

export const policyDocumentSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'urn:sochdb-policy:policy-document:1',
  title: 'sochdb-policy policy document',
  description: 'Rules as data for @sochdb-policy/core: see docs/policy-documents.md.',
  type: 'object',
  required: ['version'],
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    version: { const: 1, description: 'Format version of this document.' },
    mode: { enum: [...COMPOSITION_MODES], default: 'first-match', description: 'How the outcomes of rules on one trigger combine.' },
    default: { enum: ['allow', 'deny'], default: 'allow', description: "'deny' makes an operation that no rule allows fail closed." },
    rules: { type: 'array', items: { $ref: '#/$defs/rule' } },
    rate_limits: { type: 'array', items: { $ref: '#/$defs/rateLimit' } },
    audit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: false },
        max_entries: { type: 'integer', minimum: 1 },
      },
    },
  },
  $defs: {
    rule: {
      type: 'object',
      required: ['id', 'trigger', 'pattern', 'effect'],
      additionalProperties: false,
      properties: {
        id: { type: 'string', pattern: RULE_ID_PATTERN, description: 'Unique across every document and code hook of an engine.' },
        description: { type: 'string' },
        trigger: { enum: [...TRIGGERS] },
        pattern: { type: 'string', minLength: 1, description: 'Glob pattern, as for hooks (docs/patterns.md).' },
        priority: { type: 'integer', default: 0, description: 'Higher runs first; equal priorities keep document order.' },
        namespace: { type: 'string', minLength: 1 },
        effect: { enum: [...RULE_EFFECTS] },
        replacement: { type: 'string', description: "For effect 'redact': the bytes (UTF-8) written or returned instead." },
        handler: { type: 'string', minLength: 1, description: "For effect 'handler': the name of a handler given to load()." },
        condition: { type: 'string', minLength: 1, description: 'A CEL expression of type bool; the rule applies only when it is true.' },
        enforce: { type: 'boolean', default: true, description: 'false: evaluated and audited, never enforced (shadow mode).' },
      },
      allOf: [
        { if: { properties: { effect: { const: 'redact' } } }, then: { required: ['replacement'] } },
        { if: { properties: { effect: { const: 'handler' } } }, then: { required: ['handler'] } },
      ],
    },
    rateLimit: {
      type: 'object',
      required: ['operation', 'max_per_minute'],
      additionalProperties: false,
      properties: {
        operation: { enum: ['read', 'write', 'delete', 'all'] },
        max_per_minute: { type: 'number', exclusiveMinimum: 0 },
        scope: { type: 'string', minLength: 1, default: 'global' },
      },
    },
  },
} as const;
