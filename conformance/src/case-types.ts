/**
 * The shape of conformance/cases/*.json, as TypeScript types. The JSON Schema in
 * conformance/schema/case-file.schema.json is the normative description; README.md explains
 * every field. Names are snake_case because the files are read by runners in any language.
 */

/** UTF-8 text, or raw bytes as hex or base64 when they are not valid UTF-8 (rule P7). */
export type BytesSpec = string | { hex: string } | { base64: string };

export type Action = 'allow' | 'deny' | 'modify' | 'log';
export type Trigger = 'before_write' | 'after_write' | 'before_read' | 'after_read' | 'before_delete' | 'after_delete';
export type HelperName = 'deny_all' | 'allow_all' | 'require_agent_id' | 'redact_value' | 'log_and_allow';

export type Condition = { context: string; is: 'present' | 'absent' } | { context: string; equals: string };

/** A declarative handler: exactly one behaviour, optionally recording its calls. */
export type HandlerSpec = { record?: string } & (
  | { return: Action | null }
  | { return_bytes: BytesSpec }
  | { return_input: true }
  | { set_modified: BytesSpec | null }
  | { if: Condition; then: HandlerSpec; else?: HandlerSpec }
  | { helper: HelperName; args?: BytesSpec[] }
  | { throw: string }
  | { return_invalid: true }
  | { async: HandlerSpec }
);

export interface HookSpec {
  trigger: Trigger;
  pattern: string;
  handler: HandlerSpec;
}

export interface RateLimitSpec {
  operation: string;
  max_per_minute: number;
  scope?: string;
}

export type AuditSetup = boolean | { max_entries: number };

export interface Setup {
  /** Storage contents before the first step, written past the engine. */
  data?: { key: BytesSpec; value: BytesSpec }[];
  hooks?: HookSpec[];
  rate_limits?: RateLimitSpec[];
  /** Off when absent or false (rule A1); true enables with the default size. */
  audit?: AuditSetup;
}

export interface ViolationExpectation {
  code: 'denied' | 'rate_limited' | 'hook_failed' | 'limiter_unavailable' | 'audit_unavailable';
  /** The seed SDKs' message (rule E1), where they have one. */
  message?: string;
}

/** A recorded handler call: its name, or its name with what it saw. */
export type CallExpectation = string | { name: string; key?: BytesSpec; value?: BytesSpec | null };

/** What a step must produce: exactly one of ok, value, violation, error; plus optional side checks. */
export interface Outcome {
  ok?: true;
  value?: BytesSpec | null;
  violation?: ViolationExpectation;
  /** `TypeError`/`RangeError` for bad arguments; `storage` for the storage's own error (rule E2). */
  error?: 'TypeError' | 'RangeError' | 'storage';
  /** Handlers with `record` that ran during this step, in order. */
  calls?: CallExpectation[];
  /** Lines logged by `log_and_allow` during this step. */
  logs?: string[];
}

export interface AuditEntryExpectation {
  operation: 'read' | 'write' | 'delete';
  key: string;
  agent_id: string | null;
  session_id: string | null;
  result: 'allowed' | 'denied' | 'rate_limited' | 'redacted' | 'error';
}

export interface AuditQuerySpec {
  limit?: number;
  agent_id?: string;
  operation?: string;
}

export type Context = Record<string, unknown>;

export type Step =
  | { op: 'put'; key: BytesSpec; value: BytesSpec; context?: Context; expect: Outcome }
  | { op: 'get'; key: BytesSpec; context?: Context; expect: Outcome }
  | { op: 'delete'; key: BytesSpec; context?: Context; expect: Outcome }
  | { op: 'raw_get'; key: BytesSpec; expect: { value: BytesSpec | null } }
  | { op: 'advance_clock'; ms: number }
  | { op: 'audit'; query?: AuditQuerySpec; expect: { entries: AuditEntryExpectation[] } | Outcome }
  | ({ op: 'hook'; expect?: Outcome } & HookSpec)
  | ({ op: 'add_rate_limit'; expect?: Outcome } & RateLimitSpec)
  | { op: 'enable_audit'; max_entries?: number; expect?: Outcome }
  | { op: 'disable_audit' }
  | { op: 'close_storage' };

export interface Case {
  id: string;
  description: string;
  rules: string[];
  setup?: Setup;
  steps: Step[];
}

export interface PatternRow {
  id: string;
  rules: string[];
  pattern: string;
  key: BytesSpec;
  /** Whether a hook on `pattern` runs for `key`. */
  matches?: boolean;
  /** Instead of `matches`: registering a hook with `pattern` must fail with this error. */
  error?: 'TypeError' | 'RangeError';
  note?: string;
}

export type Sdk = 'python' | 'go' | 'rust' | 'node';
export const SDKS: readonly Sdk[] = ['python', 'go', 'rust', 'node'];

/** Per reference SDK: case id → one-line reason citing a rule id. */
export type Divergences = Partial<Record<Sdk, Record<string, string>>>;

export interface CaseFile {
  area: string;
  description: string;
  divergences?: Divergences;
  cases?: Case[];
  table?: PatternRow[];
}

/** A case file as loaded: its path, and the pattern table turned into cases. */
export interface LoadedFile {
  file: string;
  data: CaseFile;
  cases: Case[];
}
